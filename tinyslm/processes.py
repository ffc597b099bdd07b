"""The programs tinyslm starts (PlatformIO, a ``--host-cmd`` program) and what they start.

PlatformIO stays in tinyslm's process group, so a terminal's Ctrl-C and Ctrl-Z and a
supervisor's signal to the group reach it as before, and it keeps the terminal. A
``--host-cmd`` program, whose streams are pipes, leads a group of its own instead
(``tinyslm.escalate``), so that what it leaves running after it exits is killed with
that group. A signal to tinyslm alone (SIGTERM, which the CLI turns into an interrupt), or a
timeout, must stop the program and everything it started: killing the program alone left
its children running, reparented to init. They are found in ``/proc`` before the program
dies and signalled too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (Linux /proc; none elsewhere), parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not a process
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def signal_tree(pid: int, sig: int) -> None:
    """``sig`` to ``pid`` and to everything under it (found before any is signalled)."""
    for each in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
            os.kill(each, sig)
