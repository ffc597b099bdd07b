"""The ESP32 keyword loop with a failing microphone while the host streams a recording.

While a serial stream is open the app drops the microphone's samples, and the stream's
answers (detections, ``{"end":...}``) own the line: a failing I2S read is not said
then. Once the stream ends (END, or its timeout) a microphone that still fails is said
again, once a second. The firmware, harness and runner are test_esp32_kws_loop's (the
generated ``src/main.cc`` on a simulated clock, reads failing from a given time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_esp32_kws_loop import SECONDS, firmware, run

from tinyslm.audio.frames import encode_stream

pytestmark = pytest.mark.toolchain
__all__ = ["firmware"]  # the module-scoped fixture, built once here too

FAILED = '{"error":"mic_read_failed","reason":"ESP_ERR_INVALID_STATE"}'


def _stream(tmp_path: Path, seconds: float, end: bool) -> Path:
    """``seconds`` of quiet audio as the host frames it (115200 baud: about 2.8 s of
    line a second of audio), with or without its END frame."""
    rng = np.random.default_rng(0)
    samples = rng.integers(-200, 200, size=int(16000 * seconds), dtype=np.int16)
    frames = list(encode_stream(samples))
    path = tmp_path / "stream.bin"
    path.write_bytes(b"".join(frames if end else frames[:-1]))
    return path


def _split_at(written: list[str], prefix: str) -> tuple[list[str], list[str]]:
    """The lines before the first starting with ``prefix``, and those after it."""
    at = next(i for i, w in enumerate(written) if w.startswith(prefix))
    return written[:at], written[at + 1 :]


def test_a_failing_microphone_is_not_said_during_a_stream_and_is_after_it(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads fail from 1 s; the host streams 2 s of audio from 0.1 s (to about 6 s).
    Before: ``mic_read_failed`` once a second between the stream's answers."""
    monkeypatch.setenv("TINYSLM_TEST_READ_FAILS_FROM_US", str(1_000_000))
    r = run(firmware, 10, _stream(tmp_path, 2.0, end=True))
    assert r.stats["serial_lost"] == 0, r.figures()  # the whole stream arrived
    during, after = _split_at(r.written, '{"end":')
    assert not [w for w in during if "mic_read_failed" in w], during
    failed = [w for w in after if "mic_read_failed" in w]
    assert failed and set(failed) == {FAILED}, after[:5]
    # Still once a second after the stream: about 24 s of the 30 left.
    assert SECONDS - 8 <= len(failed) <= SECONDS - 5, len(failed)
    assert r.stats["wdt"] == 0, r.figures()


def test_a_stream_left_open_times_out_and_the_failing_microphone_is_said(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host stops without END: the stream's timeout (2 s of microphone samples)
    must still close it though a failing microphone gives none, or the failure would
    never be said."""
    monkeypatch.setenv("TINYSLM_TEST_READ_FAILS_FROM_US", str(1_000_000))
    r = run(firmware, 10, _stream(tmp_path, 2.0, end=False))
    during, after = _split_at(r.written, '{"error":"stream_timeout"}')
    assert not [w for w in during if "mic_read_failed" in w], during
    failed = [w for w in after if "mic_read_failed" in w]
    assert failed and set(failed) == {FAILED}, after[:5]
    assert SECONDS - 11 <= len(failed) <= SECONDS - 5, len(failed)


def test_without_a_stream_a_failing_microphone_is_said_as_before(
    firmware: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYSLM_TEST_READ_FAILS_FROM_US", str(1_000_000))
    r = run(firmware, 10)
    failed = [w for w in r.written if "mic_read_failed" in w]
    assert set(failed) == {FAILED} and SECONDS - 2 <= len(failed) <= SECONDS, r.written[:3]
