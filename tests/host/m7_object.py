"""One C99 source compiled for the STM32H7's Cortex-M7 on its own: sizes and what it calls.

The audio firmware pieces (front end, detector, frame parser) must stay small, keep
no static state and call nothing but the few libc routines the boards have; their
tests compile them here with the board's flags and ``-Werror``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from shared_paths import require_tool

from tinyslm.toolchain import ccompile

CORTEX_M7_C99 = (
    "-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-Os", "-std=c99",
    "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffunction-sections", "-fdata-sections",
)  # fmt: skip


@dataclass(frozen=True)
class M7Object:
    """Section sizes (bytes) of one object file and the symbols it leaves undefined."""

    text: int
    rodata: int
    static: int  # .data + .bss
    undefined: frozenset[str]


def build_m7_object(
    source: Path, out: Path, include_dirs: list[Path], flags: tuple[str, ...] = CORTEX_M7_C99
) -> M7Object:
    """Compile ``source`` with ``arm-none-eabi-gcc`` and read its sizes with binutils."""
    require_tool("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm")
    obj = ccompile.compile_object(
        source, out, include_dirs=include_dirs, flags=flags, compiler=["arm-none-eabi-gcc"]
    )
    size = subprocess.run(
        ["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True
    )
    sections = {
        parts[0]: int(parts[1])
        for parts in (line.split() for line in size.stdout.splitlines())
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit()
    }
    nm = subprocess.run(
        ["arm-none-eabi-nm", "-u", str(obj)], capture_output=True, text=True, check=True
    )

    def total(*prefixes: str) -> int:
        return sum(v for k, v in sections.items() if k.startswith(prefixes))

    return M7Object(
        text=total(".text"),
        rodata=total(".rodata"),
        static=total(".bss", ".data"),
        undefined=frozenset(line.split()[-1] for line in nm.stdout.splitlines() if line.strip()),
    )
