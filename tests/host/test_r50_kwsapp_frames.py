"""Round 50 (hfw #2): after an END, the frame parser expects the next stream's START.

The host numbers every stream from seq 0 at its START. The parser kept the ended
stream's next seq, so when the next START was lost its first AUDIO frame (seq 1) was
reported as ``frames lost`` (1 - (END seq + 1)) mod 256: 246 after an END of seq 10,
for one frame lost. It now counts from the START it expected: 1, and 5 when the START
and three AUDIO frames were lost before an END of seq 5. The Python model of the rules
(``RefParser``) says the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_audio_frames import CRC, GAP, RefParser, c_parse, driver

from tinyslm.audio.frames import FRAME_AUDIO, FRAME_END, FRAME_START, encode_frame

pytestmark = pytest.mark.toolchain

__all__ = ["driver"]  # the module fixture, used by name below

PCM = bytes(range(16))


def _stream(n_audio: int) -> list[bytes]:
    frames = [encode_frame(FRAME_START, 0)]
    frames += [encode_frame(FRAME_AUDIO, i, PCM) for i in range(1, n_audio + 1)]
    return [*frames, encode_frame(FRAME_END, n_audio + 1)]


@pytest.mark.parametrize("first_audio", [1, 9, 254])  # END seq 2, 10, 255
@pytest.mark.parametrize("chunk", [1, 5])
def test_a_lost_start_after_an_end_is_one_frame_lost(
    driver: Path, tmp_path: Path, first_audio: int, chunk: int
) -> None:
    first = _stream(first_audio)
    start = bytearray(encode_frame(FRAME_START, 0))
    start[-1] ^= 0xFF  # noise on the second stream's START: a bad crc
    second = _stream(2)
    data = b"".join(first) + bytes(start) + b"".join(second[1:])
    events, _ = c_parse(driver, data, tmp_path, chunk)
    assert events == RefParser().feed(data)
    tail = events[len(first) :]
    assert tail == [
        ("E", CRC, start[-2] | start[-1] << 8, b""),
        ("E", GAP, 1, b""),  # the START
        ("F", FRAME_AUDIO, 1, PCM),
        ("F", FRAME_AUDIO, 2, PCM),
        ("F", FRAME_END, 3, b""),
    ]


def test_frames_lost_after_an_end_count_from_the_start(driver: Path, tmp_path: Path) -> None:
    # START and AUDIO 1..3 of the second stream lost whole, then AUDIO 4 and END 5.
    second = _stream(4)
    data = b"".join(_stream(3)) + second[4] + second[5]
    events, _ = c_parse(driver, data, tmp_path)
    assert events == RefParser().feed(data)
    assert events[5:] == [("E", GAP, 4, b""), ("F", FRAME_AUDIO, 4, PCM), ("F", FRAME_END, 5, b"")]


def test_a_whole_next_stream_and_a_lost_end_are_unchanged(driver: Path, tmp_path: Path) -> None:
    # START after END: no gap (START is never checked); END lost: the next START is
    # not checked either, and its stream's frames follow it.
    a, b = _stream(2), _stream(1)
    data = b"".join(a) + b"".join(b) + b"".join(a[:-1]) + b"".join(b)
    events, _ = c_parse(driver, data, tmp_path)
    assert [e for e in events if e[0] == "E"] == []
    assert events == RefParser().feed(data)
