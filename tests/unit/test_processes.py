"""``tinyslm.processes``: finding what a program left holding its output pipes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tinyslm.processes import pipe_holders, start_time

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_only_holders_started_since_the_program_are_found() -> None:
    # A process running before the program (an ssh ControlMaster it handed its streams
    # to) holds the pipe too; it was killed with the program's leftovers.
    read_end, write_end = os.pipe()
    older = subprocess.Popen(["sleep", "30"], pass_fds=[write_end])
    try:
        time.sleep(0.05)  # start times count clock ticks (10 ms)
        newer = subprocess.Popen(["sleep", "30"], pass_fds=[write_end])
        try:
            since = start_time(newer.pid)
            assert since is not None and since > (start_time(older.pid) or since)
            # This process holds both ends and is never taken; nor is the older holder.
            assert pipe_holders([read_end], since) == [newer.pid]
            assert sorted(pipe_holders([read_end], 0)) == sorted([older.pid, newer.pid])
        finally:
            newer.kill()
            newer.wait()
    finally:
        older.kill()
        older.wait()
        os.close(read_end)
        os.close(write_end)
