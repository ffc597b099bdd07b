"""tests/conftest.py hands the emulator figures gathered on xdist workers to the summary.

A figure appended to ``cli_support.SUMMARY`` in a worker must reach the controller's
"tinyslm emulator figures" section, as it does in a one-process run; otherwise CI's
log silently loses the parity and coverage lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
TEST_FILE = """
import cli_support

def test_one():
    cli_support.SUMMARY.append("figure from a test: 42")
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_figures_reach_the_summary(pytester: pytest.Pytester, workers: str) -> None:
    pytester.makeconftest(ROOT_CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(cli_support="SUMMARY: list[str] = []\n", test_figure=TEST_FILE)
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", workers, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*tinyslm emulator figures*", "figure from a test: 42"])
