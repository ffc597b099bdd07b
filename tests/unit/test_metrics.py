"""A manifest's figures of the wrong type are refused as it is read (round 33).

Metrics sit outside the content hash, so an edited ``float_accuracy: "x"`` loaded, then
``info`` failed in ``summary_rows``, ``report`` in ``pct``/``heatmap_svg`` and ``eval``
in ``float(local_rate)``, each with a traceback. Every figure those read is now checked
once, in :func:`tinyslm.metrics.check_metrics`, and the commands print one line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import ModelError
from tinyslm.manifest import MANIFEST_NAME, load_model_dir
from tinyslm.metrics import TRAINED, check_metrics
from tinyslm.report_data import ReportData

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LABELS = ("_silence_", "_unknown_", "no", "up", "yes")
# A keyword model's figures as tinyslm.audio.fit writes them (a 3-epoch run, round 33).
KEYWORD_METRICS: dict[str, Any] = {
    "best_epoch": 1,
    "confusion": [
        [1, 0, 0, 0, 0],
        [5, 0, 0, 0, 0],
        [5, 0, 0, 0, 0],
        [1, 0, 0, 0, 0],
        [4, 0, 0, 0, 0],
    ],
    "dataset": "kd",
    "epochs_run": 3,
    "eval_split": "test",
    "false_rejection_rate": None,
    "float_accuracy": 0.0625,
    "int8_accuracy": 0.0625,
    "keyword_clips": 10,
    "keyword_false_accepts": 0,
    "keyword_hits": 0,
    "macs": 2360200,
    "n_test": 16,
    "n_train": 510,
    "n_val": 19,
    "noise_fa_per_hour": 0.0,
    "noise_false_accepts": 0,
    "noise_seconds": 39.9,
    "params": 11085,
    "per_class": {"_silence_": [1.0, 1], "_unknown_": [0.0, 5], "no": [0.0, 5]},
    "per_keyword_hits": {"no": [5, 0], "up": [1, 0], "yes": [4, 0]},
    "stream_split": "test",
    "threshold_rule": "lowest threshold without a false accept on the val streams",
    "unknown_fa_per_hour": None,
    "unknown_false_accepts": 0,
    "unknown_seconds": 14.0,
    "val_accuracy": float("nan"),
    "a_note_of_mine": ["anything"],
}


def test_figures_tinyslm_writes_pass() -> None:
    check_metrics(KEYWORD_METRICS, LABELS)
    text = json.loads((FIXTURES / "model" / MANIFEST_NAME).read_text())
    check_metrics(text["metrics"], text["labels"])
    moved = {**text["metrics"], TRAINED: {"threshold": 0.5, "threshold_q": 0, "local_rate": 1}}
    check_metrics(moved, text["labels"])


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("float_accuracy", "x", "'float_accuracy': expected a number in [0, 1], got 'x'"),
        ("int8_accuracy", 1.5, "'int8_accuracy': 1.5 is not in [0, 1]"),
        ("float_accuracy", None, "'float_accuracy': expected a figure, got None"),
        ("noise_seconds", None, "'noise_seconds': expected a figure, got None"),
        ("false_rejection_rate", True, "expected a number in [0, 1], got True"),
        ("macs", None, "'macs': expected a figure, got None"),
        ("macs", 2.5, "'macs': expected a count"),
        ("keyword_hits", -1, "'keyword_hits': expected a count"),
        ("noise_seconds", "39", "'noise_seconds': expected a number"),
        ("dataset", 3, "'dataset': expected a string"),
        ("confusion", [], "'confusion': expected 5 rows of 5 counts"),
        # Round 47 let OPTIONAL counts be null; a null confusion is still refused.
        ("confusion", None, "'confusion': expected a figure, got None"),
        ("confusion", [[1] * 5] * 4 + [[1, 2, 3, 4, "5"]], "'confusion': expected a count"),
        ("per_class", {"no": [0.5]}, "'per_class': 'no': expected a [figure, count] pair"),
        ("per_class", {"no": ["a", 3]}, "'per_class': 'no': expected a number in [0, 1]"),
        ("per_keyword_hits", [], "'per_keyword_hits': expected a JSON object"),
        ("empty_input", "x", "'empty_input': expected a JSON object"),
        (TRAINED, [], "'at_trained_threshold': expected a JSON object"),
        (TRAINED, {"threshold": 0.5}, "at_trained_threshold.'threshold_q': missing"),
        (TRAINED, {"threshold": 2, "threshold_q": 0}, "at_trained_threshold.'threshold'"),
        (
            TRAINED,
            {"threshold": 0.5, "threshold_q": 0, "local_rate": "x"},
            "at_trained_threshold.'local_rate'",
        ),
    ],
)
def test_wrong_figures_are_named(key: str, value: Any, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        check_metrics({**KEYWORD_METRICS, key: value}, LABELS)
    assert expected in str(info.value)


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "model", folder)
    return folder


def _edit(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("args", "figure"),
    [
        (["info"], "oos_recall"),
        (["info"], "float_accuracy"),
        (["report", "-o", "{tmp}/r.html"], "float_accuracy"),
        (["eval", "--split", "all"], "local_rate"),
    ],
)
def test_commands_print_one_line(
    model_dir: Path, tmp_path: Path, args: list[str], figure: str
) -> None:
    # Each of these was a traceback (text/fit.summary_rows, report.pct, evaluate's
    # float(local_rate)) before the figures were checked on load.
    _edit(model_dir, lambda d: d["metrics"].__setitem__(figure, "x"))
    argv = [args[0], str(model_dir), *(a.format(tmp=tmp_path) for a in args[1:])]
    if args[0] == "eval":
        argv.append(str(FIXTURES / "fixture_commands.csv"))
    result = CliRunner().invoke(cli, argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {model_dir / MANIFEST_NAME}: manifest is malformed")
    assert f"field 'metrics': '{figure}': expected a number in [0, 1], got 'x'" in lines[0]
    with pytest.raises(ModelError):
        load_model_dir(model_dir, probe_arena=False)


def _report(labels: list[str], confusion: Any) -> dict[str, Any]:
    return {
        "format_version": 1,
        "model_sha256": "0" * 64,
        "eval_split": "test",
        "labels": labels,
        "confusion": confusion,
        "n_oos": 0,
        "pairs": [],
        "curve": [],
        "tensors": [],
    }


@pytest.mark.parametrize(
    ("labels", "confusion"),
    [
        (["a", "b"], []),
        (["a", "b"], [[1, 0], []]),
        ([], [[1, 0], [0, 1]]),
        (["a", "b"], [[1, 0], [0, -1]]),
    ],
)
def test_report_json_confusion_shape(labels: list[str], confusion: Any) -> None:
    # per_intent reshaped the matrix by the label count: a hand-edited report.json
    # failed there, in numpy (IndexError, ValueError), instead of in one line.
    with pytest.raises(ModelError, match="malformed"):
        ReportData.from_dict(_report(labels, confusion))
    good = ReportData.from_dict(_report(["a", "b"], [[1, 0], [0, 1]]))
    assert [row[2] for row in good.per_intent()] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([], "expected a JSON object"),
        ("x", "expected a JSON object"),
        ({"history": [{"loss": "x"}]}, "history 'loss' must be a number, got 'x'"),
        ({"history": [{"val_accuracy": {}}]}, "history 'val_accuracy' must be a number, got {}"),
        ({"history": [1]}, "a history epoch must be a JSON object of figures, got 1"),
    ],
)
def test_keyword_report_json_is_read_or_refused_in_one_line(
    tmp_path: Path, doc: Any, expected: str
) -> None:
    # A list at the top raised AttributeError from doc.get; history values of any
    # type reached matplotlib (ConversionError) when the page was drawn.
    from tinyslm.audio.report import KeywordReportData

    good = KeywordReportData(((-128, 0.0, 1.0),), (), ({"loss": 0.5},))
    path = tmp_path / "report.json"
    path.write_bytes(good.to_json_bytes())
    assert KeywordReportData.from_json(path) == good
    if isinstance(doc, dict):
        doc = {**json.loads(good.to_json_bytes()), **doc}
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="cannot read the keyword report figures") as info:
        KeywordReportData.from_json(path)
    assert expected in str(info.value)


def test_a_keyword_page_without_figures_is_drawn(tmp_path: Path) -> None:
    # A keyword manifest without metrics (they are optional) failed in heatmap_svg on
    # the empty matrix, with a traceback.
    import sys

    sys.path.insert(0, str(FIXTURES))
    from kws import keyword_manifest

    from tinyslm.audio.report import KeywordReportData, render_keyword_report
    from tinyslm.boards import load_boards

    manifest = keyword_manifest()
    data = KeywordReportData(((manifest.threshold_q, 0.0, 0.5),), (), ())
    for metrics in ({}, {"confusion": [[1] * 5] * 5}):
        page = render_keyword_report(replace(manifest, metrics=metrics), data, load_boards())
        assert page.startswith("<!DOCTYPE html>")
        assert ("No confusion matrix was recorded" in page) is not metrics


def test_a_keyword_report_json_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    # RecursionError is not a ValueError: it went past the reader's except.
    from tinyslm.audio.report import KeywordReportData

    path = tmp_path / "report.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match="cannot read the keyword report figures"):
        KeywordReportData.from_json(path)
