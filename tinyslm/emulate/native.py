"""``tinyslm emulate --native``: a generated project's whole firmware, run on the host.

The firmware is built by :func:`tinyslm.toolchain.host.build_native`: the project's
own sources and a reference-kernel TFLM tree, linked with
``tinyslm/emulate/glue/native_main.c``, which plays the board (stdin is the serial
RX line, stdout the TX line). So the adapter, the op resolver and the arena size
are exercised with real TFLM C++, not the Python runtime.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tinyslm.errors import ToolchainError, output_tail
from tinyslm.toolchain.host import build_native

RUN_TIMEOUT_S = 120.0


def device_lines(output: bytes) -> list[str]:
    """The device's TX bytes as its lines: split on LF only, then decoded.

    The protocol ends a line with LF alone. ``str.splitlines()`` would also split on
    U+0085 (NEL), U+2028 and U+2029, which are legal inside a JSON string: the core
    passes NEL through verbatim in the ``"text"`` of an escalated answer, and one
    answer must stay one line.
    """
    lines = output.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the terminator of the last line, not an empty line after it
    return [line.decode("utf-8", errors="replace") for line in lines]


def run_native(
    project_dir: Path,
    tflm_dir: Path,
    lines: Sequence[bytes],
    *,
    cache_dir: Path | None = None,
    timeout: float = RUN_TIMEOUT_S,
) -> list[str]:
    """Send ``lines`` (each without its terminator) to the native firmware; return its lines.

    The firmware is relinked for every call; its objects come from the cache, the
    project's own keyed by their bytes and headers, so edits are always picked up.

    Raises:
        ProjectError: not a usable project.
        ToolchainError: no usable tree or compiler, a failed build, or the
            firmware crashed or hung (its last output is in the message).
    """
    with tempfile.TemporaryDirectory(prefix="tinyslm-native-") as tmp:
        binary = build_native(project_dir, tflm_dir, Path(tmp) / "firmware", cache_dir=cache_dir)
        return run_binary(binary, b"".join(bytes(line) + b"\n" for line in lines), timeout)


def run_binary(binary: Path, stdin: bytes, timeout: float) -> list[str]:
    """Run a native firmware on ``stdin``; its output lines (text and keyword firmware).

    Raises:
        ToolchainError: it hung past ``timeout`` or exited non-zero (its last line said).
    """
    try:
        proc = subprocess.run(
            [str(binary)], input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"native firmware did not answer within {timeout:.0f} s") from exc
    out = device_lines(proc.stdout)
    if proc.returncode != 0:
        last = out[-1] if out else output_tail(proc.stderr, 2)
        raise ToolchainError(f"native firmware exited with status {proc.returncode}: {last}")
    return out
