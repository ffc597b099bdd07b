"""Root conftest: puts tests/ on sys.path (for shared_paths), isolates tinyslm's cache,
sizes the parallel run, prints the emulator figures at the end and makes failure reports
UTF-8 text (a lone surrogate in one ended an xdist run).

Every stage keeps its builds under ``$TINYSLM_CACHE_DIR`` (tinyslm.cache). A test
session never reuses the user's ``~/.cache/tinyslm``: unless TINYSLM_CACHE_DIR is
set (a developer may point it at a folder to keep TFLM objects between runs), the
session gets a fresh one, shared by every test, every subprocess and every
pytest-xdist worker (they start after ``pytest_configure`` and inherit it), so each
TFLM tree is compiled once per session: a worker that needs an object another is
compiling waits for it (``tinyslm.toolchain.host``).

pyproject's addopts run the tests on pytest-xdist workers, a test module to a
worker (``--dist loadscope``: a module's fixtures, such as a built firmware, are
made once). ``-p no:xdist`` or ``-n 0`` runs them in one process.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Generator
from typing import Any

import pytest

from tinyslm.cache import CACHE_ENV

_made_here: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(CACHE_ENV):
        path = tempfile.mkdtemp(prefix="tinyslm-test-cache-")
        _made_here.append(path)
        os.environ[CACHE_ENV] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _made_here:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop(CACHE_ENV, None)


# Workers beyond this add little: the longest tests are TFLM builds that already use
# every core, and each worker holds its own TensorFlow (about 1 GB when training).
MAX_WORKERS = 4
_SUMMARY_KEY = "tinyslm_summary"
_from_workers: list[str] = []


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _summary() -> list[str]:
    # Figures worth seeing in every run (parity, coverage): tests append them to
    # tests/integration/cli_support.py's SUMMARY, in whichever process ran them.
    module = sys.modules.get("cli_support")
    return list(getattr(module, "SUMMARY", []))


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the figures to the controller
        workeroutput[_SUMMARY_KEY] = _summary()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    _from_workers.extend(getattr(node, "workeroutput", {}).get(_SUMMARY_KEY, []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [*_summary(), *_from_workers]
    if lines:
        terminalreporter.write_sep("-", "tinyslm emulator figures")
        for line in lines:
            terminalreporter.write_line(line)


def _utf8(value: Any) -> Any:
    """``value`` (a report as a worker sends it: dicts, lists, tuples, strings) with each
    lone surrogate written as a backslash escape."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_utf8(k): _utf8(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_utf8(v) for v in value)
    return value


# Tests of names that are not UTF-8 compare strings holding lone surrogates ('\udcff').
# When one fails, its report holds them, and pytest-xdist cannot send such a report from
# a worker ("strings must be utf-8 encodable"): the whole run ended in an INTERNALERROR
# naming no failing test, running no other and exiting 0 (CI passed it). Written
# with backslash escapes, the failure is reported as any other. Only the form a worker
# sends is rewritten, every string of it: a skip's (path, line, reason) tuple, an xfail
# reason, captured output and the failure's own line in the short summary all may hold
# one, and a run without workers prints the report as pytest made it. Defined here
# rather than in a plugin module that this file loads: tests/unit/test_conftest_summary.py
# runs this file alone in a temporary folder, where no such module can be imported.
@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(config: pytest.Config, report: Any) -> Generator[None, Any, Any]:
    return _utf8((yield))


# A warning holding one (a ResourceWarning for a file whose name is not UTF-8) is sent
# by xdist's own pytest_warning_recorded, not as a report: escaped here, before it, the
# same way (else the same INTERNALERROR, exit 3, and the module's other tests not run).
@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message: Any) -> None:
    message = warning_message.message
    if isinstance(message, Warning):
        message.args = _utf8(message.args)
    else:
        warning_message.message = _utf8(message)
    warning_message.filename = _utf8(warning_message.filename)
