"""The style gates run with the tests, so CI fails on a lint or typing regression."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from shared_paths import missing

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    # Prefer the tool installed beside this interpreter (the project's venv).
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        missing(f"{name} is not installed (pip install -e '.[test]')")
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        # benchmarks/ too: its scripts import _results as a top-level module, which mypy
        # finds beside them (benchmarks/ has no __init__.py, so each file is a module).
        ["mypy", "tinyslm", "benchmarks"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(args: list[str]) -> None:
    proc = subprocess.run(
        [_tool(args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
