"""Round 44, ``--json`` documents and ``eval`` (json hunt): figures the data cannot
measure are n/a and null (keyword ``emulate --data``'s false accepts per hour, its
detection rate, the keyword stream's false accepts), another dataset of the same name
is not like for like (keyword eval: its counts), a copy of the bundled demo set is the
demo set (text eval), a manifest's NaN prints n/a, and keys mean one figure across the
documents (``errors`` a count, ``stream_seconds``, ``detection_rate``, ``modality``).

The committed fixture manifest (tests/fixtures/kws.py) is read; nothing here trains.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tinyslm.audio.evaluate import KeywordEvalResult, format_keyword_eval
from tinyslm.audio.fit import summary_rows as keyword_summary_rows
from tinyslm.audio.stream import StreamFigures
from tinyslm.emulate.keywords import KeywordDataResult, format_data_result
from tinyslm.evaluate import EvalResult, _dataset_differs, format_eval
from tinyslm.pipeline import TrainRunResult
from tinyslm.report import pct
from tinyslm.text.dataset import demo_dataset_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest  # noqa: E402


def _figures(**changes: Any) -> StreamFigures:
    """3 s of noise too short to fire on, no unknown words, no keyword clips."""
    figures = StreamFigures(
        noise_seconds=3.0, noise_false_accepts=0, unknown_seconds=0.0,
        unknown_false_accepts=0, keyword_seconds=0.0, keyword_clips=0, keyword_hits=0,
        keyword_false_accepts=0, per_label=(), threshold_q=51, window=3,
        suppression_ms=1000, stride_ms=40, noise_fires=False, unknown_fires=False,
        keywords_fire=False,
    )  # fmt: skip
    return replace(figures, **changes)


def _data_result(figures: StreamFigures, errors: tuple[str, ...] = ()) -> KeywordDataResult:
    return KeywordDataResult(
        source="room", split="test", figures=figures, streams=3, parity_streams=3,
        device_detections=0, reference_detections=0, parity_detections=0, errors=errors,
        labels=keyword_manifest().labels,
    )  # fmt: skip


# --- 1. emulate --data: false accepts per hour over the streams that can fire -----------


def test_no_stream_that_can_fire_is_no_false_accept_rate() -> None:
    result = _data_result(_figures())
    doc = result.summary()
    assert doc["fa_per_hour"] is None and doc["false_accepts"] is None
    assert doc["fa_seconds"] == 0.0 and doc["stream_seconds"] == 3.0
    assert doc["detection_rate"] is None
    assert doc["noise_false_accepts"] is None and doc["unknown_false_accepts"] is None
    text = format_data_result(result, "emulator")
    assert "n/a per hour" in text and "0.00 per hour" not in text
    assert "(noise n/a, unknown words n/a, keyword stream n/a)" in text


def test_false_accepts_per_hour_leave_out_the_streams_that_cannot_fire() -> None:
    """Noise too short (3 s, 1 device detection that cannot be the rule's) is left out;
    the unknown-word and keyword streams count."""
    figures = _figures(
        noise_false_accepts=1, unknown_seconds=9.0, unknown_fires=True, keyword_seconds=16.5,
        keyword_clips=6, keyword_hits=3, keyword_false_accepts=1, keywords_fire=True,
        per_label=((4, 6, 3),),
    )  # fmt: skip
    result = _data_result(figures)
    doc = result.summary()
    assert doc["fa_seconds"] == 25.5 and doc["stream_seconds"] == 28.5
    assert doc["false_accepts"] == 1
    # Each stream's count as the text gives it: n/a (null) for the noise that cannot fire.
    counts = ("noise_false_accepts", "unknown_false_accepts", "keyword_false_accepts")
    assert [doc[k] for k in counts] == [None, 0, 1]
    assert doc["fa_per_hour"] == round(3600 / 25.5, 2)
    assert doc["detection_rate"] == 0.5
    text = format_data_result(result, "emulator")
    assert "false accepts 1 in 26 s: 141.18 per hour (noise n/a, unknown words 0," in text


def test_detection_rate_is_na_where_the_keyword_stream_cannot_fire() -> None:
    figures = _figures(keyword_seconds=1.2, keyword_clips=1, per_label=((4, 1, 0),))
    result = _data_result(figures)
    assert result.summary()["detection_rate"] is None
    assert result.summary()["false_rejection_rate"] is None
    # Round 47: not "n/a (0/1)", hits of a stream that could not fire (and null in JSON).
    assert result.summary()["keyword_hits"] is None
    assert (
        "accuracy (keyword clips detected) n/a: the keyword stream is too short for the rule"
        " to fire (1 clip)" in format_data_result(result, "e")
    )


# --- 4. one key, one figure ---------------------------------------------------------------


def test_errors_is_a_count_with_the_lines_apart() -> None:
    doc = _data_result(_figures(), errors=("keywords: bad line",)).summary()
    assert doc["errors"] == 1 and isinstance(doc["errors"], int)
    assert doc["error_lines"] == ["keywords: bad line"]
    for old in ("seconds", "accuracy"):
        assert old not in doc


def test_train_json_names_its_modality() -> None:
    run = TrainRunResult(Path("m"), keyword_manifest(), 1.0, 1.0, 1.0, 3.0)
    assert run.summary()["modality"] == "audio"


# --- 5. no keyword clips: the keyword stream's false accepts are null --------------------


def _eval_result(source: str, clips: int, stream: StreamFigures, **kw: Any) -> KeywordEvalResult:
    manifest = keyword_manifest()
    return KeywordEvalResult(
        source=source, split=kw.pop("split", "test"), model_sha256=manifest.model_sha256,
        model_bytes=1, arena_bytes=1, threshold_q=51, clips=clips, correct=0, per_label=(),
        unknown_words=(), stream=stream, **kw,
    )  # fmt: skip


def test_eval_keyword_false_accepts_null_without_keyword_clips() -> None:
    assert _eval_result("room", 0, _figures()).summary()["keyword_false_accepts"] is None
    some = _figures(keyword_clips=2, keyword_false_accepts=1, keywords_fire=True)
    assert _eval_result("room", 2, some).summary()["keyword_false_accepts"] == 1
    emulated = _data_result(_figures()).summary()
    assert emulated["keyword_false_accepts"] is None


# --- 2. keyword eval: the same folder name with other counts is another dataset ----------

TRAINED = {
    "dataset": "kw",
    "eval_split": "test",
    "stream_split": "test",
    "n_test": 10,
    "keyword_clips": 6,
    "int8_accuracy": 0.1,
    "false_rejection_rate": 1.0,
}


def test_same_folder_name_other_counts_is_not_like_for_like(tmp_path: Path) -> None:
    stream = _figures(keyword_clips=3, keywords_fire=True)
    result = _eval_result(str(tmp_path / "kw"), 3, stream, trained=TRAINED)
    doc = result.summary()
    assert doc["trained_same_split"] is False and doc["trained_same_dataset"] is False
    table = format_keyword_eval(result)
    assert "(train, kw test split: 10.00% of 10)" in table
    assert "10 clips, not the 3 scored here: the data has changed since training" in table
    # The keyword clips tell it too (the same clip count, fewer keywords).
    fewer = _eval_result(str(tmp_path / "kw"), 10, stream, trained=TRAINED)
    assert fewer.summary()["trained_same_split"] is False
    assert "6 keyword clips, not the 3 scored here" in format_keyword_eval(fewer)


def test_same_folder_same_counts_is_like_for_like(tmp_path: Path) -> None:
    stream = _figures(keyword_clips=6, keywords_fire=True)
    result = _eval_result(str(tmp_path / "kw"), 10, stream, trained=TRAINED)
    assert result.summary()["trained_same_split"] is True
    assert format_keyword_eval(result).splitlines()[-1].endswith("kw, split test")
    # Another split's counts are not train's to compare: the same dataset, another split.
    val = _eval_result(str(tmp_path / "kw"), 4, stream, trained=TRAINED, split="val")
    assert val.summary()["trained_same_dataset"] is True
    assert val.summary()["trained_same_split"] is False


# --- 7. text eval: a copy of the bundled demo set is the demo set -------------------------


def test_a_copy_of_the_demo_set_is_the_demo_set(tmp_path: Path) -> None:
    copy = tmp_path / demo_dataset_path().name
    shutil.copyfile(demo_dataset_path(), copy)
    metrics = {"dataset": "demo", "eval_split": "test", "n_eval": 260, "n_oos_eval": 20}
    assert _dataset_differs(metrics, copy.name, copy, "test", (260, 20)) is None
    # An edited copy is still told apart by its counts, another file by its name.
    edited = _dataset_differs(metrics, copy.name, copy, "test", (259, 20))
    assert edited is not None and edited.startswith("260 in-scope")
    other = tmp_path / "mine.csv"
    shutil.copyfile(demo_dataset_path(), other)
    assert _dataset_differs(metrics, other.name, other, "test", (260, 20)) is not None


# --- 3. a manifest's NaN prints n/a, as the JSON writes null -----------------------------


def test_non_finite_trained_figures_print_na() -> None:
    result = EvalResult(
        source="demo_commands.csv", split="test", model_sha256="0" * 64, model_bytes=1,
        arena_bytes=1, threshold=0.5, threshold_q=0, phrases=2, oos_phrases=1,
        int8_accuracy=0.5, accuracy_at_threshold=0.5, escalation_rate=0.5, oos_recall=1.0,
        per_intent=(),
        trained={"int8_accuracy": float("nan"), "oos_recall": float("inf")},
    )  # fmt: skip
    table = format_eval(result)
    assert "nan" not in table and "inf" not in table
    assert "(train: n/a)" in table
    assert pct(float("nan")) == "n/a" and pct(float("inf")) == "n/a" and pct(0.5) == "50.00%"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_keyword_summary_rows_print_na_for_non_finite(bad: float) -> None:
    manifest = keyword_manifest()
    metrics = {
        **manifest.metrics,
        "float_accuracy": bad,
        "int8_accuracy": bad,
        "per_class": {"yes": [bad, 3]},
    }
    rows = dict(keyword_summary_rows(replace(manifest, metrics=metrics)))
    shown = " ".join(rows.values())
    assert "nan" not in shown and "inf%" not in shown
    assert rows["int8 accuracy (test clips, TFLM)"] == "n/a"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_text_summary_rows_print_na_for_non_finite(bad: float) -> None:
    from tinyslm.manifest import load_model_dir
    from tinyslm.text.fit import summary_rows

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "model"
    manifest, _ = load_model_dir(fixture, probe_arena=False)
    metrics = {**manifest.metrics, "int8_accuracy": bad, "oos_recall": bad}
    rows = dict(summary_rows(replace(manifest, metrics=metrics)))
    shown = " ".join(rows.values())
    assert "nan" not in shown and "inf%" not in shown  # info printed nan% and inf%
    assert rows["out-of-scope recall"] == "n/a"
