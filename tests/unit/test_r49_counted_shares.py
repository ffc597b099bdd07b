"""One measurement, one number, for every stored share that has a count (rev2 #2, round 49).

A manifest stores a share rounded to 5 decimals: 129 of 260 phrases is 0.49615, which
a percentage of 2 decimals reads 49.61% (0.49615 * 100 is 49.61499...) beside eval's
own 49.62% on one line. test_r49_counted_rows covers float and INT8 accuracy; these
cover the accuracy at threshold (of n_eval), the out-of-scope recall (of n_oos_eval),
the escalation rate (1 - local_rate, of n_eval), the agreement, a keyword label's
per_class accuracy (of its clips) and the false rejections (of keyword_clips).
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import sys
from pathlib import Path

import pytest

from tinyslm.audio.evaluate import KeywordEvalResult, format_keyword_eval
from tinyslm.audio.fit import summary_rows as keyword_summary_rows
from tinyslm.audio.report import KeywordReportData, render_keyword_report
from tinyslm.audio.stream import StreamFigures
from tinyslm.boards import load_boards
from tinyslm.evaluate import EvalResult, format_eval
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.metrics import TRAINED
from tinyslm.report import render_report
from tinyslm.report_data import ReportData, report_data_from_dataset, tensor_sizes
from tinyslm.text.fit import summary_rows as text_summary_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import KWS_FIXTURE, keyword_manifest  # noqa: E402

# 129 of 260: stored 0.49615, read 49.61%; the count says 49.62%. 131 of 260 were local.
GATE = {
    "eval_split": "test",
    "n_eval": 260,
    "n_oos_eval": 260,
    "int8_accuracy_at_threshold": 0.49615,
    "local_rate": 0.50385,
    "oos_recall": 0.49615,
    "agreement": 0.49615,
}
# 78 of 95: stored 0.82105, read 82.10%, the count's 82.11%. 103 of 113 clips: stored
# 0.9115, a bar of 1 decimal read 91.1%, the count's 91.2%.
PER_CLASS = {"no": [0.82105, 95], "up": [0.9115, 113], "yes": [1.0, 10], "_silence_": [None, 0]}
STREAM = {
    "stream_split": "test",
    "keyword_clips": 95,
    "keyword_false_accepts": 0,
    "false_rejection_rate": 0.82105,
}


def test_counted_metrics_replaces_every_counted_share_and_stores_nothing() -> None:
    from tinyslm.report_data import counted_metrics

    metrics = {**GATE, **STREAM, "per_class": PER_CLASS, "escalation_rate": 0.49615}
    before = json.dumps(metrics)
    shown = counted_metrics(metrics)
    assert json.dumps(metrics) == before  # what manifest.json holds is not touched
    for key in ("int8_accuracy_at_threshold", "oos_recall", "agreement", "escalation_rate"):
        assert shown[key] == 129 / 260, key
    assert shown["local_rate"] == 131 / 260
    assert shown["false_rejection_rate"] == 78 / 95
    assert shown["per_class"] == {
        "no": [78 / 95, 95],
        "up": [103 / 113, 113],
        "yes": [1.0, 10],
        "_silence_": [None, 0],
    }
    # No count behind it, or one that does not round back to it: as stored.
    odd = counted_metrics({**GATE, "n_oos_eval": None, "n_eval": 7, "per_class": {"a": [0.5, 3]}})
    assert odd["oos_recall"] == 0.49615
    assert odd["int8_accuracy_at_threshold"] == 0.49615
    assert odd["per_class"] == {"a": [0.5, 3]}


def test_text_eval_shows_trains_gate_figures_as_their_counts() -> None:
    from tinyslm.evaluate import _trained_figures

    result = EvalResult(
        source="demo_commands.csv", split="test", model_sha256="0" * 64, model_bytes=1,
        arena_bytes=1, threshold=0.5, threshold_q=0, phrases=260, oos_phrases=260,
        int8_accuracy=0.5, accuracy_at_threshold=129 / 260, escalation_rate=129 / 260,
        oos_recall=129 / 260, per_intent=(), trained=_trained_figures(GATE),
    )  # fmt: skip
    table = format_eval(result)
    assert re.search(r"^int8 accuracy at threshold +49\.62%  \(train: 49\.62%\)$", table, re.M)
    assert re.search(r"^escalation rate +49\.62%  \(train: 49\.62%\)$", table, re.M), table
    assert re.search(r"^out-of-scope recall +49\.62% of 260  \(train: 49\.62%\)$", table, re.M)


def _text_manifest() -> Manifest:
    manifest, _ = load_model_dir(FIXTURES / "model", probe_arena=False)
    return manifest


def test_text_train_and_info_rows_show_the_gate_counts() -> None:
    manifest = _text_manifest()
    rows = dict(
        text_summary_rows(dataclasses.replace(manifest, metrics={**manifest.metrics, **GATE}))
    )
    assert rows["int8 accuracy at threshold"] == "49.62%"
    assert rows["out-of-scope recall"] == "49.62%"
    assert rows["float/int8 agreement"] == "49.62%"
    # After generate --threshold: training's figures under at_trained_threshold, of the
    # same n_eval and n_oos_eval phrases.
    moved = {k: v for k, v in {**manifest.metrics, **GATE}.items() if k not in ("oos_recall",)}
    moved.pop("int8_accuracy_at_threshold")
    moved[TRAINED] = {
        "int8_accuracy_at_threshold": 0.49615,
        "oos_recall": 0.49615,
        "threshold": 0.5,
        "threshold_q": 0,
    }
    rows = dict(text_summary_rows(dataclasses.replace(manifest, metrics=moved)))
    assert rows["int8 accuracy at threshold (trained: 0.500)"] == "49.62%"
    assert rows["out-of-scope recall (trained: 0.500)"] == "49.62%"


def _cell(page: str, row: str) -> str:
    found = re.search(rf"<td>{re.escape(html.escape(row))}</td><td>([^<]*)</td>", page)
    assert found is not None, row
    return found.group(1)


@pytest.fixture(scope="module")
def text_data() -> ReportData:
    manifest, model = load_model_dir(FIXTURES / "model", probe_arena=False)
    return report_data_from_dataset(model, manifest, FIXTURES / "fixture_commands.csv", ())


def test_text_report_shows_the_gate_counts(text_data: ReportData) -> None:
    manifest = _text_manifest()
    page = render_report(
        dataclasses.replace(manifest, metrics={**manifest.metrics, **GATE}), text_data, ()
    )
    assert _cell(page, "INT8 accuracy at threshold") == "49.62%"
    assert _cell(page, "out-of-scope recall") == "49.62%"


def _keyword_metrics() -> dict[str, object]:
    return {"eval_split": "test", "n_test": 95, "per_class": PER_CLASS, **STREAM}


def test_keyword_train_and_info_rows_show_the_label_and_stream_counts() -> None:
    manifest = keyword_manifest()
    rows = dict(keyword_summary_rows(dataclasses.replace(manifest, metrics=_keyword_metrics())))
    assert rows["weakest label"] == "no 82.11% of 95 clips"
    assert rows["false rejections (test stream)"].startswith("82.11% of 95 keywords"), rows


def keyword_eval(
    trained: dict[str, object],
    per_label: tuple[tuple[str, int, int], ...] = (),
    keyword_clips: int = 0,
) -> KeywordEvalResult:
    """An eval result of 95 clips, 78 right, with ``trained``'s figures beside them (its
    keyword stream ``keyword_clips`` long, 17 hits); test_r49_counted_rows uses it too."""
    manifest = keyword_manifest()
    figures = StreamFigures(
        noise_seconds=3.0, noise_false_accepts=0, unknown_seconds=0.0,
        unknown_false_accepts=0, keyword_seconds=60.0 if keyword_clips else 0.0,
        keyword_clips=keyword_clips, keyword_hits=17 if keyword_clips else 0,
        keyword_false_accepts=0, per_label=(), threshold_q=51, window=3,
        suppression_ms=1000, stride_ms=40, noise_fires=False, unknown_fires=False,
        keywords_fire=bool(keyword_clips),
    )  # fmt: skip
    return KeywordEvalResult(
        source="kw", split="test", model_sha256=manifest.model_sha256, model_bytes=1,
        arena_bytes=1, threshold_q=51, clips=95, correct=78, per_label=per_label,
        unknown_words=(), stream=figures, trained={"dataset": "kw", **trained},
    )  # fmt: skip


def test_keyword_eval_shows_trains_label_and_stream_figures_as_their_counts() -> None:
    result = keyword_eval(_keyword_metrics(), (("no", 95, 78),), keyword_clips=95)
    table = format_keyword_eval(result)
    assert "78/95 clips right  (train: 82.11% of 95)" in table, table
    assert "82.11% of 95 keywords in a stream" in table, table
    assert "(train: 82.11% of 95)" in table.split("false rejections")[1].splitlines()[0], table


def test_keyword_report_shows_the_label_and_stream_counts() -> None:
    manifest = dataclasses.replace(keyword_manifest(), metrics=_keyword_metrics())
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    page = render_keyword_report(manifest, KeywordReportData((), tensor_sizes(blob)), load_boards())
    assert _cell(page, "false rejections (test stream)") == "82.11%"
    # The per-label bars: 103 of 113 is 91.2%, not the stored 0.9115's 91.1%.
    bars = re.findall(r">\s*([0-9.]+%|n/a)\s*</text>", page)
    assert "91.2%" in bars and "91.1%" not in bars, bars
