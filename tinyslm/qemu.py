"""``tinyslm emulate --qemu``: the firmware cross-compiled for Cortex-M7, run under QEMU.

Emulators are just another board: the project's own sources (core, settings,
model array, TFLM adapter; every ``src/*.c|*.cc`` but the board's ``main.cc``)
are compiled with ``arm-none-eabi-gcc``/``g++`` for ``cortex-m7`` with the
hard-float ABI, against a Cortex-M7 TFLM tree with CMSIS-NN kernels (what the
STM32H7 board links), and with the glue in ``tinyslm/emulator/qemu/`` instead of
``main.cc``: a startup file, a linker script for QEMU's ``mps2-an500`` machine
(Arm MPS2, AN500 Cortex-M7 image) and a main that writes the serial protocol to
CMSDK UART0. The input lines reach the firmware as a host file read through Arm
semihosting (so the firmware sees the end of input and exits with a status);
its UART output is captured from QEMU's first serial port.

TFLM's objects are cached per tree and flags by :mod:`tinyslm.native` (the same
cache folder; the compiler and flags are part of the key). CMSIS-NN's C sources,
like TFLM's kernels, are compiled only when the link asks for them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from tinyslm import native, tflm
from tinyslm.errors import ToolchainError

QEMU = "qemu-system-arm"
MACHINE = "mps2-an500"
CPU = "cortex-m7"
ARM_CC = "arm-none-eabi-gcc"
ARM_CXX = "arm-none-eabi-g++"
ARM_SIZE = "arm-none-eabi-size"
# The STM32H7 board's core: Cortex-M7 with the double-precision FPv5 FPU, hard-float ABI.
TARGET_FLAGS = ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard")
# -Os as PlatformIO builds the board; sections so the link drops what is unused.
COMMON_FLAGS = ("-Os", "-ffunction-sections", "-fdata-sections")
CXXFLAGS = ("-std=c++17", "-fno-exceptions", "-fno-rtti", *COMMON_FLAGS)
CFLAGS = ("-std=c99", *COMMON_FLAGS)
GLUE_DIR = Path(__file__).resolve().parent / "emulator" / "qemu"
LINKER_SCRIPT = GLUE_DIR / "mps2_an500.ld"
GLUE_SOURCES = (GLUE_DIR / "startup.c", GLUE_DIR / "mps2_an500_main.c")
# CMSIS-NN's C sources, like the kernels, are compiled only when the link needs them.
LAZY_PREFIXES = ("tensorflow/lite/micro/kernels/", "third_party/cmsis_nn/Source/")
INPUT_NAME = "input.bin"
OUTPUT_NAME = "uart0.bin"
RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ImageSize:
    """Section sizes of the firmware image in bytes (``arm-none-eabi-size``, Berkeley)."""

    text: int
    data: int
    bss: int


def _require(program: str, hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolchainError(f"{program} not found on PATH ({hint})")
    return path


def check_tools() -> None:
    """Raise a one-line ToolchainError when QEMU or the Arm cross compiler is missing."""
    _require(QEMU, "install QEMU's Arm system emulator, e.g. apt-get install qemu-system-arm")
    for program in (ARM_CC, ARM_CXX):
        _require(program, "install the Arm GNU toolchain, e.g. apt-get install gcc-arm-none-eabi")


def resolve_cortex_m_tree(tflm_dir: Path | None) -> Path:
    """``tflm_dir``, else the ``tinyslm tflm fetch`` cache; it must be a Cortex-M tree.

    Raises:
        ToolchainError: no tree (one line saying how to get one), or a host tree.
    """
    tree = tflm.resolve_tree(tflm_dir, target="cortex-m7")
    if tree is None:
        raise ToolchainError(tflm.missing_tree_hint("cortex-m7"))
    if not tflm.is_cortex_m_tree(tree):
        raise ToolchainError(
            f"{tree} is a host (reference-kernel) TFLM tree; --qemu needs a Cortex-M7 tree "
            "with CMSIS-NN (what 'tinyslm tflm fetch' makes)"
        )
    return tree


def _defines(tree: Path) -> tuple[str, ...]:
    # Exactly the -D flags the board's lib/tflm/library.json gives TFLM (CMSIS_NN,
    # PROJECT_GENERATION, ...), so the image is built as the board builds it.
    build = cast(dict[str, list[str]], tflm._library_json(tree)["build"])
    return tuple(flag[2:] for flag in build["flags"] if flag.startswith("-D"))


def cortex_m7_toolchain(tree: Path) -> native.Toolchain:
    """The Cortex-M7 build for QEMU's mps2-an500."""
    return native.Toolchain(
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
        board_sources=GLUE_SOURCES,
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
    check_tools()
    sources = native.project_sources(project_dir)
    tree = resolve_cortex_m_tree(tflm_dir)
    return native.build_firmware(
        sources, tree, out, cortex_m7_toolchain(tree), cache_dir=cache_dir, jobs=jobs
    )


def image_size(elf: Path) -> ImageSize:
    """text/data/bss of ``elf`` as ``arm-none-eabi-size`` reports them.

    Raises:
        ToolchainError: the tool is missing or cannot read the file.
    """
    size = _require(ARM_SIZE, "it comes with the Arm GNU toolchain")
    proc = subprocess.run(
        [size, "-B", str(elf)], capture_output=True, text=True, errors="replace", check=False
    )
    rows = proc.stdout.splitlines()
    if proc.returncode != 0 or len(rows) < 2:
        raise ToolchainError(f"{ARM_SIZE} cannot read {elf}: {proc.stderr.strip()[-200:]}")
    text, data, bss = (int(v) for v in rows[1].split()[:3])
    return ImageSize(text=text, data=data, bss=bss)


def qemu_command(image: Path) -> list[str]:
    """The QEMU command line that runs ``image``, in a folder holding INPUT_NAME.

    Paths are relative to QEMU's working folder: semihosting opens ``input.bin``
    there and UART0 is written to ``uart0.bin``.
    """
    return [
        QEMU,
        "-machine",
        MACHINE,
        "-cpu",
        CPU,
        "-display",
        "none",
        "-monitor",
        "none",
        "-nodefaults",
        "-serial",
        f"file:{OUTPUT_NAME}",
        "-semihosting-config",
        f"enable=on,target=native,arg=firmware,arg={INPUT_NAME}",
        "-kernel",
        str(image),
    ]


def run_image(image: Path, lines: Sequence[bytes], *, timeout: float = RUN_TIMEOUT_S) -> list[str]:
    """Run a built image under QEMU with ``lines`` (each without terminator) as serial input.

    Raises:
        ToolchainError: QEMU is missing, timed out, or the firmware exited non-zero
            (its last output line, e.g. a fault report, is in the message).
    """
    _require(QEMU, "install QEMU's Arm system emulator, e.g. apt-get install qemu-system-arm")
    with tempfile.TemporaryDirectory(prefix="tinyslm-qemu-") as tmp:
        work = Path(tmp)
        (work / INPUT_NAME).write_bytes(b"".join(bytes(line) + b"\n" for line in lines))
        try:
            proc = subprocess.run(
                qemu_command(Path(image).resolve()),
                cwd=work,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolchainError(
                f"the firmware under QEMU did not finish within {timeout:.0f} s"
            ) from exc
        uart = work / OUTPUT_NAME
        raw = uart.read_bytes() if uart.is_file() else b""
    out = raw.decode("utf-8", errors="replace").splitlines()
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        last = out[-1] if out else stderr[-200:]
        raise ToolchainError(
            f"the firmware under QEMU exited with status {proc.returncode}: {last}"
        )
    return out


def run_qemu(
    project_dir: Path,
    tflm_dir: Path | None,
    lines: Sequence[bytes],
    *,
    cache_dir: Path | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> list[str]:
    """Build the project for Cortex-M7 and send ``lines`` through QEMU; return its lines.

    The image is rebuilt for every call (the project's sources only; TFLM's objects
    come from the cache), so edits to the project are always picked up.

    Raises:
        ProjectError: not a usable project.
        ToolchainError: no QEMU, Arm compiler or Cortex-M tree; a failed build; or the
            firmware crashed or hung.
    """
    with tempfile.TemporaryDirectory(prefix="tinyslm-qemu-build-") as tmp:
        image = build_image(project_dir, tflm_dir, Path(tmp) / "firmware.elf", cache_dir=cache_dir)
        return run_image(image, lines, timeout=timeout)
