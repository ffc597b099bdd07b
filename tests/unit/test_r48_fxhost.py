"""Round 48, fxhost: one null rule for stream counts, shared sentences, and the keyword
report's untrue statements.

1. ``StreamFigures.counts()`` is the one rule "a count is null where nothing could fire on
   its stream": train's manifest (``stream_metrics``), ``eval --json`` and ``emulate --data
   --json`` all give its values.
2. The report's no-curve note is ``unfired_text``'s sentence (one stream: ``is``).
3. ``eval``'s warning names the clips of a class the model lacks as ``unanswerable_clips``.
4. The report's summary said "1 in 9 s of noise and unknown words" where the rule could
   fire on the unknown words alone (the 9 s were theirs); its curve caption and axis named
   background noise and unknown words a split of keywords alone never had.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tinyslm.audio.dataset import SILENCE, UNKNOWN
from tinyslm.audio.evaluate import KeywordEvalResult, _unanswerable, unanswerable_clips
from tinyslm.audio.fit import stream_metrics, unfired_text
from tinyslm.audio.report import _curve_svg
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.stream import StreamCounts, StreamFigures
from tinyslm.emulate.keywords import KeywordDataResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_r47_kwreport_figures import SHORT, _page, _text

LABELS = ("_silence_", "_unknown_", "no", "yes")
COUNTED = ("noise_false_accepts", "unknown_false_accepts", "keyword_false_accepts")


def _figures(**changes: Any) -> StreamFigures:
    """Noise the rule could not fire on, unknown words it could, a keyword stream of two
    keywords' clips too short for it."""
    figures = StreamFigures(
        noise_seconds=12.0, noise_false_accepts=0, unknown_seconds=9.0,
        unknown_false_accepts=1, keyword_seconds=6.5, keyword_clips=2, keyword_hits=0,
        keyword_false_accepts=0, per_label=((2, 1, 0), (3, 1, 0)), threshold_q=51,
        window=3, suppression_ms=1000, stride_ms=40, noise_fires=False, unknown_fires=True,
        keywords_fire=False,
    )  # fmt: skip
    return replace(figures, **changes)


def _documents(figures: StreamFigures) -> list[dict[str, Any]]:
    """The manifest's, eval --json's and emulate --data --json's figures."""
    evaluated = KeywordEvalResult(
        source="room", split="test", model_sha256="0" * 64, model_bytes=1, arena_bytes=1,
        threshold_q=51, clips=2, correct=0, per_label=(), unknown_words=(), stream=figures,
    )  # fmt: skip
    emulated = KeywordDataResult(
        source="room", split="test", figures=figures, streams=3, parity_streams=3,
        device_detections=0, reference_detections=0, parity_detections=0, errors=(),
        labels=LABELS,
    )  # fmt: skip
    return [stream_metrics(figures, LABELS), evaluated.summary(), emulated.summary()]


# --- 1. one rule for null counts ----------------------------------------------------------


def test_counts_are_null_where_nothing_could_fire() -> None:
    assert _figures().counts() == StreamCounts(
        noise_false_accepts=None,
        unknown_false_accepts=1,
        keyword_false_accepts=None,
        keyword_hits=None,
        per_label=((2, 1, None), (3, 1, None)),
    )
    fires = _figures(noise_fires=True, keywords_fire=True, keyword_hits=1).counts()
    assert (fires.noise_false_accepts, fires.keyword_hits, fires.per_label) == (
        0,
        1,
        ((2, 1, 0), (3, 1, 0)),
    )
    # No keyword clips: no keyword stream, whatever keywords_fire says.
    none = _figures(keyword_clips=0, per_label=(), keywords_fire=True).counts()
    assert none.keyword_false_accepts is None and none.keyword_hits is None


def test_manifest_eval_and_emulate_json_give_the_same_counts() -> None:
    for figures in (
        _figures(),
        _figures(noise_fires=True, keywords_fire=True, keyword_hits=1),
        _figures(unknown_fires=False, keyword_clips=0, per_label=()),
    ):
        counts = figures.counts()
        for doc in _documents(figures):
            for key in COUNTED:
                assert doc[key] == getattr(counts, key), (key, doc)
        manifest, _, emulated = _documents(figures)
        assert manifest["keyword_hits"] == emulated["keyword_hits"] == counts.keyword_hits
        assert [v["hits"] for v in emulated["per_keyword"].values()] == [
            hits for _, _, hits in counts.per_label
        ]


# --- 2. the no-curve note is unfired_text's sentence ---------------------------------------


def test_unfired_text_of_one_stream_says_is() -> None:
    spec = KeywordSpec(stride_frames=49, average=8)
    kinds = ["keywords (6.5 s)"]
    assert " are shorter than the 7.85 s" in unfired_text(kinds, spec, "the val streams")
    one = unfired_text(kinds, spec, "the test stream", verb="is")
    assert one.startswith("the test stream of keywords (6.5 s) is shorter than the 7.85 s")
    text = _text(_page(SHORT))
    assert f"No detection curve: {one}, so no keyword there" in text


# --- 3. eval's warning names the clips as unanswerable_clips does ---------------------------


def test_unanswerable_warning_names_the_clips_as_unanswerable_clips() -> None:
    clips = [SimpleNamespace(label=lb) for lb in ("yes", UNKNOWN, UNKNOWN, SILENCE, "no")]
    (warning,) = _unanswerable(clips, ("no", "yes"))
    assert f"({unanswerable_clips(clips, ('no', 'yes'))}):" in warning
    assert warning.startswith("3 of 5 clips are of a class the model does not have")
    (streamed,) = _unanswerable(clips, ("no", "yes"), clips_scored=False)
    assert "(_silence_ 1): the streams leave them out" in streamed
    assert _unanswerable(clips, LABELS) == () and unanswerable_clips(clips, LABELS) == ""


# --- 4. the report's summary and caption say what was streamed ------------------------------

FIRED = {
    **SHORT, "noise_seconds": 12.1, "unknown_seconds": 9.0, "unknown_false_accepts": 1,
    "unknown_fa_per_hour": 400.0,
}  # fmt: skip


def _summary(metrics: dict[str, Any]) -> str:
    text = _text(_page(metrics))
    found = re.search(r"false accepts \(test streams\) (.*?) MACs per inference", text)
    assert found is not None, text
    return found.group(1)


def test_summary_counts_one_kind_over_its_own_seconds() -> None:
    """The noise the rule could not fire on was counted as heard: '1 in 9 s of noise and
    unknown words', the 9 s the unknown words' alone."""
    assert _summary(FIRED) == (
        "1 in 9 s of unknown words, noise n/a (12 s, each stream too short for the rule to"
        " fire), n/a in the keyword stream"
    )
    noise_only = {
        **FIRED, "noise_fa_per_hour": 0.0, "unknown_fa_per_hour": None,
        "unknown_false_accepts": None, "unknown_seconds": 0.0,
    }  # fmt: skip
    assert _summary(noise_only).startswith("0 in 12 s of noise, unknown words n/a (no audio),")
    both = {**FIRED, "noise_fa_per_hour": 0.0}
    assert _summary(both).startswith("1 in 21 s of noise and unknown words,")


def test_curve_names_only_the_streams_the_split_had() -> None:
    curve = [(q, 0.0, 0.5) for q in range(-128, 128, 4)]
    svg, caption = _curve_svg(curve, 0, 0.0, 0.5, "test", "", (False, False))
    assert "(keywords in a row)" in caption
    assert "noise" not in caption and "unknown words" not in caption
    assert "false accepts per hour (other keywords)" in svg
    svg, caption = _curve_svg(curve, 0, 0.0, 0.5, "test", "", (True, False))
    assert "(background noise; keywords in a row with noise under them)" in caption
    _, caption = _curve_svg(curve, 0, 0.0, 0.5)
    assert (
        "(background noise; unknown words and keywords in a row with noise under them)" in caption
    )


def test_page_of_a_keywords_only_split_names_no_noise_stream() -> None:
    """A split of keywords alone (no _background_noise_, no _unknown_): the caption said
    "background noise; unknown words and keywords in a row with noise under them"."""
    curve = tuple((q, 0.0, 0.5) for q in range(-128, 128, 4))
    mt = {**SHORT, "false_rejection_rate": 0.5, "keyword_seconds": 18.0}
    page = _text(_page(mt, curve, KeywordSpec()))
    assert "streams (keywords in a row), replayed" in page
    assert "background noise" not in page
