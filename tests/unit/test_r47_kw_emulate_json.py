"""Round 47: keyword figures that measure nothing are null (n/a), not 0, in every JSON
and text a user reads: ``emulate --data``'s hits of a keyword stream the rule cannot fire
on, its false-accepts line over no audio at all, and ``train --json``'s line limit of a
keyword model (the firmware's 32-byte command limit, not the text default of 256)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.kws import keyword_manifest
from test_r44_json_figures import _data_result, _figures

from tinyslm.emulate.keywords import format_data_result
from tinyslm.info import KWS_MAX_COMMAND
from tinyslm.pipeline import TrainRunResult


def test_hits_of_a_keyword_stream_that_cannot_fire_are_null() -> None:
    figures = _figures(keyword_seconds=1.2, keyword_clips=2, per_label=((4, 2, 0),))
    doc = _data_result(figures).summary()
    assert doc["keyword_hits"] is None
    assert all(v["hits"] is None for v in doc["per_keyword"].values())


def test_hits_of_a_keyword_stream_that_fires_are_counted() -> None:
    figures = _figures(
        keyword_seconds=20.0, keyword_clips=2, keyword_hits=1, per_label=((4, 2, 1),),
        keywords_fire=True,
    )  # fmt: skip
    doc = _data_result(figures).summary()
    assert doc["keyword_hits"] == 1
    assert [v["hits"] for v in doc["per_keyword"].values()] == [1]


def test_false_accepts_over_no_audio_say_so() -> None:
    text = format_data_result(_data_result(_figures(noise_seconds=0.0)), "emulator")
    line = next(x for x in text.splitlines() if x.startswith("false accepts"))
    assert line.startswith("false accepts n/a per hour: no audio to count them over"), line


def test_train_json_gives_a_keyword_model_the_firmwares_line_limit() -> None:
    run = TrainRunResult(Path("m"), keyword_manifest(), 1.0, 1.0, 1.0, 3.0)
    assert run.summary()["max_line"] == KWS_MAX_COMMAND == 32
    text = replace(keyword_manifest(), modality="text", max_line=200)
    assert TrainRunResult(Path("m"), text, 1.0, 1.0, 1.0, 3.0).summary()["max_line"] == 200
