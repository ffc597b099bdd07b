"""Rates over the streams the detector's rule can fire on, everywhere they are counted.

A stream shorter than the rule's first detection (``window`` inferences) has 0 false
accepts that measure nothing; emulate --data's overall rate already left its seconds
out. The report's detection curve divided by every stream's seconds, so a short noise
recording lowered every point of the curve (and the chosen point computed from the
manifest) against the rate emulate prints for the same streams.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio import fit
from tinyslm.audio.dataset import AudioDataset, NoiseRecording
from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.stream import StreamFigures, StreamSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from test_audio_fit import _clip, dataset, graded_model  # noqa: F401
from test_audio_stream import tone


def _figures(**changes: object) -> StreamFigures:
    figures = StreamFigures(
        noise_seconds=3.0, noise_false_accepts=0, unknown_seconds=9.0,
        unknown_false_accepts=2, keyword_seconds=20.0, keyword_clips=4, keyword_hits=3,
        keyword_false_accepts=1, per_label=(), threshold_q=51, window=3,
        suppression_ms=1000, stride_ms=400, noise_fires=False,
    )  # fmt: skip
    return replace(figures, **changes)  # type: ignore[arg-type]


def test_firing_leaves_out_the_streams_that_cannot_fire() -> None:
    assert _figures().firing() == ((9.0, 2), (20.0, 1))
    assert _figures(noise_fires=True).firing() == ((3.0, 0), (9.0, 2), (20.0, 1))
    assert _figures(unknown_fires=False, keywords_fire=False).firing() == ()
    # No keyword clips: no keyword stream to count.
    assert _figures(keyword_clips=0).firing() == ((9.0, 2),)


def test_the_curve_divides_by_the_seconds_that_can_fire(dataset: AudioDataset) -> None:  # noqa: F811
    """A 0.5 s noise recording (no room for one inference) beside the keyword and
    unknown-word streams: the curve's rate is theirs alone, as emulate --data's."""
    short = NoiseRecording("short.wav", np.zeros(8000, np.int16), (("test", 0, 8000),))
    # A loud low tone as the unknown word: the stand-in model calls it "low" (false accepts).
    loud = _clip("_unknown_", tone(280.0), 3)
    clips = tuple(loud if c.label == "_unknown_" else c for c in dataset.clips)
    data = replace(dataset, clips=clips, noise=(short,))
    spec = StreamSpec(DetectorSpec(num_labels=4, threshold_q=127))
    material = fit.stream_material(data, "test", spec, graded_model)
    assert material.noise_seconds == pytest.approx(0.5)
    curve = fit.detection_curve(material, spec, step=16)
    assert curve
    counted = material.unknown_seconds + material.keyword_seconds
    some_false_accepts = False
    for q, fa_h, _ in curve:
        f = fit.figures_at(material, spec, q)
        assert not f.noise_fires
        fa = f.unknown_false_accepts + f.keyword_false_accepts
        assert fa_h == round(fa * 3600 / counted, 3), q
        some_false_accepts |= fa > 0
    assert some_false_accepts  # else dividing by the wrong seconds would go unseen


def test_an_off_grid_chosen_point_leaves_out_a_stream_that_cannot_fire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chosen point computed from the manifest counts as the curve does: a noise
    stream whose rate is null (too short to fire) adds neither seconds nor its count."""
    from kws import KWS_FIXTURE, keyword_manifest

    from tinyslm.audio import report as audio_report
    from tinyslm.audio.report import KeywordReportData, render_keyword_report
    from tinyslm.boards import load_boards
    from tinyslm.report_data import tensor_sizes

    mt = {
        "eval_split": "test", "noise_seconds": 9.0, "noise_false_accepts": 0,
        "noise_fa_per_hour": None, "unknown_seconds": 9.0, "unknown_false_accepts": 1,
        "unknown_fa_per_hour": 400.0, "keyword_seconds": 18.0, "keyword_false_accepts": 1,
        "false_rejection_rate": 0.5,
    }  # fmt: skip
    manifest = replace(keyword_manifest(threshold_q=5), metrics=mt)  # 5: off the curve's grid
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    curve = tuple((q, 1.0, 0.5) for q in range(-128, 128, 4))
    seen: list[object] = []
    real = audio_report._curve_svg

    def spy(*args: object) -> tuple[str, str]:
        seen.append(args[2])
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(audio_report, "_curve_svg", spy)
    render_keyword_report(manifest, KeywordReportData(curve, tensor_sizes(blob)), load_boards())
    assert seen == [pytest.approx(2 * 3600 / 27, abs=1e-3)]  # not over 36 s


def test_eval_json_and_table_count_nothing_on_a_stream_that_cannot_fire() -> None:
    """eval --json wrote 0 false accepts for a stream the rule could not fire on, where
    emulate --data --json writes null: a count that measures nothing is null in both."""
    from test_r44_json_figures import _eval_result

    from tinyslm.audio.evaluate import format_keyword_eval

    short = _figures(unknown_fires=False, keywords_fire=False, keyword_false_accepts=0)
    doc = _eval_result("room", 4, short).summary()
    assert doc["noise_false_accepts"] is None
    assert doc["unknown_false_accepts"] is None
    assert doc["keyword_false_accepts"] is None
    assert "n/a in the keyword stream (too short for the rule to fire)" in format_keyword_eval(
        _eval_result("room", 4, short)
    )
    fires = _eval_result("room", 4, _figures(noise_fires=True)).summary()
    assert (fires["noise_false_accepts"], fires["unknown_false_accepts"]) == (0, 2)
    assert fires["keyword_false_accepts"] == 1


def test_eval_prints_trains_unfired_streams_as_its_own() -> None:
    """Train's figure beside eval's: a null rate (train's stream could not fire either)
    printed ``(train: n/a, 0 in 12 s)`` and ``(train: 0)`` beside eval's n/a."""
    from test_r44_json_figures import _eval_result

    from tinyslm.audio.evaluate import format_keyword_eval

    trained = {
        "dataset": "kw", "eval_split": "test", "stream_split": "test", "noise_seconds": 12.1,
        "noise_false_accepts": 0, "noise_fa_per_hour": None, "unknown_seconds": 0.0,
        "unknown_false_accepts": 0, "unknown_fa_per_hour": None, "keyword_clips": 4,
        "keyword_false_accepts": 0, "false_rejection_rate": None,
    }  # fmt: skip
    short = _figures(unknown_fires=False, keywords_fire=False)
    table = format_keyword_eval(_eval_result("room", 4, short, trained=trained))
    assert "n/a (12 s, each stream too short for the rule to fire))" in table
    assert "(no audio)" in table
    assert "0 in 12 s" not in table
    row = next(line for line in table.splitlines() if "in the keyword stream" in line)
    assert row.rstrip().endswith(": n/a)"), row


def test_the_keyword_page_counts_only_the_streams_that_can_fire() -> None:
    """The summary said '0 in 12 s of noise and unknown words, 0 in the keyword stream' of
    streams the rule could not fire on."""
    from kws import KWS_FIXTURE, keyword_manifest

    from tinyslm.audio.report import KeywordReportData, render_keyword_report
    from tinyslm.boards import load_boards
    from tinyslm.report_data import tensor_sizes

    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    data = KeywordReportData((), tensor_sizes(blob))

    def page(**mt: object) -> str:
        base = {
            "eval_split": "test", "noise_seconds": 12.1, "noise_false_accepts": 0,
            "noise_fa_per_hour": None, "unknown_seconds": 9.0, "unknown_false_accepts": 1,
            "unknown_fa_per_hour": 400.0, "keyword_seconds": 18.0, "keyword_clips": 4,
            "keyword_false_accepts": 0, "false_rejection_rate": None,
        }  # fmt: skip
        manifest = replace(keyword_manifest(), metrics={**base, **mt})
        return render_keyword_report(manifest, data, load_boards())

    shown = page()
    # The 9 s are the unknown words' alone: the noise the rule could not fire on is n/a.
    assert (
        "1 in 9 s of unknown words, noise n/a (12 s, each stream too short for the rule to"
        " fire), n/a in the keyword stream" in shown
    )
    none = page(unknown_fa_per_hour=None, unknown_false_accepts=0)
    assert "n/a on noise and unknown words (no stream long enough" in none
    fires = page(noise_fa_per_hour=0.0, false_rejection_rate=0.25, keyword_false_accepts=2)
    assert "1 in 21 s of noise and unknown words, 2 in the keyword stream" in fires
