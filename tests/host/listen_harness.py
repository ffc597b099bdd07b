"""Drives the listening-loop host drivers (audio_listen_driver.c, kws_app_driver.c).

Both speak the same binary records on stdout; when the C loop wants an inference
it writes the window ('I') and waits for one status byte and the int8 scores on
stdin, which this harness computes with a Python scorer (TFLM on the committed
keyword fixture, or a cheap stand-in), on the C side's own features.
"""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "kws_model"

Scorer = Callable[[np.ndarray], np.ndarray]  # one window (frames, bins) -> int8 scores
Event = tuple[object, ...]

# Payload layout after each tag (the drivers' comments give the meaning).
_FIXED = {b"D": "<BIiHI", b"F": "<i", b"E": "<5I", b"K": "<3I"}


def fixture_labels() -> list[str]:
    names: list[str] = json.loads((FIXTURE / "labels.json").read_text())
    return names


def tflm_scorer(model: bytes | None = None) -> Scorer:
    """TFLM on one window at a time, memoised: a window seen again is not run again."""
    from tflite_micro import runtime

    data = model if model is not None else (FIXTURE / "model.tflite").read_bytes()
    interp = runtime.Interpreter.from_bytes(data, arena_size=64 * 1024)
    cache: dict[bytes, np.ndarray] = {}

    def score(window: np.ndarray) -> np.ndarray:
        key = window.tobytes()
        if key not in cache:
            interp.set_input(window[None, :, :, None].astype(np.int8), 0)
            interp.invoke()
            cache[key] = np.asarray(interp.get_output(0)).reshape(-1).astype(np.int8)
        return cache[key]

    return score


def pseudo_model(num_labels: int) -> Scorer:
    """A cheap stand-in model for long streams: label j's score rises with the level of
    band group j in the newest frames (deterministic, and it does fire)."""

    def score(window: np.ndarray) -> np.ndarray:
        recent = window[-8:].astype(np.int64)
        bands = np.array_split(recent, num_labels, axis=1)
        means = np.array([b.mean() for b in bands])
        return np.clip((means - means.mean()) * 6 - 40, -128, 127).astype(np.int8)

    return score


def batch(scorer: Scorer) -> Callable[[np.ndarray], np.ndarray]:
    """stream.py's batch ``predict`` from a one-window scorer."""
    return lambda windows: np.stack([scorer(w) for w in windows]).astype(np.int8)


def drive(
    argv: Sequence[str],
    scorer: Scorer,
    frames: int,
    bins: int = 40,
    fail: Callable[[int], int] = lambda i: 0,
    env: dict[str, str] | None = None,
) -> list[Event]:
    """Run a driver to its 'E' record; every record as a tuple, windows as bytes."""
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    out = proc.stdout
    events: list[Event] = []

    def read(n: int) -> bytes:
        data = out.read(n)
        assert data is not None and len(data) == n, "driver output ended early"
        return data

    try:
        while True:
            tag = read(1)
            if tag == b"I":
                index = struct.unpack("<I", read(4))[0]
                window = read(frames * bins)
                events.append(("I", index, window))
                scores = scorer(np.frombuffer(window, np.int8).reshape(frames, bins))
                proc.stdin.write(bytes([fail(index) & 0xFF]) + scores.astype(np.int8).tobytes())
                proc.stdin.flush()
            elif tag == b"L":
                n = struct.unpack("<I", read(4))[0]
                events.append(("L", read(n)))
            elif tag in (b"R", b"X"):
                events.append((tag.decode(),))
                if tag == b"X":
                    break
            elif tag in _FIXED:
                fmt = _FIXED[tag]
                events.append((tag.decode(), *struct.unpack(fmt, read(struct.calcsize(fmt)))))
                if tag == b"E":
                    break
            else:
                raise AssertionError(f"driver wrote {tag!r} after {events[-3:]}")
    finally:
        proc.stdin.close()
        rc = proc.wait(timeout=120)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert rc == 0, err[-2000:]
    return events


def lines(events: Sequence[Event]) -> list[str]:
    """The app's output ('L' records joined) as text lines."""
    text = b"".join(e[1] for e in events if e[0] == "L" and isinstance(e[1], bytes))
    assert text == b"" or text.endswith(b"\n"), text[-200:]
    return text.decode().splitlines()
