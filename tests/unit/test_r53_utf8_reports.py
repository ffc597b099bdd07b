"""tests/utf8_reports.py: a failing test whose report holds a lone surrogate is reported
as a failure on pytest-xdist workers, naming the test, and the other tests still run.
Without the plugin the run ended in an INTERNALERROR (the control below)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

FAILING = """
import os

def test_raw_name_compared():
    assert os.fsdecode(b"t\\xff") == "t"

def test_other():
    assert True
"""


def _run(tmp_path: Path, *plugin: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_raw.py").write_text(FAILING)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", *plugin,
         "-c", str(tmp_path / "pytest.ini"), str(tmp_path / "test_raw.py")],
        capture_output=True, text=True, errors="backslashreplace", env=env, cwd=tmp_path,
        timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_a_failure_holding_a_lone_surrogate_is_reported_as_a_failure(tmp_path: Path) -> None:
    done = _run(tmp_path, "-p", "utf8_reports")
    assert "INTERNALERROR" not in done.stdout + done.stderr, done.stdout[-2000:]
    assert done.returncode == 1, done.stdout[-2000:]
    assert "1 failed, 1 passed" in done.stdout
    assert "FAILED test_raw.py::test_raw_name_compared" in done.stdout
    assert "\\udcff" in done.stdout  # the value, escaped


@pytest.mark.slow
def test_without_it_the_run_ends_in_an_internal_error(tmp_path: Path) -> None:
    # The control: what the plugin is for still happens with this pytest-xdist.
    done = _run(tmp_path)
    assert "INTERNALERROR" in done.stdout + done.stderr
    assert "1 failed, 1 passed" not in done.stdout
