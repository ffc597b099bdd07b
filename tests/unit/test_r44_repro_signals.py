"""A Ctrl-C just before or just after a command: one line, or the command's own status.

- During start-up the console script imports ``tinyslm.cli`` (click, the command
  modules) before any handler exists: a Ctrl-C there gave a ``KeyboardInterrupt``
  traceback. The script's entry point (pyproject's, as installed) now says
  ``error: interrupted`` and exits 130.
- After the command has finished, during the interpreter's exit: SIGTERM and SIGHUP end
  the process with the command's status (its output is complete), but a Ctrl-C killed it
  by SIGINT (130 in a shell) after a summary of success. It now does as SIGTERM does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_r41_refusals import LATE_SIGNAL

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def _entry_point() -> tuple[str, str]:
    """``module:function`` of the ``tinyslm`` console script, as pyproject declares it."""
    # [project.scripts]'s one line (tomllib is not in Python 3.10).
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^tinyslm = "([\w.]+):(\w+)"$', text, re.MULTILINE)
    assert found, "no tinyslm console script in pyproject.toml"
    return found[1], found[2]


def _as_a_shell_starts_it() -> None:
    # A foreground command's Ctrl-C is not ignored (a test run in the background's is).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# A real SIGINT while the command modules are being imported (click's, the first).
DURING_IMPORT = """
import importlib, os, signal, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
module, function = sys.argv[1:3]
sys.argv = ["tinyslm", "boards"]
getattr(importlib.import_module(module), function)()
"""


def test_a_ctrl_c_while_importing_is_one_line_and_130(tmp_path: Path) -> None:
    module, function = _entry_point()
    script = tmp_path / "start.py"
    script.write_text(DURING_IMPORT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), module, function],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=_as_a_shell_starts_it,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr == "error: interrupted\n"
    assert done.returncode == 130


# test_r41_refusals' LATE_SIGNAL with Ctrl-C for SIGTERM: after the command, in atexit,
# in module teardown, or while the exit waits for a thread.
LATE_CTRL_C = LATE_SIGNAL.replace(
    "os.kill(os.getpid(), signal.SIGTERM)", "os.kill(os.getpid(), signal.SIGINT)"
)
assert LATE_CTRL_C.count("signal.SIGINT)") == 2  # both kills: the late one and the hung one


@pytest.mark.parametrize("when", ["atexit", "teardown", "hung"])
def test_a_ctrl_c_while_exiting_keeps_the_commands_exit_status(tmp_path: Path, when: str) -> None:
    script = tmp_path / "late.py"
    script.write_text(LATE_CTRL_C)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), when],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=_as_a_shell_starts_it,
    )
    # Was -2 (130 in a shell) with no line, or a KeyboardInterrupt traceback.
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "esp32" in done.stdout
    assert done.stderr == "", done.stderr


# An atexit callback the command itself registers (as TensorFlow's import does) that
# hangs: a Ctrl-C there ends the process with the command's status. The review found
# SIGINT ignored there (main() registered its SIG_IGN last, so it ran first): the hung
# callback ran to its end.
HUNG_ATEXIT = """
import atexit, os, signal, sys, time
from tinyslm import cli

command = cli.cli


def hangs():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)


def registering(*args, **kwargs):
    atexit.register(hangs)
    return command(*args, **kwargs)


cli.cli = registering
sys.argv = ["tinyslm", "boards"]
cli.main()
"""


def test_a_ctrl_c_in_a_hung_exit_callback_of_the_command_ends_it(tmp_path: Path) -> None:
    script = tmp_path / "hung_atexit.py"
    script.write_text(HUNG_ATEXIT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=_as_a_shell_starts_it,
    )
    assert time.monotonic() - start < 20, "the Ctrl-C was ignored: the callback ran to its end"
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "esp32" in done.stdout and done.stderr == ""
