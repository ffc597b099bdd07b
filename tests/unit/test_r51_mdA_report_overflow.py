"""A JSON integer past a double's range in report.json (mr2 review, F1).

The strict readers took any JSON integer as a number and then called float() on it:
``10**400`` raised OverflowError, a 40-line traceback from ``tinyslm report``, and with
``--data`` the file was not set aside (only a refusal is).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tinyslm.manifest import MODEL_NAME, load_model_dir
from tinyslm.pipeline import run_report
from tinyslm.report_data import REPORT_JSON, report_data_from_dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_CSV = FIXTURES / "fixture_commands.csv"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from cli_support import assert_one_error_line, run_cli  # noqa: E402
from kws import keyword_model_dir  # noqa: E402

HUGE = 10**400
HISTORY = ({"loss": 2.5, "accuracy": 0.25},)


def _text_folder(root: Path) -> Path:
    folder = root / "m"
    shutil.copytree(FIXTURES / "model", folder)
    manifest, model = load_model_dir(folder, probe_arena=False)
    figures = report_data_from_dataset(model, manifest, FIXTURE_CSV, HISTORY)
    doc: dict[str, Any] = json.loads(figures.to_json_bytes())
    doc["history"][0]["loss"] = HUGE
    (folder / REPORT_JSON).write_text(json.dumps(doc))
    return folder


def _keyword_folder(root: Path) -> Path:
    from tinyslm.audio.report import keyword_report_data

    folder = keyword_model_dir(root / "kw")
    figures = keyword_report_data((folder / MODEL_NAME).read_bytes(), [(0, 1.0, 0.5)], HISTORY)
    doc: dict[str, Any] = json.loads(figures.to_json_bytes())
    doc["curve"][0][1] = HUGE
    (folder / REPORT_JSON).write_text(json.dumps(doc))
    return folder


def test_the_cli_refuses_a_huge_epoch_figure_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = run_cli("report", str(_text_folder(tmp_path)), "-o", str(out))
    assert_one_error_line(
        proc, "history 'loss' must be a number", "an integer of 401 digits, past a double's range"
    )
    assert not out.exists()


def test_the_cli_refuses_huge_false_accepts_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = run_cli("report", str(_keyword_folder(tmp_path)), "-o", str(out))
    assert_one_error_line(
        proc, "false accepts per hour at q=0 must be a finite number", "an integer of 401 digits"
    )
    assert not out.exists()


def test_with_data_the_file_is_set_aside(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = _text_folder(tmp_path)
    out = tmp_path / "r.html"
    run_report(folder, out, data=FIXTURE_CSV)
    assert out.is_file()
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"note: {folder / REPORT_JSON}: malformed (history 'loss' "), err
    assert "set aside" in err[0], err
