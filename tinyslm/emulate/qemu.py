"""``tinyslm emulate --qemu``: the Cortex-M7 firmware image run under QEMU.

The image (:mod:`tinyslm.toolchain.cortex_m`) is what the STM32H7 board links, with
the glue for QEMU's ``mps2-an500`` machine. The input lines reach the firmware as a
host file read through Arm semihosting (so the firmware sees the end of input and
exits with a status); its UART output is captured from QEMU's first serial port.

QEMU runs with ``-icount shift=0``: the guest's virtual clock advances exactly 1 ns
per executed instruction, independent of the host, so the firmware's timings are
instruction counts. The glue times with SysTick on the 25 MHz CPU clock of
``mps2-an500``: one tick is 40 instructions, and the ``"us"`` of an answer is the
instructions executed in tokenize + inference + decision divided by 1000 (rounded
down, to within one tick). :func:`run_measured` also asks the glue for a record per
phrase on UART1 (QEMU's second serial port): ticks per phase, and per TFLM op.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tinyslm.emulate.native import device_lines
from tinyslm.errors import ToolchainError, output_tail
from tinyslm.toolchain.cortex_m import build_image, check_compilers, require_program

QEMU = "qemu-system-arm"
MACHINE = "mps2-an500"
CPU = "cortex-m7"
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
QEMU_HINT = "install QEMU's Arm system emulator, e.g. apt-get install qemu-system-arm"


def check_tools() -> None:
    """Raise a one-line ToolchainError when QEMU or the Arm cross compiler is missing."""
    require_program(QEMU, QEMU_HINT)
    check_compilers()


def stand_in_note(board_id: str) -> str | None:
    """A one-line note for a project whose board's CPU is not the Cortex-M7 QEMU runs:
    its answers check the project's C, its instruction counts are not that board's."""
    from tinyslm.boards import load_board
    from tinyslm.errors import BoardError

    try:
        cpu = load_board(board_id).cpu
    except BoardError:
        return None  # open_project already names an unknown board
    if cpu == CPU:
        return None
    return (
        f"note: --qemu runs the firmware built for Cortex-M7 (CMSIS-NN) on QEMU {MACHINE} as "
        f"a stand-in for this {board_id} project's {cpu} CPU: its answers check the project's "
        "C, its instruction counts are not the board's"
    )


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
    require_program(QEMU, QEMU_HINT)
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
