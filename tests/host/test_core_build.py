"""The text firmware's C core builds cleanly everywhere it has to run.

Each C file (firmware/common/tinyslm_json.c, tinyslm_gate.c, firmware/text/
tinyslm_tokenizer.c, tinyslm_core.c) with strict C99 warnings under gcc and
clang, the headers from C++, and a Cortex-M7 cross compile of the whole core
(the objects linked into one) whose .text size is printed and bounded (a test
can see the figure with ``pytest -s``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from core_harness import CORE_SOURCES, INCLUDE_DIRS, WARN_FLAGS
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
@pytest.mark.parametrize("source", CORE_SOURCES, ids=lambda p: p.name)
def test_core_compiles_without_warnings(compiler: str, source: Path, tmp_path: Path) -> None:
    _need(compiler)
    obj = ccompile.compile_object(
        source,
        tmp_path / f"{source.stem}.o",
        include_dirs=list(INCLUDE_DIRS),
        flags=STRICT,
        compiler=[compiler],
    )
    assert obj.stat().st_size > 0


def test_headers_compile_as_cxx(tmp_path: Path) -> None:
    """What C++ board glue calls: the text umbrella header (tokenizer, gate, JSON writer)."""
    cxx = _need("g++")
    src = tmp_path / "use_header.cc"
    src.write_text(
        '#include "tinyslm_core.h"\n'
        'extern "C" size_t probe(const tinyslm_features_t *s, const uint8_t *t, int32_t *ids) {\n'
        "  return tinyslm_tokenize(s, t, 1, ids);\n}\n"
        'extern "C" uint32_t probe_gate(const tinyslm_gate_t *g, const int8_t *scores) {\n'
        "  return tinyslm_gate_decide(g, scores).score_milli;\n}\n"
        'extern "C" void probe_json(tinyslm_write_fn write) {\n'
        "  tinyslm_json_t o;\n"
        "  tinyslm_json_begin(&o, write, nullptr);\n"
        '  tinyslm_json_string(&o, "x");\n'
        "  tinyslm_json_end_line(&o);\n}\n"
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
        src, tmp_path / "use.o", include_dirs=list(INCLUDE_DIRS), flags=flags, compiler=[cxx]
    )


@pytest.mark.toolchain
def test_cortex_m7_build_and_size(tmp_path: Path) -> None:
    gcc = _need("arm-none-eabi-gcc")
    size_tool = _need("arm-none-eabi-size")
    objects = [
        ccompile.compile_object(
            source,
            tmp_path / f"{source.stem}_m7.o",
            include_dirs=list(INCLUDE_DIRS),
            flags=CORTEX_M7,
            compiler=[gcc],
        )
        for source in CORE_SOURCES
    ]
    # One relocatable object: the calls between the core's files are resolved, so
    # what stays undefined is what the core needs from the board's libc.
    obj = tmp_path / "core_m7.o"
    subprocess.run(
        [gcc, *CORTEX_M7[:4], "-r", "-nostdlib", "-o", str(obj), *map(str, objects)],
        check=True,
        capture_output=True,
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
        f"\nC core ({', '.join(p.name for p in CORE_SOURCES)}) on Cortex-M7 -Os:"
        f" .text {text} B, .rodata {rodata} B, data+bss {bss_data} B"
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
