"""Round 50 review (rev2 F1, F2, F4, F6): the keyword app's noise is the bytes of a
broken frame that may still be coming, and no more.

F1: one stray byte below 0x08 with no stream open (a UART break reads as 0x00) made
the board drop every later ':' command but ``:info`` for good. Noise now lapses one
frame's length (TINYSLM_FRAME_MAX_BYTES, 520 bytes) after the last stray byte or refused
frame: no broken frame's bytes can still be coming then.

F2: a frame dropped for a bad CRC because its length arrived short had its tail read as
typed text: a ':' line there drew ``unknown_command``, and its bytes were left out of
``garbage``. The next 520 bytes (its tail, or a next frame whose header it swallowed) are noise now.

F4: each noise rule is pinned here: a whole frame, a stream timeout and an answered
command end it; a refused type or length and a short bad-CRC frame start it.

F6: ``garbage`` counts the bytes skipped except line ends outside noise (a host's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from listen_harness import pseudo_model
from shared_paths import missing
from test_kws_app import AUDIO, COMMON, HOST_FLAGS, SOURCES, app, labels, run_app, spec_for

from tinyslm.audio.frames import (
    FRAME_AUDIO,
    FRAME_END,
    FRAME_START,
    MAX_PAYLOAD,
    OVERHEAD,
    encode_frame,
)
from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

__all__ = ["app", "labels"]  # module fixtures, used by name below

UNKNOWN = '{"error":"unknown_command"}'
END_NONE = '{"end":{"frames":0,"inferences":0,"detections":0}}'
GAP1 = '{"error":"bad_frame","reason":"frames lost","detail":1}'
# A ':' line answered outside noise, and not in it: round 51 answers a line spelt as a
# typed command (':', a lowercase letter, printable ASCII) in noise too, so these noise
# rules are pinned with a line that is not (an uppercase letter first).
NOPE = b"\n:Nope\n"
MAX_BYTES = MAX_PAYLOAD + OVERHEAD  # TINYSLM_FRAME_MAX_BYTES: one whole frame, 520


def _garbage(n: int) -> str:
    return f'{{"error":"bad_frame","reason":"garbage","detail":{n}}}'


def _out(app: Path, labels: list[str], inputs: list[tuple[str, bytes]], tmp_path: Path,
         chunk: int = 1) -> list[str]:  # fmt: skip
    out, _ = run_app(app, spec_for(labels), labels, inputs, pseudo_model(5), tmp_path,
                     chunk=chunk)  # fmt: skip
    return out


def _serial(app: Path, labels: list[str], data: bytes, tmp_path: Path, chunk: int = 1) -> list[str]:
    return _out(app, labels, [("serial", data)], tmp_path, chunk)


def _filler(n: int) -> bytes:
    """n bytes of typed text (no byte below 0x08, no ':' line)."""
    return (b"typed text\n" * (n // 11 + 1))[:n]


@pytest.mark.parametrize("pre", [b"\x00", b"\x01\x02\n", b"hello\x07\n"])
@pytest.mark.parametrize("late", [0, 1])
def test_a_command_after_a_stray_byte_is_answered_one_frame_later(
    app: Path, labels: list[str], tmp_path: Path, pre: bytes, late: int
) -> None:
    """The ':' line whose line end is byte 521 after the last stray byte is answered; one
    whose line end is byte 520 may be the broken frame's last byte, and is not."""
    after = len(pre) - 1 - max(i for i, b in enumerate(pre) if b < 8)  # bytes after the stray
    data = pre + _filler(MAX_BYTES - after - len(NOPE) + late) + NOPE
    out = _serial(app, labels, data, tmp_path, chunk=64)
    assert (UNKNOWN in out) == bool(late), out


def _short_crc_frame(tail: bytes) -> tuple[bytes, int]:
    """An AUDIO frame of 512 bytes whose length arrived as 256 (its high byte 02 -> 01),
    with ``tail`` at PCM offset 258: the parser drops it for a bad crc at byte 264, and
    the rest (256 bytes) comes outside any frame. Returns it and its crc as read."""
    raw = bytearray(np.full(256, 1000, "<i2").tobytes())
    raw[258 : 258 + len(tail)] = tail
    frame = bytearray(encode_frame(FRAME_AUDIO, 1, bytes(raw)))
    frame[5] = 0x01
    return bytes(frame), frame[262] | frame[263] << 8


# ':X\r' (not ':x\r', which round 51 answers: spelt as a typed command, see NOPE)
@pytest.mark.parametrize("tail", [b":x\x01\r", b":X\r", NOPE, b"\n:" + b"z" * 40 + b"\n"])
@pytest.mark.parametrize("chunk", [1, 64])
def test_a_short_length_frames_tail_is_garbage(
    app: Path, labels: list[str], tmp_path: Path, tail: bytes, chunk: int
) -> None:
    frame, crc = _short_crc_frame(tail)
    data = (encode_frame(FRAME_START, 0) + frame + encode_frame(FRAME_AUDIO, 2, bytes(512))
            + encode_frame(FRAME_END, 3))  # fmt: skip
    out = _serial(app, labels, data, tmp_path, chunk)
    # no answer; every byte of the tail (520 - 264) counted
    assert out == [
        f'{{"error":"bad_frame","reason":"bad crc","detail":{crc}}}',
        _garbage(256),
        GAP1,
        END_NONE,
    ]


@pytest.mark.parametrize("late", [0, 1])
def test_a_bad_crc_frames_noise_lasts_one_frame(
    app: Path, labels: list[str], tmp_path: Path, late: int
) -> None:
    """A frame of 264 bytes dropped for its crc: the next 520 bytes may be its tail or
    a next frame's (one that lost its sync byte, its header swallowed: below), the
    521st not."""
    frame, _ = _short_crc_frame(b"")
    data = frame[:264] + _filler(MAX_BYTES - len(NOPE) + late) + NOPE
    out = _serial(app, labels, data, tmp_path, chunk=64)
    assert (UNKNOWN in out) == bool(late), out


@pytest.mark.parametrize("chunk", [1, 64])
def test_a_frame_whose_header_a_bad_crc_frame_swallowed_answers_nothing(
    app: Path, labels: list[str], tmp_path: Path, chunk: int
) -> None:
    """One burst of 6 bytes lost: frame A's last 5 and frame B's sync byte. A's
    candidate takes B's header and fails its crc at full size, so B's header bytes
    below 0x08 are never seen as stray; a '\n:Nope\n' in B's PCM was answered when a
    full-size bad crc left no noise (round 50's review)."""
    a = encode_frame(FRAME_AUDIO, 1, np.full(256, 1000, "<i2").tobytes())
    pay = bytearray(b"\x10" * 512)
    pay[100:107] = NOPE
    b = encode_frame(FRAME_AUDIO, 2, bytes(pay))
    data = encode_frame(FRAME_START, 0) + a[:-5] + b[1:] + encode_frame(FRAME_END, 3)
    out = _serial(app, labels, data, tmp_path, chunk)
    assert UNKNOWN not in out, out


def _bad_crc(frame: bytes) -> bytes:
    f = bytearray(frame)
    f[-1] ^= 1
    return bytes(f)


FULL = encode_frame(FRAME_AUDIO, 1, bytes(range(256)) * 2)  # 520 bytes, no "\n:"


@pytest.mark.parametrize(
    ("pre", "answered"),
    [
        # a whole frame ends the noise (\x01's would last to the ':' line's end)
        (b"\x01" + encode_frame(FRAME_START, 0) + encode_frame(FRAME_END, 1), True),
        # an answered command ends it
        (b"\x01\n:Nope\n:info\n", True),
        # a full-size frame dropped for its crc: it may have swallowed a next frame's
        # header, whose PCM follows
        (b"\x01" + _bad_crc(FULL), False),
        # a bad crc START (8 bytes): up to 512 bytes of a longer frame may follow
        (_bad_crc(encode_frame(FRAME_START, 0)), False),
        # a frame refused for its type or its length (by a byte of 0x08 or more, which
        # is no stray byte itself): the rest of it is noise
        (b"\xa5\x5a\x09AAAA\n", False),
        (b"\xa5\x5a\x02\x00\x09\x09AAAA\n", False),
        (b"\xa5\x5a\x01\x00\x00\x09AAAA\n", False),
        # a ':' line holding a byte below 0x08 is a stray frame's, not a command
        (b":nope\x01", False),
    ],
)
def test_noise_rules(
    app: Path, labels: list[str], tmp_path: Path, pre: bytes, answered: bool
) -> None:
    out = _serial(app, labels, pre + NOPE, tmp_path)
    assert (UNKNOWN in out) == answered, out


def test_a_stream_timeout_ends_the_noise(app: Path, labels: list[str], tmp_path: Path) -> None:
    inputs = [
        ("serial", encode_frame(FRAME_START, 0) + b"\x01"),
        ("mic", bytes(2 * 32000)),  # 2 s of microphone samples: the stream times out
        ("serial", NOPE),
    ]
    out = _out(app, labels, inputs, tmp_path)
    assert out[-2:] == ['{"error":"stream_timeout"}', UNKNOWN], out


def test_garbage_counts_line_ends_only_under_noise(
    app: Path, labels: list[str], tmp_path: Path
) -> None:
    """F6: the two line ends before the first stray byte are taken for a host's, not
    counted; every byte from the stray byte on is (line ends and a ':' line too)."""
    data = b"AB\n\nCD\x01EF\n:Nope\n" + encode_frame(FRAME_START, 0) + encode_frame(FRAME_END, 1)
    out = _serial(app, labels, data, tmp_path)
    assert out == [_garbage(2 + 3 + 2 + 1 + 5 + 1), END_NONE]


@pytest.fixture(scope="module")
def small_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The driver built for 8-byte frames (TINYSLM_FRAME_MAX_BYTES 16): there the noise a
    stray byte starts lapses before a 32-byte ':' line ends."""
    try:
        return ccompile.compile_executable(
            SOURCES, tmp_path_factory.mktemp("kws_app_small") / "kws_app_driver",
            include_dirs=[AUDIO, COMMON], cflags=(*HOST_FLAGS, "-DTINYSLM_FRAME_MAX_PAYLOAD=8"),
        )  # fmt: skip
    except ToolchainError as exc:
        if "not found" in str(exc):
            missing(str(exc))
        raise


@pytest.mark.parametrize(
    ("line", "out"),
    [
        # ended: no unknown_command; its 24 bytes counted (16 a run at most here), not its
        # line end, 21 bytes after the stray byte: outside the noise (a host's, as far as
        # the app can tell, as every line end between frames there)
        (b":ab\x01" + b"c" * 20 + b"\n", [_garbage(16), _garbage(8)]),
        # overlong: no line_too_long; its line end is not counted either
        (b":\x01" + b"c" * 40 + b"\n", [_garbage(16), _garbage(16), _garbage(10)]),
    ],
)
def test_a_command_line_holding_a_stray_byte_is_never_answered(
    small_app: Path, labels: list[str], tmp_path: Path, line: bytes, out: list[str]
) -> None:
    """However long ago the noise began: no typed line holds a byte below 0x08."""
    data = line + encode_frame(FRAME_START, 0) + encode_frame(FRAME_END, 1)
    assert _serial(small_app, labels, data, tmp_path) == [*out, END_NONE]
