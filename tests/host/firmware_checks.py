"""Checks shared by the whole-firmware runs (native x86 and QEMU Cortex-M7)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tinyslm.errors import ToolchainError

# Room for TFLM's own allocators (the firmware's static_assert) on x86-64 and Cortex-M7,
# far too little for any model: AllocateTensors fails and the firmware says so.
TINY_ARENA = 512
# Below TFLM's bookkeeping (280 bytes on x86-64): its constructor crashed the firmware
# (a segfault, a hard fault on a board) before it could report anything.
BELOW_BOOKKEEPING = 64


def copy_with_tiny_arena(project: Path, dest: Path, size: int = TINY_ARENA) -> Path:
    """Copy ``project`` to ``dest`` with a ``size``-byte arena."""
    shutil.copytree(project, dest)
    settings = dest / "src" / "tinyslm_settings.h"
    text, n = re.subn(
        r"#define TINYSLM_ARENA_SIZE \d+",
        f"#define TINYSLM_ARENA_SIZE {size}",
        settings.read_text(),
    )
    assert n == 1, "TINYSLM_ARENA_SIZE not found in the generated settings"
    settings.write_text(text)
    return dest


def assert_reports_tflm_init_failure(error: ToolchainError) -> None:
    """The firmware exits 2 after one tflm_init_failed line naming AllocateTensors."""
    message = str(error)
    assert "exited with status 2" in message
    line = json.loads(message.split(": ", 1)[1])
    assert line["error"] == "tflm_init_failed"
    assert line["reason"].startswith(f"AllocateTensors failed with a {TINY_ARENA}-byte arena")


def assert_refused_at_build(error: ToolchainError) -> None:
    """The build stops at the firmware's static_assert, which names the setting."""
    message = str(error)
    assert "tinyslm_tflm.cc" in message and "below TFLM's own bookkeeping" in message, message


# (arena bytes, what the firmware must do with it): each whole-firmware run takes both.
ARENA_CASES = pytest.mark.parametrize(
    ("arena", "check"),
    [(TINY_ARENA, assert_reports_tflm_init_failure), (BELOW_BOOKKEEPING, assert_refused_at_build)],
    ids=["allocate-fails", "below-bookkeeping"],
)
