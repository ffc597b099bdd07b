"""``tinyslm emulate --qemu``: the firmware cross-compiled for Cortex-M7, run under QEMU.

Emulators are just another board: the project's own sources (core, settings,
model array, TFLM adapter; every ``src/*.c|*.cc`` but the board's ``main.cc``)
are compiled with ``arm-none-eabi-gcc``/``g++`` for ``cortex-m7`` with the
hard-float ABI, against a Cortex-M7 TFLM tree with CMSIS-NN kernels (what the
STM32H7 board links), and with the glue in ``tinyslm/emulate/glue/qemu/`` instead of
``main.cc``: a startup file, a linker script for QEMU's ``mps2-an500`` machine
(Arm MPS2, AN500 Cortex-M7 image) and a main that writes the serial protocol to
CMSDK UART0. The input lines reach the firmware as a host file read through Arm
semihosting (so the firmware sees the end of input and exits with a status);
its UART output is captured from QEMU's first serial port.

QEMU runs with ``-icount shift=0``: the guest's virtual clock advances exactly 1 ns
per executed instruction, independent of the host, so the firmware's timings are
instruction counts. The glue times with SysTick on the 25 MHz CPU clock of
``mps2-an500``: one tick is 40 instructions, and the ``"us"`` of an answer is the
instructions executed in tokenize + inference + decision divided by 1000 (rounded
down, to within one tick). :func:`run_measured` also asks the glue for a record per
phrase on UART1 (QEMU's second serial port): ticks per phase, and per TFLM op.

TFLM's objects are cached per tree and flags by :mod:`tinyslm.toolchain.native` (the same
cache folder; the compiler and flags are part of the key). CMSIS-NN's C sources,
like TFLM's kernels, are compiled only when the link asks for them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from tinyslm.errors import ToolchainError, output_tail
from tinyslm.toolchain import native, tflm

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
GLUE_DIR = Path(__file__).resolve().parent.parent / "emulate" / "glue" / "qemu"
LINKER_SCRIPT = GLUE_DIR / "mps2_an500.ld"
GLUE_SOURCES = (
    GLUE_DIR / "startup.c",
    GLUE_DIR / "mps2_an500_main.c",
    GLUE_DIR / "profiler.cc",
)
# CMSIS-NN's C sources, like the kernels, are compiled only when the link needs them.
LAZY_PREFIXES = ("tensorflow/lite/micro/kernels/", "third_party/cmsis_nn/Source/")
INPUT_NAME = "input.bin"
OUTPUT_NAME = "uart0.bin"
MEASURE_NAME = "uart1.bin"
# Deterministic instruction counting: 2**0 ns of virtual time per guest instruction;
# sleep=off so an idle guest cannot let host time into the virtual clock.
ICOUNT = "shift=0,sleep=off"
# SysTick runs on mps2-an500's 25 MHz SYSCLK: 40 ns, i.e. 40 instructions, per tick.
INSTRUCTIONS_PER_TICK = 40
MeasureMode = Literal["phases", "ops"]
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
        raise ToolchainError(f"{ARM_SIZE} cannot read {elf}: {output_tail(proc.stderr)}")
    text, data, bss = (int(v) for v in rows[1].split()[:3])
    return ImageSize(text=text, data=data, bss=bss)


@dataclass(frozen=True)
class PhraseMeasure:
    """Instructions one answered phrase took, from the glue's UART1 record.

    Each figure is SysTick ticks times INSTRUCTIONS_PER_TICK, so exact to within
    one tick (40 instructions). ``ops`` (TFLM op name, instructions within Invoke)
    is empty unless the run was in "ops" mode.
    """

    tokenize: int
    inference: int
    decision: int
    ops: tuple[tuple[str, int], ...] = ()

    @property
    def total(self) -> int:
        """tokenize + inference + decision: the window the answer's "us" measures."""
        return self.tokenize + self.inference + self.decision


@dataclass(frozen=True)
class MeasuredRun:
    """The device's output lines and one PhraseMeasure per answered phrase, in order."""

    lines: tuple[str, ...]
    phrases: tuple[PhraseMeasure, ...]


def qemu_command(image: Path, mode: MeasureMode | None = None) -> list[str]:
    """The QEMU command line that runs ``image``, in a folder holding INPUT_NAME.

    Paths are relative to QEMU's working folder: semihosting opens ``input.bin``
    there, UART0 is written to ``uart0.bin`` and UART1 (measurements, with
    ``mode``) to ``uart1.bin``.
    """
    args = f"enable=on,target=native,arg=firmware,arg={INPUT_NAME}"
    if mode is not None:
        args += f",arg={mode}"
    return [
        QEMU,
        "-machine",
        MACHINE,
        "-cpu",
        CPU,
        "-icount",
        ICOUNT,
        "-display",
        "none",
        "-monitor",
        "none",
        "-nodefaults",
        "-serial",
        f"file:{OUTPUT_NAME}",
        "-serial",
        f"file:{MEASURE_NAME}",
        "-semihosting-config",
        args,
        "-kernel",
        str(image),
    ]


def device_lines(raw: bytes) -> list[str]:
    """The device's output split on ``\\n`` bytes only, each line decoded on its own.

    ``str.splitlines`` would also split on U+0085, U+2028 and U+2029, which the
    firmware passes through unescaped inside an escalated ``"text"``.
    """
    parts = raw.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [part.decode("utf-8", errors="replace") for part in parts]


def _instructions(ticks: object) -> int:
    if not isinstance(ticks, int) or ticks < 0:
        raise ToolchainError(f"bad measurement from the firmware under QEMU: {ticks!r}")
    return ticks * INSTRUCTIONS_PER_TICK


def parse_measurements(lines: Sequence[str]) -> tuple[PhraseMeasure, ...]:
    """PhraseMeasures from the glue's UART1 lines (calibration line first).

    Raises:
        ToolchainError: a malformed record, or a calibration that disagrees with
            INSTRUCTIONS_PER_TICK (QEMU not counting instructions as assumed).
    """
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ToolchainError(f"bad measurement line from the firmware: {line[:80]!r}") from exc
    if not records or "calibration" not in records[0]:
        raise ToolchainError("the firmware under QEMU wrote no calibration line")
    cal = records[0]["calibration"]
    ticks = cal["ticks"]
    if not ticks or round(cal["instructions"] / ticks) != INSTRUCTIONS_PER_TICK:
        raise ToolchainError(
            f"QEMU ran {cal['instructions']} instructions in {ticks} SysTick ticks, not "
            f"{INSTRUCTIONS_PER_TICK} per tick: is -icount shift=0 in effect?"
        )
    return tuple(
        PhraseMeasure(
            tokenize=_instructions(r["tokenize"]),
            inference=_instructions(r["inference"]),
            decision=_instructions(r["decision"]),
            ops=tuple((str(name), _instructions(t)) for name, t in r.get("ops", [])),
        )
        for r in records[1:]
    )


def run_image(image: Path, lines: Sequence[bytes], *, timeout: float = RUN_TIMEOUT_S) -> list[str]:
    """Run a built image under QEMU with ``lines`` (each without terminator) as serial input.

    Raises:
        ToolchainError: QEMU is missing, timed out, or the firmware exited non-zero
            (its last output line, e.g. a fault report, is in the message).
    """
    out, _ = _run(image, lines, None, timeout)
    return out


def run_measured(
    image: Path,
    lines: Sequence[bytes],
    mode: MeasureMode = "phases",
    *,
    timeout: float = RUN_TIMEOUT_S,
) -> MeasuredRun:
    """Like :func:`run_image`, with the instructions each answered phrase took.

    ``mode="ops"`` adds per-op figures from TFLM's profiler hook, whose own calls
    add a few instructions per op to ``inference``: take phase figures from a
    ``"phases"`` run.

    Raises:
        ToolchainError: as run_image, or malformed measurements.
    """
    out, measured = _run(image, lines, mode, timeout)
    return MeasuredRun(lines=tuple(out), phrases=parse_measurements(measured))


def _run(
    image: Path, lines: Sequence[bytes], mode: MeasureMode | None, timeout: float
) -> tuple[list[str], list[str]]:
    _require(QEMU, "install QEMU's Arm system emulator, e.g. apt-get install qemu-system-arm")
    with tempfile.TemporaryDirectory(prefix="tinyslm-qemu-") as tmp:
        work = Path(tmp)
        (work / INPUT_NAME).write_bytes(b"".join(bytes(line) + b"\n" for line in lines))
        try:
            proc = subprocess.run(
                qemu_command(Path(image).resolve(), mode),
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
        uart1 = work / MEASURE_NAME
        measured = device_lines(uart1.read_bytes()) if uart1.is_file() else []
    out = device_lines(raw)
    if proc.returncode != 0:
        last = next((line for line in reversed(out) if line.strip()), output_tail(proc.stderr, 2))
        raise ToolchainError(
            f"the firmware under QEMU exited with status {proc.returncode}: {last}"
        )
    return out, measured


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
