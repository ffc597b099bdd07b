"""Audio over the serial line: the host's encoder of the framed PCM protocol.

A board without a microphone (and the emulator) is fed 16 kHz int16 PCM in
frames that its parser, ``firmware/audio/tinyslm_audio_frames.c``, checks and
unpacks byte by byte. The format (docs/audio.md has the table):

``0xA5 0x5A | type | seq | len (uint16 LE) | payload | crc (uint16 LE)``

``crc`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final
xor) over ``type``, ``seq``, ``len`` and the payload. A stream is one ``START``
frame (empty: the board resets its front end and detector), ``AUDIO`` frames
(little-endian int16 samples, an even number of bytes, at most ``MAX_PAYLOAD``)
and one ``END`` frame (empty); ``seq`` counts frames modulo 256 from ``START``
so the board can say when frames were lost.

At 16 kHz the audio is 32,000 bytes per second plus 8 bytes per frame: with
256-sample frames about 32.5 kB/s, which a UART carries in real time from
460800 baud up (10 bits per byte).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from tinyslm.errors import TinySlmError

SYNC = b"\xa5\x5a"
FRAME_START = 0x01
FRAME_AUDIO = 0x02
FRAME_END = 0x03
MAX_PAYLOAD = 512  # TINYSLM_FRAME_MAX_PAYLOAD in the C header: 256 samples, 16 ms
SAMPLES_PER_FRAME = MAX_PAYLOAD // 2
OVERHEAD = 8  # header (6) and crc (2) bytes per frame


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (``crc16_ccitt(b"123456789") == 0x29B1``)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode_frame(frame_type: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame; refuses what the board's parser would drop."""
    if frame_type not in (FRAME_START, FRAME_AUDIO, FRAME_END):
        raise TinySlmError(f"audio frame: unknown type {frame_type}")
    if not 0 <= seq <= 255:
        raise TinySlmError(f"audio frame: seq {seq} is not a byte")
    if frame_type == FRAME_AUDIO:
        if len(payload) > MAX_PAYLOAD or len(payload) % 2:
            raise TinySlmError(
                f"audio frame: {len(payload)} payload bytes (even, at most {MAX_PAYLOAD})"
            )
    elif payload:
        raise TinySlmError("audio frame: START and END frames carry no payload")
    body = bytes((frame_type, seq)) + len(payload).to_bytes(2, "little") + payload
    return SYNC + body + crc16_ccitt(body).to_bytes(2, "little")


def encode_stream(
    samples: npt.NDArray[np.int16], samples_per_frame: int = SAMPLES_PER_FRAME
) -> Iterator[bytes]:
    """``START``, the samples in ``AUDIO`` frames of ``samples_per_frame``, then ``END``."""
    data = np.asarray(samples)
    if data.ndim != 1 or data.dtype != np.int16:
        raise TinySlmError(
            f"audio frames: samples must be 1-D int16, got {data.dtype} {data.shape}"
        )
    if not 1 <= samples_per_frame <= SAMPLES_PER_FRAME:
        raise TinySlmError(
            f"audio frames: samples_per_frame {samples_per_frame} not in 1..{SAMPLES_PER_FRAME}"
        )
    raw = data.astype("<i2").tobytes()
    step = 2 * samples_per_frame
    yield encode_frame(FRAME_START, 0)
    seq = 1
    for start in range(0, len(raw), step):
        yield encode_frame(FRAME_AUDIO, seq & 0xFF, raw[start : start + step])
        seq += 1
    yield encode_frame(FRAME_END, seq & 0xFF)


def stream_bytes(
    samples: npt.NDArray[np.int16], samples_per_frame: int = SAMPLES_PER_FRAME
) -> bytes:
    """The whole framed stream of ``samples`` as one byte string."""
    return b"".join(encode_stream(samples, samples_per_frame))
