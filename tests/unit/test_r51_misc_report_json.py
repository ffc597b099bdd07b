"""Round 51: a text model folder's report.json edited by hand is refused in one line.

report.json is outside the manifest's content hash, and its reader took any value
``str()``, ``int()`` or ``float()`` would turn into one: a NaN share ended in a
``ValueError`` traceback while the page was drawn, a count of 10**30 in numpy's
``OverflowError``, and a negative n_oos or a count of "12" were drawn as figures. Each
is now refused, naming the value, with what to do (measure the figures again with
--data).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tinyslm.errors import ModelError
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_report
from tinyslm.report_data import REPORT_JSON, ReportData, report_data_from_dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from cli_support import assert_one_error_line, run_cli  # noqa: E402

HINT = "; give --data DATASET (the file the model was trained on) to measure the figures again"


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    """The fixture model's report.json, as train writes it."""
    manifest, model = load_model_dir(FIXTURES / "model", probe_arena=False)
    history = ({"loss": 2.5, "accuracy": 0.25, "val_loss": 2.0, "val_accuracy": 0.5},)
    data = report_data_from_dataset(model, manifest, FIXTURES / "fixture_commands.csv", history)
    doc: dict[str, Any] = json.loads(data.to_json_bytes())
    return doc


def _folder(root: Path, doc: dict[str, Any]) -> Path:
    folder = root / "m"
    shutil.copytree(FIXTURES / "model", folder)
    (folder / REPORT_JSON).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return folder


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.__setitem__(key, value)


def _first_pair(d: dict[str, Any]) -> dict[str, Any]:
    pair: dict[str, Any] = d["pairs"][0]
    return pair


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # A ValueError traceback ('cannot convert float NaN to integer') while drawing.
    "nan shares": (
        lambda d: [p.update(accuracy_at_threshold=math.nan) for p in d["curve"]],
        "accuracy_at_threshold at q=-128 must be a share in [0, 1] or null, got nan",
    ),
    "share above 1": (
        lambda d: d["curve"][3].update(oos_recall=7.0),
        "oos_recall at q=-125 must be a share in [0, 1] or null, got 7.0",
    ),
    "infinite threshold": (
        lambda d: d["curve"][0].update(threshold=math.inf),
        "the threshold at q=-128 must be a number in [0, 1], got inf",
    ),
    "q off int8": (
        lambda d: d["curve"][0].update(q=300),
        "a curve point's q must be an int8 level (-128 to 127), got 300",
    ),
    "two points at a level": (
        lambda d: d["curve"].append(d["curve"][0]),
        "the curve has two points at one level",
    ),
    # An OverflowError traceback in numpy.
    "huge count": (
        lambda d: d["confusion"][0].__setitem__(0, 10**30),
        "a confusion count must be a whole number from 0 to 9007199254740992, got 10000000",
    ),
    "huge tensor": (
        lambda d: d["tensors"][0].update(bytes=10**30),
        "a tensor's bytes must be a whole number from 0 to 9007199254740992, got 10000000",
    ),
    # An OverflowError traceback from float() (mr2 review, F1): a JSON integer past a
    # double's range passed the number checks.
    "huge epoch figure": (
        lambda d: d["history"][0].update(loss=10**400),
        "history 'loss' must be a number, got an integer of 401 digits, past a double's range",
    ),
    "huge threshold": (
        lambda d: d["curve"][0].update(threshold=10**400),
        "the threshold at q=-128 must be a number in [0, 1], got an integer of 401 digits",
    ),
    # Drawn as figures before.
    "count as a string": (
        lambda d: d["confusion"][0].__setitem__(0, "12"),
        "a confusion count must be a whole number from 0 to 9007199254740992, got '12'",
    ),
    "negative n_oos": (_set("n_oos", -5), "n_oos must be a whole number from 0"),
    "a pair's examples beyond its count": (
        lambda d: _first_pair(d).update(examples=["x"] * (_first_pair(d)["count"] + 1)),
        "shows more examples than its count",
    ),
    # A JSON true is no count (it passed int checks as 1).
    "count as a switch": (
        lambda d: d["confusion"][0].__setitem__(0, True),
        "a confusion count must be a whole number from 0 to 9007199254740992, got True",
    ),
    # Cross-field agreement every file tinyslm writes has (review of round 51): drawn as
    # '50000 of 999999 out-of-scope phrases passed the gate' (1 of 20 had), a table row
    # of 999 beside a matrix cell of 7, and a row of an intent the model lacks.
    "n_oos against oos_top1": (
        lambda d: d.update(n_oos=999999),
        "out-of-scope phrases, n_oos 999999",
    ),
    "a pair's count against its cell": (
        lambda d: _first_pair(d).update(count=999),
        "(999) is not an off-diagonal cell of the confusion matrix",
    ),
    "a pair naming no label": (
        lambda d: _first_pair(d).update(true="no_such_intent"),
        "pair 'no_such_intent' -> ",
    ),
    "a pair on the diagonal": (
        lambda d: _first_pair(d).update(predicted=_first_pair(d)["true"]),
        "is not an off-diagonal cell of the confusion matrix",
    ),
    "examples as a string": (
        lambda d: _first_pair(d).update(examples="abc"),
        "a pair's examples must be a JSON list, got str",
    ),
    "split as a number": (
        _set("eval_split", 5),
        "eval_split must be one of test, val, train, all, got 5",
    ),
    "empty epoch": (_set("history", [{}]), "a history epoch must be a JSON object of figures"),
    "point as a number": (
        lambda d: d.update(own_gate=5),
        "a curve point must be a JSON object, got 5",
    ),
    "version as a switch": (_set("format_version", True), "format_version True is not 1"),
    # Drawn as a row 'at its own thresholds' of a model that has none.
    "an own gate without own thresholds": (
        lambda d: d.update(own_gate=d["curve"][100]),
        "it holds figures at labels' own thresholds (own_gate), and the model has none",
    ),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edited_report_json_is_refused_naming_the_value(
    name: str, measured: dict[str, Any], tmp_path: Path
) -> None:
    edit, needle = EDITS[name]
    doc = json.loads(json.dumps(measured))
    assert doc["pairs"], "the fixture's split has confused pairs"
    edit(doc)
    folder = _folder(tmp_path, doc)
    out = tmp_path / "r.html"
    with pytest.raises(ModelError) as info:
        run_report(folder, out)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / REPORT_JSON}: "), message
    assert needle in message, message
    assert message.endswith(HINT), message
    assert not out.exists()


def test_report_json_as_tinyslm_writes_it_still_reads(measured: dict[str, Any]) -> None:
    """What train writes reads back byte for byte, with a diverged epoch's NaN loss and
    the null shares of a split without in-scope phrases (figures tinyslm does write)."""
    doc = json.loads(json.dumps(measured))
    doc["history"].append({"loss": math.nan, "accuracy": 0.25, "val_loss": math.inf})
    for point in doc["curve"]:
        point.update(accuracy_at_threshold=None, escalation_rate=None)
    raw = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    assert ReportData.from_dict(json.loads(raw)).to_json_bytes() == raw


def test_the_cli_says_it_in_one_line(measured: dict[str, Any], tmp_path: Path) -> None:
    doc = json.loads(json.dumps(measured))
    doc["confusion"][0][0] = 10**30
    folder = _folder(tmp_path, doc)
    proc = run_cli("report", str(folder), "-o", str(tmp_path / "r.html"))
    assert_one_error_line(proc, "a confusion count must be a whole number", HINT)


def test_a_renamed_label_in_a_pair_is_named_as_a_label(
    measured: dict[str, Any], tmp_path: Path
) -> None:
    """The labels are checked against the model's before the parts agree: a label renamed
    by hand was said as a pair naming no cell of the matrix (mr2 review, F2)."""
    doc = json.loads(json.dumps(measured))
    true = doc["pairs"][0]["true"]
    at = doc["labels"].index(true)
    doc["labels"][at] = true + "_x"
    with pytest.raises(ModelError) as info:
        run_report(_folder(tmp_path, doc), tmp_path / "r.html")
    message = str(info.value)
    assert "its labels are not the model's" in message, message
    assert f"label {at + 1} is '{true}_x'" in message, message
    assert "malformed" not in message and "cell" not in message, message
