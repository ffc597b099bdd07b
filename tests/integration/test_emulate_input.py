"""Interactive ``tinyslm emulate``: lines end as on the device, answered as they arrive."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from cli_support import REPO, run_cli


def _read_line(fd: int, deadline: float) -> str | None:
    """One stdout line, or None when none arrives before ``deadline``."""
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        if b"\n" in buf:
            return buf.split(b"\n", 1)[0].decode()
    return None


def test_a_line_ended_by_a_lone_cr_is_answered_at_once(esp32_project: Path) -> None:
    # Build the emulator library first, so that only the answer is timed below.
    warm = run_cli("emulate", str(esp32_project), "--text", "hello")
    assert warm.returncode == 0, warm.stderr
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinyslm", "emulate", str(esp32_project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        # "\r" alone ends a line on the device; the pipe stays open (no "\n", no EOF).
        proc.stdin.write(b"turn on the lights\r")
        proc.stdin.flush()
        line = _read_line(proc.stdout.fileno(), time.monotonic() + 30)
        assert line is not None, "no answer to a line ended by a lone \\r"
        assert {"intent", "score", "route", "us"} <= set(json.loads(line))
        proc.stdin.write(b":info\r")
        proc.stdin.flush()
        info = _read_line(proc.stdout.fileno(), time.monotonic() + 30)
        assert info is not None and "info" in json.loads(info)
    finally:
        proc.kill()
        proc.wait()


def test_piped_lines_split_at_cr_as_on_the_device(esp32_project: Path) -> None:
    proc = run_cli("emulate", str(esp32_project), stdin="turn on the lights\r:info\r\n\r\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, lines
    assert "intent" in json.loads(lines[0]) and "info" in json.loads(lines[1])
