"""Drive PlatformIO for a generated project: build, read sizes, compare, upload.

``tinyslm build DIR`` runs ``pio run -d DIR`` (the environment comes from the
project's ``platformio.ini``), reads PlatformIO's ``RAM:`` / ``Flash:`` usage
lines and sets them against the board's flash and RAM (``boards/<id>.yaml``).
``tinyslm flash DIR`` runs ``pio run -d DIR -t upload``.

PlatformIO downloads platforms and toolchains on first use, so a machine
without access to its registry fails early; that case gets its own one-line
message. Any other failure keeps PlatformIO's last lines for the user
(:class:`PioError.tail`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tinyslm.errors import BudgetError, ProjectError, ToolchainError
from tinyslm.project import PLATFORMIO_INI, Project, open_project

TAIL_LINES = 15

# What pio 6.x prints when it cannot download a platform, tool or library: seen
# offline as "Platform Manager: Installing espressif32 @ 6.9.0" then
# "HTTPClientError:"; the others are requests/urllib3 and pio's own variants.
_OFFLINE_PATTERNS = (
    "HTTPClientError",
    "InternetIsOffline",
    "ConnectionError",
    "NewConnectionError",
    "Max retries exceeded",
    "Could not resolve host",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Failed to establish a new connection",
    "You are not connected to the Internet",
)

_SIZE_LINE = re.compile(
    r"^(RAM|Flash):\s*\[[^\]]*\]\s*[\d.]+%\s*\(used\s+(\d+)\s+bytes\s+from\s+(\d+)\s+bytes\)",
    re.MULTILINE,
)


class PioError(ToolchainError):
    """``pio`` failed; ``tail`` holds PlatformIO's last output lines."""

    def __init__(self, message: str, tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.tail = tuple(tail)


@dataclass(frozen=True)
class MemoryUse:
    """One PlatformIO size line, set against the board.

    Attributes:
        region: ``RAM`` or ``Flash``.
        used: bytes used (PlatformIO's figure).
        pio_total: the total PlatformIO compares with (static RAM / app partition).
        board_bytes: the board's capacity from ``boards/<id>.yaml`` (None if unknown).
    """

    region: str
    used: int
    pio_total: int
    board_bytes: int | None


@dataclass(frozen=True)
class BuildResult:
    project: Path
    board: str
    ram: MemoryUse | None
    flash: MemoryUse | None
    seconds: float
    output: str


def find_pio() -> str:
    """The ``pio`` executable: on PATH, else next to this Python (a venv's bin/).

    Raises:
        ToolchainError: neither exists.
    """
    for name in ("pio", "platformio"):
        found = shutil.which(name)
        if found:
            return found
    bindir = Path(sys.executable).parent
    for name in ("pio", "platformio"):
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ToolchainError(
        "PlatformIO ('pio') not found on PATH or next to Python; install it with "
        "'pip install platformio'"
    )


def _is_offline(output: str) -> bool:
    return any(p in output for p in _OFFLINE_PATTERNS)


def _tail(output: str, n: int = TAIL_LINES) -> list[str]:
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    return lines[-n:]


def run_pio(args: Sequence[str], project: Project, what: str) -> str:
    """Run ``pio <args>``; return its combined output.

    Raises:
        ToolchainError: pio is missing, or its registry cannot be reached.
        PioError: any other failure (with PlatformIO's last lines).
    """
    pio = find_pio()
    env = dict(os.environ)
    env.setdefault("PLATFORMIO_DISABLE_PROGRESSBAR", "true")
    try:
        proc = subprocess.run(
            [pio, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            check=False,
        )
    except OSError as exc:
        raise ToolchainError(f"cannot run {pio}: {exc.strerror or exc}") from None
    output = proc.stdout or ""
    if proc.returncode != 0:
        if _is_offline(output):
            raise ToolchainError(
                f"PlatformIO could not reach its registry to download the platform, toolchain "
                f"or libraries for {project.root} (no network?); run '{what}' on a networked "
                "machine once, after that it works offline"
            )
        raise PioError(
            f"PlatformIO failed ({what}, exit code {proc.returncode}); its last lines are above",
            _tail(output),
        )
    return output


def parse_sizes(output: str) -> dict[str, tuple[int, int]]:
    """``{"RAM": (used, total), "Flash": (used, total)}`` from pio's size lines (last wins)."""
    sizes: dict[str, tuple[int, int]] = {}
    for m in _SIZE_LINE.finditer(output):
        sizes[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return sizes


def _board_capacity(board_id: str) -> tuple[int | None, int | None]:
    """(flash bytes, RAM bytes) of the board, from ``boards/<id>.yaml``."""
    from tinyslm import boards

    board = boards.load_board(board_id)
    return board.flash_kb * 1024, board.ram_kb * 1024


def build(project_dir: Path | str) -> BuildResult:
    """Build the project with PlatformIO and check its size against the board.

    Raises:
        ProjectError: not a tinyslm project, or no platformio.ini.
        ToolchainError / PioError: PlatformIO is missing, offline or failed.
        BudgetError: the image needs more flash or RAM than the board has.
    """
    project = _open(project_dir)
    flash_cap, ram_cap = _board_capacity(project.board)
    start = time.perf_counter()
    output = run_pio(["run", "-d", str(project.root)], project, f"tinyslm build {project.root}")
    seconds = time.perf_counter() - start
    sizes = parse_sizes(output)
    ram = MemoryUse("RAM", *sizes["RAM"], ram_cap) if "RAM" in sizes else None
    flash = MemoryUse("Flash", *sizes["Flash"], flash_cap) if "Flash" in sizes else None
    for use in (ram, flash):
        if use is not None and use.board_bytes is not None and use.used > use.board_bytes:
            raise BudgetError(
                f"{project.root}: the image uses {use.used} bytes of {use.region}, more than "
                f"the {project.board} board's {use.board_bytes}"
            )
    return BuildResult(project.root, project.board, ram, flash, seconds, output)


def upload(project_dir: Path | str, port: str | None = None) -> str:
    """Build and upload with ``pio run -t upload``; return PlatformIO's output.

    Raises:
        ProjectError, ToolchainError, PioError: as :func:`build`.
    """
    project = _open(project_dir)
    args = ["run", "-d", str(project.root), "-t", "upload"]
    if port:
        args += ["--upload-port", port]
    return run_pio(args, project, f"tinyslm flash {project.root}")


def _open(project_dir: Path | str) -> Project:
    project = open_project(project_dir)
    if not (project.root / PLATFORMIO_INI).is_file():
        raise ProjectError(f"{project.root}: no {PLATFORMIO_INI} (regenerate the project)")
    return project


def format_usage(use: MemoryUse) -> str:
    """``RAM    17032 B  (5.2% of 327680 B static, board 320 KB)``."""
    pct = 100.0 * use.used / use.pio_total if use.pio_total else 0.0
    text = f"{use.region + ':':7}{use.used:>9} B used ({pct:.1f}% of PlatformIO's {use.pio_total} B"
    if use.board_bytes is not None:
        text += f"; board {use.board_bytes // 1024} KB, {100.0 * use.used / use.board_bytes:.1f}%"
    return text + ")"
