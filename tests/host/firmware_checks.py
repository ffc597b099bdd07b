"""Checks shared by the whole-firmware runs (native x86 and QEMU Cortex-M7)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tinyslm.errors import ToolchainError


def copy_with_tiny_arena(project: Path, dest: Path) -> Path:
    """Copy ``project`` to ``dest`` with a 256-byte arena: TFLM cannot allocate in it."""
    shutil.copytree(project, dest)
    settings = dest / "src" / "tinyslm_settings.h"
    text, n = re.subn(
        r"#define TINYSLM_ARENA_SIZE \d+", "#define TINYSLM_ARENA_SIZE 256", settings.read_text()
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
    assert line["reason"].startswith("AllocateTensors failed with a 256-byte arena")
