"""Round 55: ``tinyslm tflm fetch`` prints the tree's own bytes on stdout, whatever the
locale, so that ``--tflm-dir "$(tinyslm tflm fetch)"`` names the tree.

Printed as text, a path holding a byte that is not UTF-8 came out as Python's stdout
was set up: raw under a C or POSIX locale, a ``UnicodeEncodeError`` traceback and exit 1
under ``en_US.UTF-8`` (a strict UTF-8 stdout), ``\\udcff`` with a ``backslashreplace``
one, ``?`` under ASCII. Its display form (``\\xff``) is stderr's line, which
tests/integration/test_r54_stderr_names.py checks. No network: the tree is already there.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lib_tflm_fixtures import fake_tree

from tinyslm.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from cli_support import cli_env

# Python's stdout under each (PYTHONIOENCODING): en_US.UTF-8's strict UTF-8, one that
# escapes what it cannot encode, and ASCII (click writes "?" there).
STDOUTS = ["utf-8:strict", "utf-8:backslashreplace", "ascii"]


@pytest.mark.parametrize("stdout", STDOUTS)
def test_tflm_fetch_prints_the_trees_own_bytes(tmp_path: Path, stdout: str) -> None:
    tree = fake_tree(tmp_path / os.fsdecode(b"t\xff"))  # a byte that is not UTF-8
    proc = subprocess.run(
        [sys.executable, "-m", "tinyslm", "tflm", "fetch", "--cache-dir", str(tree)],
        env=cli_env({"PYTHONIOENCODING": stdout}), capture_output=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # Before: b'' and a traceback (exit 1); b'.../t\\udcff\n'; b'.../t?\n'.
    assert proc.stdout == os.fsencode(tree) + b"\n"
    assert os.path.isdir(proc.stdout[:-1])  # what a script's $(...) reads is the tree


def test_tflm_fetch_in_process_to_a_text_only_stdout(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / os.fsdecode(b"t\xff"))
    shown = io.StringIO()  # no .buffer: a Python caller's own stream takes text
    with contextlib.redirect_stdout(shown):
        # Before: TypeError (click wrote the bytes to it), whatever the path.
        cli.main(["tflm", "fetch", "--cache-dir", str(tree)], standalone_mode=False)
    assert shown.getvalue() == f"{tree}\n"
