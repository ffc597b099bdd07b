"""Round 47 (kweval report item 5): the manifest's count of a stream never measured is null.

train recorded false-accept counts (and keyword hits) of 0 for streams the rule could not
fire on (too short, or none), where ``eval --json`` and ``emulate --data --json`` give
null; the manifest now records null, and its readers (info, report, train's summary) take
it, as they take the 0 of an older manifest.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from tinyslm.audio.fit import stream_metrics, summary_rows
from tinyslm.audio.report import KeywordReportData, render_keyword_report
from tinyslm.audio.stream import StreamFigures
from tinyslm.boards import load_boards
from tinyslm.info import format_info, model_info
from tinyslm.manifest import load_model_dir
from tinyslm.report_data import tensor_sizes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import KWS_FIXTURE, keyword_manifest, keyword_model_dir

LABELS = ("_silence_", "_unknown_", "no", "yes")


def _figures(fires: bool) -> StreamFigures:
    return StreamFigures(
        noise_seconds=12.0 if fires else 0.0,
        noise_false_accepts=1 if fires else 0,
        unknown_seconds=9.0 if fires else 4.0,
        unknown_false_accepts=0,
        keyword_seconds=18.0 if fires else 6.5,
        keyword_clips=2,
        keyword_hits=1 if fires else 0,
        keyword_false_accepts=0,
        per_label=((2, 1, 1 if fires else 0), (3, 1, 0)),
        threshold_q=51,
        window=2,
        suppression_ms=1000,
        stride_ms=400,
        noise_fires=fires,
        unknown_fires=fires,
        keywords_fire=fires,
    )


def test_counts_of_streams_that_cannot_fire_are_null() -> None:
    mt = stream_metrics(_figures(False), LABELS)
    for key in ("noise_false_accepts", "unknown_false_accepts", "keyword_false_accepts"):
        assert mt[key] is None, key
    assert mt["keyword_hits"] is None
    measured = stream_metrics(_figures(True), LABELS)
    assert measured["noise_false_accepts"] == 1 and measured["unknown_false_accepts"] == 0
    assert measured["keyword_hits"] == 1 and measured["keyword_false_accepts"] == 0


def _text(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_null_and_zero_counts_both_load_and_read(tmp_path: Path) -> None:
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    base: dict[str, Any] = {"eval_split": "test", "false_rejection_rate": None}
    for name, figures in (("null", stream_metrics(_figures(False), LABELS)), ("zero", None)):
        mt = {**base, **(figures or stream_metrics(_figures(False), LABELS))}
        if figures is None:  # a manifest of before round 47: 0 counts
            mt.update(noise_false_accepts=0, unknown_false_accepts=0,
                      keyword_false_accepts=0, keyword_hits=0)  # fmt: skip
        manifest = dataclasses.replace(keyword_manifest(), metrics=mt)
        folder = keyword_model_dir(tmp_path / name, manifest)
        loaded, _ = load_model_dir(folder)  # the metrics check takes both
        assert loaded.metrics["keyword_hits"] == (None if name == "null" else 0)
        info = model_info(folder)
        assert info.to_dict()["metrics"]["noise_false_accepts"] == (None if name == "null" else 0)
        table = format_info(info)
        assert "None" not in table, table
        rows = dict(summary_rows(loaded))
        assert "None" not in " ".join(rows.values()), rows
        page = render_keyword_report(
            loaded, KeywordReportData((), tensor_sizes(blob)), load_boards()
        )
        assert "None" not in _text(page)
