"""Round 51 review mends of the strict report.json readers.

- A model folder's report.json refused with --data given was set aside without a word,
  and the page said "No training history was recorded with this model" of a file that
  held one: the page now says why the curves are missing, and stderr that the file was
  set aside.
- A keyword model's report.json was still read with ``int()`` and ``float()``: a NaN,
  negative or infinite false-accept rate, a level of 10**30, "12" or 1.7, a
  false-rejection rate of 7.0, a repeated level and an empty epoch were all drawn. It is
  now read with the text reader's validators, refused in one line.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tinyslm.errors import ModelError
from tinyslm.manifest import MODEL_NAME, load_model_dir
from tinyslm.pipeline import run_report
from tinyslm.report_data import REPORT_JSON, report_data_from_dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_CSV = FIXTURES / "fixture_commands.csv"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from cli_support import assert_one_error_line, run_cli  # noqa: E402
from kws import keyword_model_dir  # noqa: E402

HISTORY = ({"loss": 2.5, "accuracy": 0.25, "val_loss": 2.0, "val_accuracy": 0.5},)


def _words(page: str) -> str:
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", page).replace("&#x27;", "'").split())


# --- F1: a refused report.json set aside by --data is said to be ---------------------------


def _text_folder(root: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The fixture model with its report.json as train writes it (with a history), then
    ``edit``-ed."""
    folder = root / "m"
    shutil.copytree(FIXTURES / "model", folder)
    manifest, model = load_model_dir(folder, probe_arena=False)
    doc = json.loads(
        report_data_from_dataset(model, manifest, FIXTURE_CSV, HISTORY).to_json_bytes()
    )
    edit(doc)
    (folder / REPORT_JSON).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return folder


def test_a_set_aside_report_json_is_named_on_the_page_and_on_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _text_folder(tmp_path, lambda d: d.update(model_sha256=5))
    out = tmp_path / "r.html"
    run_report(folder, out, data=FIXTURE_CSV)
    text = _words(out.read_text())
    why = f"{folder / REPORT_JSON}: malformed (model_sha256 must be a string, got 5)"
    assert "No training history was recorded" not in text
    assert (
        "The training curves were not drawn: they are kept only in report.json, which was "
        f"set aside: {why}." in text
    )
    err = capfd.readouterr().err.splitlines()
    assert err == [
        f"note: {why}: set aside; every figure is measured on --data, and the page has no "
        "training curves (only report.json keeps them)"
    ]


def test_a_readable_report_json_gives_its_curves_and_no_note(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _text_folder(tmp_path, lambda d: None)
    out = tmp_path / "r.html"
    run_report(folder, out, data=FIXTURE_CSV)
    text = _words(out.read_text())
    assert "set aside" not in text and "were not drawn" not in text
    assert capfd.readouterr().err == ""


def test_the_cli_notes_the_set_aside_file_once(tmp_path: Path) -> None:
    folder = _text_folder(tmp_path, lambda d: d.update(n_oos=d["n_oos"] + 1))
    proc = run_cli(
        "report", str(folder), "--data", str(FIXTURE_CSV), "-o", str(tmp_path / "r.html")
    )
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "out-of-scope phrases, n_oos" in notes[0], proc.stderr
    assert "Traceback" not in proc.stderr


# --- F3: a keyword model's report.json is read as strictly as a text model's ----------------

# As fit.detection_curve writes it: every 4th level and the chosen one, ascending.
CURVE = [(q, round(max(0.0, -q / 10), 3), round((q + 128) / 255, 5)) for q in range(-128, 128, 4)]


def _keyword_folder(root: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    from tinyslm.audio.report import keyword_report_data

    folder = keyword_model_dir(root / "kw")
    figures = keyword_report_data((folder / MODEL_NAME).read_bytes(), CURVE, HISTORY)
    doc = json.loads(figures.to_json_bytes())
    edit(doc)
    (folder / REPORT_JSON).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return folder


def _point(i: int, at: int, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["curve"][i].__setitem__(at, value)


KEYWORD_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "nan false accepts": (
        _point(1, 1, math.nan),
        "false accepts per hour at q=-124 must be a finite number of 0 or more, got nan",
    ),
    "negative false accepts": (
        _point(1, 1, -5.0),
        "false accepts per hour at q=-124 must be a finite number of 0 or more, got -5.0",
    ),
    "infinite false accepts": (
        _point(1, 1, math.inf),
        "false accepts per hour at q=-124 must be a finite number of 0 or more, got inf",
    ),
    "huge level": (
        _point(-1, 0, 10**30),
        "a curve point's level must be an int8 level (-128 to 127), got 1000000",
    ),
    "level as a string": (
        _point(0, 0, "12"),
        "a curve point's level must be an int8 level (-128 to 127), got '12'",
    ),
    "level as a fraction": (
        _point(0, 0, 1.7),
        "a curve point's level must be an int8 level (-128 to 127), got 1.7",
    ),
    "level as a switch": (
        _point(0, 0, True),
        "a curve point's level must be an int8 level (-128 to 127), got True",
    ),
    "false rejections of 700%": (
        _point(2, 2, 7.0),
        "the false-rejection rate at q=-120 must be a share in [0, 1], got 7.0",
    ),
    "null false rejections": (
        _point(2, 2, None),
        "the false-rejection rate at q=-120 must be a share in [0, 1], got None",
    ),
    # Joined in file order, a shuffled curve was drawn as a zig-zag (mr2 review, F3).
    "levels out of order": (
        lambda d: d["curve"].insert(0, d["curve"].pop(1)),
        "the curve's levels must ascend, each once: q=-128 after q=-124",
    ),
    "levels descending": (
        lambda d: d["curve"].reverse(),
        "the curve's levels must ascend, each once: q=120 after q=124",
    ),
    # An OverflowError traceback from float() (mr2 review, F1).
    "huge false accepts": (
        _point(1, 1, 10**400),
        "false accepts per hour at q=-124 must be a finite number of 0 or more, "
        "got an integer of 401 digits, past a double's range",
    ),
    "huge epoch figure": (
        lambda d: d["history"][0].update(loss=10**400),
        "history 'loss' must be a number, got an integer of 401 digits",
    ),
    "repeated level": (
        lambda d: d["curve"].append(d["curve"][-1]),
        "the curve's levels must ascend, each once: q=124 after q=124",
    ),
    "point as a number": (
        lambda d: d["curve"].__setitem__(0, 5),
        "a curve point must be [level, false accepts per hour, false-rejection rate], got 5",
    ),
    "curve as an object": (
        lambda d: d.update(curve={"q": 1}),
        "curve must be a JSON list, got dict",
    ),
    "empty epoch": (
        lambda d: d.update(history=[{}]),
        "a history epoch must be a JSON object of figures",
    ),
    "epoch figure as a string": (
        lambda d: d["history"][0].update(loss="1.5"),
        "history 'loss' must be a number, got '1.5'",
    ),
    "version as a switch": (
        lambda d: d.update(format_version=True),
        "not a keyword report of format 1",
    ),
}


@pytest.mark.parametrize("name", list(KEYWORD_EDITS))
def test_an_edited_keyword_report_json_is_refused_naming_the_value(
    name: str, tmp_path: Path
) -> None:
    edit, needle = KEYWORD_EDITS[name]
    folder = _keyword_folder(tmp_path, edit)
    out = tmp_path / "r.html"
    with pytest.raises(ModelError) as info:
        run_report(folder, out)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / REPORT_JSON}: cannot read the keyword report figures: ")
    assert needle in message, message
    assert not out.exists()


def test_a_keyword_report_json_as_train_writes_it_is_drawn(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Figures train does write: the chosen level off the grid, no false accepts, every
    keyword rejected, a diverged epoch's NaN loss."""
    curve = sorted([*CURVE, (5, 0.0, 1.0)])

    def edit(d: dict[str, Any]) -> None:
        d["curve"] = [list(c) for c in curve]
        d["history"].append({"loss": math.nan, "accuracy": 0.25})

    out = tmp_path / "r.html"
    run_report(_keyword_folder(tmp_path, edit), out)
    assert out.is_file()
    assert capfd.readouterr().err == ""


def test_the_cli_refuses_a_keyword_level_of_10_to_the_30_in_one_line(tmp_path: Path) -> None:
    folder = _keyword_folder(tmp_path, _point(0, 0, 10**30))
    proc = run_cli("report", str(folder), "-o", str(tmp_path / "r.html"))
    assert_one_error_line(proc, "cannot read the keyword report figures", "int8 level")
