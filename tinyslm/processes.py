"""The programs tinyslm starts (PlatformIO, a ``--host-cmd`` program) and what they start.

A program tinyslm starts stays in tinyslm's process group, so a terminal's Ctrl-C and
Ctrl-Z and a supervisor's signal to the group reach it as before, and it keeps the
terminal. A signal to tinyslm alone (SIGTERM, which the CLI turns into an interrupt), or a
timeout, must stop the program and everything it started: killing the program alone left
its children running, reparented to init. They are found in ``/proc`` before the program
dies and signalled too. What a program leaves running when it exits by itself is out of
that tree by then; where it holds the program's output pipes, it is found by them
(:func:`pipe_holders`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
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


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22);
    ``None`` where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def pipe_holders(fds: Sequence[int], since: int) -> list[int]:
    """The processes other than this one, started at or after ``since`` (:func:`start_time`
    ticks), that hold an end of the pipes ``fds`` are ends of (Linux /proc; none elsewhere).

    A program that exits leaving a background child ('sleep 1000 &') leaves that child
    holding its output pipes: the child is no longer under the program in /proc, but it
    is found by the pipe it holds, which is exactly what keeps the reader waiting. Only
    processes started since the program are taken: one that was running before (an ssh
    ControlMaster the program handed its streams to) is not the program's to stop.
    """
    pipes = set()
    for fd in fds:
        with contextlib.suppress(OSError, ValueError):
            pipes.add(f"pipe:[{os.fstat(fd).st_ino}]")
    found: list[int] = []
    own = os.getpid()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        if pid == own:
            continue
        try:
            links = [os.readlink(link) for link in fd_dir.iterdir()]
        except OSError:
            continue  # gone meanwhile, or not ours to look at
        started = start_time(pid)
        if pipes.intersection(links) and started is not None and started >= since:
            found.append(pid)
    return found
