"""A label without test clips wrote NaN into manifest.json (round 42).

``tinyslm train`` on a small keyword set (no background recording long enough to give
test silence) printed ``weakest label  _silence_ nan% of 0 clips`` and recorded
``per_class._silence_ = [NaN, 0]``: JSON has no NaN, and ``jq`` or a browser's
``JSON.parse`` refuse the file. The figure is now null, the weakest label is one that
was measured, every reader shows null as n/a, and the manifest writer refuses a NaN.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from tinyslm.audio.fit import _clip_metrics, summary_rows
from tinyslm.audio.report import KeywordReportData, render_keyword_report
from tinyslm.boards import load_boards
from tinyslm.cli import cli
from tinyslm.errors import ModelError
from tinyslm.info import format_info, model_info
from tinyslm.manifest import MANIFEST_NAME, Manifest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kws import keyword_manifest, keyword_model_dir  # noqa: E402
from test_keyword_eval_output import _list  # noqa: E402


def _strict(text: str) -> Any:
    """``json.loads`` as a strict parser reads JSON: NaN and Infinity refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _with_per_class(per_class: dict[str, list[Any]]) -> Manifest:
    return replace(keyword_manifest(), metrics={"eval_split": "test", "per_class": per_class})


# The fixture's labels (_silence_, _unknown_, no, up, yes): _silence_ had no test clip.
UNMEASURED = {
    "_silence_": [None, 0],
    "_unknown_": [0.5, 6],
    "no": [0.75, 4],
    "up": [1.0, 4],
    "yes": [1.0, 4],
}


def _weakest(m: Manifest) -> str | None:
    rows = dict(summary_rows(m))
    return rows.get("weakest label")


def test_train_records_null_for_a_label_without_test_clips() -> None:
    result = SimpleNamespace(
        int8_accuracy=0.5,
        float_accuracy=0.5,
        val_accuracy=0.5,
        # As train_audio measures it: NaN of a label with no clips in the test split.
        per_class=(("_silence_", float("nan"), 0), ("yes", 0.5, 4)),
        confusion=((0, 0), (2, 2)),
        macs=1,
        params=1,
        epochs_run=1,
        best_epoch=1,
        n_train=1,
        n_train_examples=1,
        n_val=1,
        n_test=4,
        history=(),
    )
    metrics = _clip_metrics(result, threshold_found=True)
    assert metrics["per_class"] == {"_silence_": [None, 0], "yes": [0.5, 4]}
    # What the manifest holds parses with a strict parser.
    _strict(json.dumps(metrics, allow_nan=False))


def test_weakest_label_is_one_with_test_clips() -> None:
    assert _weakest(_with_per_class(UNMEASURED)) == "_unknown_ 50.00% of 6 clips"


def test_weakest_label_skips_nan_of_an_older_manifest() -> None:
    # A manifest written before the fix holds NaN (Python's json reads it back).
    m = replace(
        keyword_manifest(), metrics={"per_class": {**UNMEASURED, "_silence_": [math.nan, 0]}}
    )
    assert _weakest(m) == "_unknown_ 50.00% of 6 clips"


def test_no_weakest_label_when_no_label_was_measured() -> None:
    none = {label: [None, 0] for label in keyword_manifest().labels}
    assert _weakest(_with_per_class(none)) is None


def test_manifest_with_null_is_strict_json_and_info_shows_the_measured_weakest(
    tmp_path: Path,
) -> None:
    folder = keyword_model_dir(tmp_path / "kw", _with_per_class(UNMEASURED))
    doc = _strict((folder / MANIFEST_NAME).read_text())
    assert doc["metrics"]["per_class"]["_silence_"] == [None, 0]
    shown = format_info(model_info(folder))
    assert "nan" not in shown.lower()
    assert "weakest label" in shown and "_unknown_ 50.00% of 6 clips" in shown


def test_manifest_writer_refuses_nan_naming_the_figure(tmp_path: Path) -> None:
    m = _with_per_class({**UNMEASURED, "_silence_": [math.nan, 0]})
    with pytest.raises(ModelError) as caught:
        m.write(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "metrics.per_class._silence_[0]" in message and "not a finite number" in message
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_manifest_writer_refuses_infinity_too(tmp_path: Path) -> None:
    m = replace(keyword_manifest(), metrics={"noise_fa_per_hour": math.inf})
    with pytest.raises(ModelError, match=r"metrics\.noise_fa_per_hour"):
        m.write(tmp_path)


@pytest.mark.parametrize("unmeasured", [None, math.nan])
def test_report_page_shows_n_a_for_a_label_without_clips(unmeasured: float | None) -> None:
    m = _with_per_class({**UNMEASURED, "_silence_": [unmeasured, 0]})
    data = KeywordReportData(((m.threshold_q, 0.0, 0.5),), (), ())
    page = render_keyword_report(m, data, load_boards())
    chart = page.split("<h2>Per-keyword accuracy</h2>")[1].split("<h2>")[0]
    assert "nan%" not in chart.lower()
    assert "n/a" in chart


def test_eval_shows_trains_null_as_n_a(tmp_path: Path) -> None:
    # eval already printed null as n/a (figure_text); kept so that the reader stays so.
    per_class = {**UNMEASURED, "yes": [None, 0]}
    folder = keyword_model_dir(tmp_path / "kw", _with_per_class(per_class))
    data = _list(tmp_path / "data", [("yes", "test"), ("no", "test")])
    result = CliRunner().invoke(cli, ["eval", str(folder), str(data)])
    assert result.exit_code == 0, result.stderr
    yes = [line for line in result.stdout.splitlines() if line.lstrip().startswith("yes")]
    assert yes and yes[0].endswith("(train: n/a of 0)"), result.stdout
    assert "nan" not in result.stdout.lower()


def test_benchmark_figures_files_hold_null_not_nan(tmp_path: Path) -> None:
    """A benchmark's figures with a label without clips (NaN) were written as ``NaN``."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from _results import write_json

    out = tmp_path / "figures.json"
    write_json(out, '{"per_class": {"_silence_": {"accuracy": NaN, "clips": 0}}, "x": 1.5}', "t")
    doc = json.loads(out.read_text(), parse_constant=_refuse)
    assert doc["per_class"]["_silence_"]["accuracy"] is None and doc["x"] == 1.5


def _refuse(name: str) -> None:
    raise AssertionError(f"{name} in a JSON file")


def test_a_project_of_an_old_manifest_with_nan_holds_null() -> None:
    """A manifest written before round 42 may hold ``[NaN, 0]``: generate copied it into
    the project's ``tinyslm.json`` as ``NaN``."""
    from tinyslm.emit.project import render_project
    from tinyslm.manifest import MODEL_NAME

    old = replace(
        keyword_manifest(),
        metrics={"eval_split": "test", "per_class": {"_silence_": [math.nan, 0]}},
    )
    board = next(b for b in load_boards() if b.id == "esp32")
    model = (REPO / "tests" / "fixtures" / "kws_model" / MODEL_NAME).read_bytes()
    plan = render_project(board, old, model)
    data = next(f.data for f in plan.files if f.path == "tinyslm.json")
    doc = json.loads(data, parse_constant=_refuse)
    assert doc["manifest"]["metrics"]["per_class"]["_silence_"] == [None, 0]


def test_a_diverged_text_training_is_said_as_such() -> None:
    """A loss of NaN reached the manifest writer, which refuses it with a message about
    JSON; the problem is the training's, and what to do is lower the learning rate."""
    from tinyslm.text.fit import _check_converged
    from tinyslm.text.train import TrainConfig

    config = TrainConfig(learning_rate=5.0)
    _check_converged([{"loss": 2.0}, {"loss": 0.5}], config)
    _check_converged([], config)
    for bad in (math.nan, math.inf):
        with pytest.raises(ModelError) as info:
            _check_converged([{"loss": 2.0}, {"loss": bad}], config)
        assert str(info.value) == (
            f"training diverged: the training loss is {bad} after epoch 2 at learning rate 5;"
            " lower --learning-rate"
        )
