"""Round 55: an error or warning line costs no import of tinyslm.monitor or numpy.

``tinyslm.errors.for_terminal`` (every ``error:``/``warning:`` line: ``tell()``, the CLI's
error lines) imported :mod:`tinyslm.monitor` (2,700 lines, numpy through
tinyslm.text.dataset) on its first call, only for ``printable``, which now lives in
:mod:`tinyslm.terminal`. Each test runs a fresh interpreter, where nothing was imported
before the line was written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from cli_support import cli_env, run_cli


def test_a_warning_imports_neither_monitor_nor_numpy() -> None:
    # An ESC (one_line's part) and a bidi override (printable's part): both still escaped.
    code = (
        "import json, sys; import tinyslm.errors as e; e.tell('x \\u202e\\x1b'); "
        "print(json.dumps([m for m in ('numpy', 'tinyslm.monitor') if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "warning: x \\u202e\\x1b\n"
    # Before: ["numpy", "tinyslm.monitor"].
    assert json.loads(done.stdout) == []


def test_a_cli_error_line_imports_no_monitor() -> None:
    # The CLI imports numpy for its own options; the error line added monitor (~20 ms).
    done = run_cli("info", "/nonexistent\u202e", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1] == "error: /nonexistent\\u202e: no such folder"
    imported = {ln.split("|")[-1].strip() for ln in lines if ln.startswith("import time:")}
    assert "tinyslm.errors" in imported  # importtime did report the imports
    assert "tinyslm.monitor" not in imported
