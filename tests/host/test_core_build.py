"""firmware/tinyslm_core.c builds cleanly everywhere it has to run.

Strict C99 warnings with gcc and clang, the header from C++, and a Cortex-M7
cross compile whose .text size is printed and bounded (a test can see the
figure with ``pytest -s``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from core_harness import CORE_C, FIRMWARE, WARN_FLAGS
from shared_paths import missing

from tinyslm.toolchain import ccompile

STRICT = (*WARN_FLAGS, "-Wconversion", "-Wshadow", "-Wstrict-prototypes", "-O2")
CORTEX_M7 = (
    "-mcpu=cortex-m7",
    "-mthumb",
    "-mfpu=fpv5-d16",
    "-mfloat-abi=hard",
    "-Os",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wdouble-promotion",
)
TEXT_BUDGET = 8 * 1024  # bytes of .text for the whole core on Cortex-M7


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        missing(f"{tool} not installed (CI installs it)")
    return path


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_core_compiles_without_warnings(compiler: str, tmp_path: Path) -> None:
    _need(compiler)
    obj = ccompile.compile_object(
        CORE_C, tmp_path / "core.o", include_dirs=[FIRMWARE], flags=STRICT, compiler=[compiler]
    )
    assert obj.stat().st_size > 0


def test_header_compiles_as_cxx(tmp_path: Path) -> None:
    cxx = _need("g++")
    src = tmp_path / "use_header.cc"
    src.write_text(
        '#include "tinyslm_core.h"\n'
        'extern "C" size_t probe(const tinyslm_features_t *s, const uint8_t *t, int32_t *ids) {\n'
        "  return tinyslm_tokenize(s, t, 1, ids);\n}\n"
    )
    flags = [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-fno-exceptions",
        "-fno-rtti",
    ]
    ccompile.compile_object(
        src, tmp_path / "use.o", include_dirs=[FIRMWARE], flags=flags, compiler=[cxx]
    )


@pytest.mark.toolchain
def test_cortex_m7_build_and_size(tmp_path: Path) -> None:
    gcc = _need("arm-none-eabi-gcc")
    size_tool = _need("arm-none-eabi-size")
    obj = ccompile.compile_object(
        CORE_C, tmp_path / "core_m7.o", include_dirs=[FIRMWARE], flags=CORTEX_M7, compiler=[gcc]
    )
    out = subprocess.run([size_tool, "-A", str(obj)], capture_output=True, text=True, check=True)
    sections = {
        parts[0]: int(parts[1])
        for parts in (line.split() for line in out.stdout.splitlines())
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit()
    }
    text = sum(v for k, v in sections.items() if k == ".text" or k.startswith(".text."))
    rodata = sum(v for k, v in sections.items() if k.startswith(".rodata"))
    bss_data = sum(v for k, v in sections.items() if k.startswith((".bss", ".data")))
    print(
        f"\ntinyslm_core.c on Cortex-M7 -Os: .text {text} B, .rodata {rodata} B,"
        f" data+bss {bss_data} B"
    )
    assert 0 < text < TEXT_BUDGET
    assert bss_data == 0  # no static state: everything is caller-owned
    nm = shutil.which("arm-none-eabi-nm")
    if nm is not None:
        # only what GCC itself turns loops into; no double-precision or
        # 64-bit division helpers on a single-precision FPU
        undefined = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True)
        names = {line.split()[-1] for line in undefined.stdout.splitlines() if line.strip()}
        assert names <= {"memset", "memcpy", "strlen"}, names
