"""Round 45 (honesty hunt): ``python -m tinyslm`` (how tests/integration's ``run_cli``
runs the CLI) starts through ``tinyslm._entry`` as the console script does, so a Ctrl-C
while click is imported is one line and exit status 130, not a ``KeyboardInterrupt``
traceback. Round 44 tested the console script only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_r44_repro_signals import (
    DURING_IMPORT,
    ROOT,
    _as_a_shell_starts_it,
)

START = "getattr(importlib.import_module(module), function)()"
assert DURING_IMPORT.count(START) == 1
# ``python -m tinyslm``, as runpy runs it.
AS_MAIN = DURING_IMPORT.replace(
    START, 'import runpy\nrunpy.run_module("tinyslm", run_name="__main__", alter_sys=True)'
)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_python_m_tinyslm_interrupted_while_importing_is_one_line_and_130(
    tmp_path: Path,
) -> None:
    script = tmp_path / "start.py"
    script.write_text(AS_MAIN)
    done = subprocess.run(
        [sys.executable, str(script), "unused", "unused"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        preexec_fn=_as_a_shell_starts_it,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr == "error: interrupted\n"
    assert done.returncode == 130
