"""TFLM's Python runtime: int8 scores, and the smallest arena a model runs in.

Everything integer here runs on ``tflite_micro.runtime.Interpreter`` (TFLM's own
kernels), never on desktop TFLite, whose FULLY_CONNECTED can differ from TFLM by
one LSB: the firmware runs TFLM, so TFLM is the reference.

- :func:`tflm_scores`: int8 score vectors for many id rows (verify's figures, the
  emulator's phrase-by-phrase reference).
- :func:`min_arena_bytes`, :func:`arena_fits`: the arena search, probed in
  subprocesses (``python -m tinyslm._arena_probe``) because a too-small arena can
  crash the TFLM Python runtime.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.errors import ModelError
from tinyslm.flatbuffer import io_details
from tinyslm.manifest import ARENA_ALIGN, align_arena

# A generous arena for scoring when the caller has not measured one yet.
DEFAULT_ARENA_MIN = 256 * 1024
# Phrases between progress reports while scoring a large set on TFLM.
PROGRESS_ROWS = 20_000
# Upper bound of the arena search; a phrase classifier needing more is a bug.
ARENA_SEARCH_MAX = 64 * 1024 * 1024


def _interpreter(model_bytes: bytes, arena_bytes: int | None) -> Any:
    from tflite_micro import runtime

    size = arena_bytes if arena_bytes is not None else max(DEFAULT_ARENA_MIN, 10 * len(model_bytes))
    try:
        return runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=int(size))
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"TFLM could not load the model with a {size}-byte arena: {exc}") from exc


def tflm_scores(
    model_bytes: bytes,
    ids: npt.NDArray[Any],
    arena_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> npt.NDArray[np.int8]:
    """Run the INT8 model on TFLM, one phrase at a time, and return its raw scores.

    This is the reference the firmware must match byte for byte: the emulator
    and host tests compare their int8 scores with these, phrase by phrase.

    Args:
        model_bytes: the ``model.tflite`` flatbuffer (ids in, int8 out).
        ids: ``(n, L)`` bucket ids, e.g. ``tinyslm.text.features.encode(texts, spec)``,
            converted to the model's input type.
        arena_bytes: tensor arena size; ``None`` uses a generous default. Pass
            only sizes known to allocate (see :func:`min_arena_bytes`): a
            too-small arena can crash this process.
        progress: called with (done, total) every :data:`PROGRESS_ROWS` phrases.

    Returns:
        ``(n, num_labels)`` int8 array of quantized scores.

    Raises:
        ModelError: TFLM cannot load the model or an inference fails.
    """
    details = io_details(model_bytes)
    # The input's own type (int32 ids for text), as the flatbuffer records it.
    rows = np.asarray(ids, dtype=details.input_type.lower())
    if rows.ndim != 2:
        raise ValueError(f"ids must be 2-D (n, seq_len), got shape {rows.shape}")
    if rows.shape[1] != details.input_shape[-1]:
        raise ModelError(
            f"ids have {rows.shape[1]} columns but the model expects {details.input_shape[-1]}"
        )
    interp = _interpreter(model_bytes, arena_bytes)
    out = np.zeros((len(rows), details.output_shape[-1]), dtype=np.int8)
    for i, row in enumerate(rows):
        # The input tensor is written before every invoke, as on the device.
        interp.set_input(row[None, :], 0)
        try:
            interp.invoke()
        except RuntimeError as exc:
            raise ModelError(f"TFLM inference failed on row {i}: {exc}") from exc
        out[i] = np.asarray(interp.get_output(0)).reshape(-1)
        if progress is not None and (i + 1) % PROGRESS_ROWS == 0:
            progress(i + 1, len(rows))
    return out


# The signals a too-small arena can raise inside the TFLM runtime (a bad memory
# access, a failed assertion): the child's crash is the "does not fit" answer. Any
# other signal (SIGKILL from the OOM killer, SIGTERM, SIGINT) comes from outside.
CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE}
)


def _signal_text(signum: int) -> str:
    """``killed by SIGKILL (out of memory?)`` for a child's negative return code."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    hint = " (out of memory?)" if signum == signal.SIGKILL else ""
    return f"killed by {name}{hint}; nothing is concluded about the arena; run again"


def probe_arena(model_path: Path, arena_bytes: int, timeout: float = 60.0) -> bool:
    """True when TFLM allocates ``model_path`` in ``arena_bytes`` and runs one inference.

    Runs in a child process (``python -m tinyslm._arena_probe``) so that a crash
    in the runtime on a too-small arena reads as "does not fit". Only the probe's
    own "does not fit" answer and a crash signal (:data:`CRASH_SIGNALS`) are that
    verdict.

    Raises:
        ModelError: the probe itself failed (it could not start, raised, was killed
            from outside, e.g. SIGKILL by the out-of-memory killer, or ran past
            ``timeout``): its last line of stderr or the signal, rather than a
            verdict on the arena.
    """
    from tinyslm._arena_probe import DOES_NOT_FIT

    # In an empty folder of its own: ``-m`` puts the working directory first on the
    # child's sys.path, so a user's tinyslm.py or numpy.py there was imported instead
    # and the failed import read as "arena too small".
    with tempfile.TemporaryDirectory(prefix="tinyslm-probe-") as cwd:
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tinyslm._arena_probe",
                    os.path.abspath(model_path),
                    str(int(arena_bytes)),
                ],
                capture_output=True,
                timeout=timeout,
                check=False,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            # A slow machine, not a small arena: TFLM refuses a small arena at once.
            # Reading it as "does not fit" grew train's arena silently (same seed,
            # other bytes) and made eval call a valid manifest wrong.
            raise ModelError(
                f"the TFLM arena probe did not finish within {timeout:g} s "
                "(a busy machine?); nothing is concluded about the arena; run again"
            ) from None
    if proc.returncode == 0:
        return True
    if proc.returncode == DOES_NOT_FIT or -proc.returncode in CRASH_SIGNALS:
        return False  # refused, or the runtime crashed on the small arena
    if proc.returncode < 0:
        # Killed from outside (the OOM killer's SIGKILL, a SIGTERM): no answer at all.
        raise ModelError(f"the TFLM arena probe failed: {_signal_text(-proc.returncode)}")
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    raise ModelError(
        f"the TFLM arena probe failed (exit {proc.returncode}): "
        f"{lines[-1] if lines else 'no message'}"
    )


def _probe_model_file(tmp: Path, model_bytes: bytes) -> Path:
    """The model written into the probe's temporary folder ``tmp``.

    Raises:
        ModelError: it cannot be written (a full /tmp), naming the folder: the error
            alone (``File too large``) did not say whether the output or /tmp was full.
    """
    path = tmp / "model.tflite"
    try:
        path.write_bytes(model_bytes)
    except OSError as exc:
        raise ModelError(
            f"cannot write the TFLM arena probe's model in the temporary folder {tmp}: "
            f"{exc.strerror or exc} (set TMPDIR to a folder with space)"
        ) from None
    return path


def arena_fits(model_bytes: bytes, arena_bytes: int) -> bool:
    """True when TFLM allocates and runs the model in ``arena_bytes`` (one probe)."""
    with tempfile.TemporaryDirectory(prefix="tinyslm-arena-") as tmp:
        path = _probe_model_file(Path(tmp), model_bytes)
        return probe_arena(path, arena_bytes)


def min_arena_bytes(model_bytes: bytes, start: int = 16 * 1024) -> int:
    """Smallest arena (a multiple of 16 bytes) in which TFLM allocates and runs the model.

    Doubles from ``start`` until a size works, then binary-searches down in
    16-byte steps. Each probe is a subprocess (see :func:`probe_arena`).

    Raises:
        ModelError: no arena up to 64 MiB works.
    """
    with tempfile.TemporaryDirectory(prefix="tinyslm-arena-") as tmp:
        path = _probe_model_file(Path(tmp), model_bytes)
        lo, hi = 0, align_arena(start)  # lo: known to fail (0 always does), hi: candidate
        while not probe_arena(path, hi):
            lo = hi
            hi *= 2
            if hi > ARENA_SEARCH_MAX:
                raise ModelError(f"TFLM cannot run the model with an arena up to {hi // 2} bytes")
        while hi - lo > ARENA_ALIGN:
            mid = align_arena((lo + hi) // 2)
            if mid in (lo, hi):
                break
            if probe_arena(path, mid):
                hi = mid
            else:
                lo = mid
        return hi
