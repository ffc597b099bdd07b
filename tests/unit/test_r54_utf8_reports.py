"""tests/conftest.py: a failing test whose report holds a lone surrogate is reported as
a failure on pytest-xdist workers, naming the test, and the other tests still run.
Without the hook the run printed an INTERNALERROR naming no test, counted the failing
test as nothing and exited 0 (the control below).

The root conftest is run as tests/unit/test_conftest_summary.py runs it: copied alone
into pytester's folder, so the hook must work without any other file of tests/."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
FAILING = """
import os

import pytest

def test_raw_name_compared():
    assert os.fsdecode(b"t\\xff") == "t"

def test_other():
    assert True

def test_raw_name_missing():
    pytest.skip("missing " + os.fsdecode(b"x\\xff"))

def test_raw_name_warned():
    import warnings
    warnings.warn("cannot read " + os.fsdecode(b"w\\xff"))
"""


def _run(pytester: pytest.Pytester, conftest: str) -> tuple[int, str]:
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_raw=FAILING)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "-p", "no:cacheprovider", "-rfEs"
    )
    return result.ret, "\n".join(result.outlines + result.errlines)


@pytest.mark.slow
def test_a_failure_holding_a_lone_surrogate_is_reported_as_a_failure(
    pytester: pytest.Pytester,
) -> None:
    ret, out = _run(pytester, ROOT_CONFTEST.read_text(encoding="utf-8"))
    assert "INTERNALERROR" not in out, out[-2000:]
    assert ret == 1, out[-2000:]
    assert "1 failed, 2 passed, 1 skipped, 1 warning" in out, out[-2000:]
    assert "cannot read w\\udcff" in out, out[-2000:]  # the warnings summary
    # The short summary keeps the failure's own line and the skip's reason (-rs).
    assert "FAILED test_raw.py::test_raw_name_compared - AssertionError: assert" in out
    assert "missing x\\udcff" in out, out[-2000:]
    assert "\\udcff" in out  # the value, escaped


@pytest.mark.slow
def test_without_it_the_run_ends_in_an_internal_error(pytester: pytest.Pytester) -> None:
    # The control: what the hook is for still happens with this pytest-xdist.
    # With this pytest-xdist (3.x) that run even exits 0 with "1 passed": the failure
    # is lost, and CI would pass on it.
    _ret, out = _run(pytester, "")
    assert "INTERNALERROR" in out, out[-2000:]
    assert "1 failed" not in out
