"""The Cortex-M7 firmware image for QEMU's ``mps2-an500`` machine, and Arm tool checks.

The project's own sources (core, settings, model array, TFLM adapter; every
``src/*.c|*.cc`` but the board's ``main.cc``) are compiled with
``arm-none-eabi-gcc``/``g++`` for ``cortex-m7`` with the hard-float ABI, against a
Cortex-M7 TFLM tree with CMSIS-NN kernels (what the STM32H7 board links), and with
the glue in ``tinyslm/emulate/glue/qemu/`` instead of ``main.cc``: a startup file,
a linker script for ``mps2-an500`` (Arm MPS2, AN500 Cortex-M7 image) and a main
that writes the serial protocol to CMSDK UART0. :mod:`tinyslm.emulate.qemu` runs it.

TFLM's objects are cached per tree and flags by :mod:`tinyslm.toolchain.host` (the
same cache folder; the compiler and flags are part of the key). CMSIS-NN's C
sources, like TFLM's kernels, are compiled only when the link asks for them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from tinyslm.errors import ToolchainError, output_tail
from tinyslm.toolchain import host, tflm

ARM_CC = "arm-none-eabi-gcc"
ARM_CXX = "arm-none-eabi-g++"
ARM_SIZE = "arm-none-eabi-size"
# The STM32H7 board's core: Cortex-M7 with the double-precision FPv5 FPU, hard-float ABI.
TARGET_FLAGS = ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard")
# -Os as PlatformIO builds the board; sections so the link drops what is unused.
COMMON_FLAGS = ("-Os", "-ffunction-sections", "-fdata-sections")
CXXFLAGS = ("-std=c++17", "-fno-exceptions", "-fno-rtti", *COMMON_FLAGS)
CFLAGS = ("-std=c99", *COMMON_FLAGS)
GLUE_DIR = Path(__file__).resolve().parent.parent / "emulate" / "glue" / "qemu"
LINKER_SCRIPT = GLUE_DIR / "mps2_an500.ld"
# startup.c: vectors and faults; mps2_an500_board.c: UART, SysTick, semihosting.
BOARD_SOURCES = (GLUE_DIR / "startup.c", GLUE_DIR / "mps2_an500_board.c")
GLUE_SOURCES = (*BOARD_SOURCES, GLUE_DIR / "mps2_an500_main.c", GLUE_DIR / "profiler.cc")
# A keyword project's main: the same board I/O feeding its keyword app; the builder
# swaps it in by the project's modality.
KWS_GLUE_SOURCES = (*BOARD_SOURCES, GLUE_DIR / "mps2_an500_kws_main.c")
# CMSIS-NN's C sources, like the kernels, are compiled only when the link needs them.
LAZY_PREFIXES = ("tensorflow/lite/micro/kernels/", "third_party/cmsis_nn/Source/")


@dataclass(frozen=True)
class ImageSize:
    """Section sizes of the firmware image in bytes (``arm-none-eabi-size``, Berkeley)."""

    text: int
    data: int
    bss: int


def require_program(program: str, hint: str) -> str:
    """The path of ``program`` on PATH.

    Raises:
        ToolchainError: it is missing (one line with ``hint``).
    """
    path = shutil.which(program)
    if path is None:
        raise ToolchainError(f"{program} not found on PATH ({hint})")
    return path


def check_compilers() -> None:
    """Raise a one-line ToolchainError when the Arm cross compiler is missing."""
    for program in (ARM_CC, ARM_CXX):
        require_program(
            program, "install the Arm GNU toolchain, e.g. apt-get install gcc-arm-none-eabi"
        )


def resolve_cortex_m_tree(tflm_dir: Path | None, project_dir: Path | None = None) -> Path:
    """``tflm_dir``, else the project's own ``lib/tflm`` (what the board build compiles),
    else the ``tinyslm tflm fetch`` cache; it must be a Cortex-M tree.

    Raises:
        ToolchainError: no tree (one line saying how to get one), or a host tree.
        ProjectError: the project's own ``lib/tflm`` is one ``tinyslm build`` refuses
            (build's own line).
    """
    own = project_dir / "lib" / "tflm" if project_dir is not None else None
    # A dangling link or a file where the tree should be: build refuses it, and QEMU
    # silently ran the fetch cache's tree instead (or named only that).
    stray = own is not None and os.path.lexists(own) and not own.is_dir()
    if tflm_dir is None and project_dir is not None and own is not None and stray:
        _refuse_what_build_refuses(project_dir, own)
    from_project = tflm_dir is None and own is not None and own.is_dir()
    if from_project:
        # An STM32H7 project carries its tree: QEMU ran the fetch cache's instead, or
        # refused for want of one, so a broken lib/tflm emulated fine and failed on pio.
        tflm_dir = own
    tree = tflm.resolve_tree(tflm_dir, target="cortex-m7")
    if tree is None:
        raise ToolchainError(tflm.missing_tree_hint("cortex-m7"))
    tree = tflm.check_cortex_m_tree(tree, "--qemu")
    if from_project and project_dir is not None and own is not None:
        _refuse_what_build_refuses(project_dir, own)
    return tree


def _refuse_what_build_refuses(project_dir: Path, own: Path) -> None:
    """Refuse the project's own ``lib/tflm`` when ``tinyslm build`` would, with build's
    line: a tree without its ``library.json`` (a symlink to the tree it was generated
    from) ran under QEMU, with defines made up in place of that file's, while build
    refused it, so "what the board build compiles" was untrue of what QEMU ran. The
    check is build's own (:func:`tinyslm.toolchain.tflm.installed_tree_problem`, then
    the project checks that word the line), not a copy of it.

    Raises:
        ProjectError: build's refusal.
    """
    if tflm.installed_tree_problem(own) is None:
        return
    from tinyslm.toolchain import build

    # Raises build's line (with the regenerate command) for a board that builds TFLM from
    # lib/tflm; a board that does not (ESP32: the component) refuses nothing here.
    build.open_checked(project_dir)


def _defines(tree: Path) -> tuple[str, ...]:
    # Exactly the -D flags the board's lib/tflm/library.json gives TFLM (CMSIS_NN,
    # PROJECT_GENERATION, ...), so the image is built as the board builds it.
    build = cast(dict[str, list[str]], tflm._library_json(tree)["build"])
    return tuple(flag[2:] for flag in build["flags"] if flag.startswith("-D"))


def cortex_m7_toolchain(tree: Path, glue: tuple[Path, ...] = GLUE_SOURCES) -> host.Toolchain:
    """The Cortex-M7 build for QEMU's mps2-an500 (``glue``: KWS_GLUE_SOURCES for keywords)."""
    return host.Toolchain(
        name="qemu",
        cc=(ARM_CC, *TARGET_FLAGS),
        cxx=(ARM_CXX, *TARGET_FLAGS),
        cflags=CFLAGS,
        cxxflags=CXXFLAGS,
        defines=_defines(tree),
        # Own startup and vector table (no crt0); newlib's nosys stubs; unused sections dropped.
        ldflags=(
            f"-T{LINKER_SCRIPT}",
            "-nostartfiles",
            "--specs=nosys.specs",
            "-Wl,--gc-sections",
            "-lm",
        ),
        board_sources=glue,
        lazy_prefixes=LAZY_PREFIXES,
    )


def build_image(
    project_dir: Path,
    tflm_dir: Path | None,
    out: Path,
    *,
    cache_dir: Path | None = None,
    jobs: int | None = None,
) -> Path:
    """Build the project's Cortex-M7 firmware image (ELF) for QEMU at ``out``.

    Raises:
        ProjectError: not a usable project.
        ToolchainError: no Arm compiler, no Cortex-M tree, or a failed compile or link.
    """
    check_compilers()
    sources = host.project_sources(project_dir)
    tree = resolve_cortex_m_tree(tflm_dir, project_dir)
    glue = KWS_GLUE_SOURCES if host.project_modality(project_dir) == "audio" else GLUE_SOURCES
    return host.build_firmware(
        sources, tree, out, cortex_m7_toolchain(tree, glue), cache_dir=cache_dir, jobs=jobs
    )


def image_size(elf: Path) -> ImageSize:
    """text/data/bss of ``elf`` as ``arm-none-eabi-size`` reports them.

    Raises:
        ToolchainError: the tool is missing or cannot read the file.
    """
    size = require_program(ARM_SIZE, "it comes with the Arm GNU toolchain")
    proc = subprocess.run(
        [size, "-B", str(elf)], capture_output=True, text=True, errors="replace", check=False
    )
    rows = proc.stdout.splitlines()
    if proc.returncode != 0 or len(rows) < 2:
        raise ToolchainError(f"{ARM_SIZE} cannot read {elf}: {output_tail(proc.stderr)}")
    text, data, bss = (int(v) for v in rows[1].split()[:3])
    return ImageSize(text=text, data=data, bss=bss)
