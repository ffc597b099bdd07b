"""Round 50 (hfw #1, #2): the keyword app answers no command nobody sent, and its loss
figures are the bytes and frames really lost.

#1: a frame whose sync byte was lost is PCM outside any frame. A LF then ':' in that
PCM started a command line, so the board answered ``{"error":"unknown_command"}`` (or
``line_too_long``) for a command the host never sent, and the garbage count left out
those bytes and every line end among them (516 for 519 bytes skipped). A ':' line among
a stray frame's bytes is now counted with them as garbage; ``:info`` (the host's resync)
is still answered there, and a ':' line after typed text (a keyword board given phrases)
is still a command.

#2: after one stream's END, a lost START made the next stream's first AUDIO frame say
``frames lost`` 246 for the one frame lost: the parser expected the old stream's seq.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from listen_harness import pseudo_model
from test_kws_app import app, framed, labels, recording, run_app, spec_for

from tinyslm.audio.frames import FRAME_AUDIO, FRAME_END, FRAME_START, encode_frame

pytestmark = pytest.mark.toolchain

__all__ = ["app", "labels", "recording"]  # module fixtures, used by name below

END_NONE = '{"end":{"frames":0,"inferences":0,"detections":0}}'
GAP1 = '{"error":"bad_frame","reason":"frames lost","detail":1}'


def _garbage(n: int) -> str:
    return f'{{"error":"bad_frame","reason":"garbage","detail":{n}}}'


def _serial(app: Path, labels: list[str], data: bytes, tmp_path: Path, chunk: int) -> list[str]:
    spec = spec_for(labels)
    out, _ = run_app(app, spec, labels, [("serial", data)], pseudo_model(5), tmp_path,
                     chunk=chunk)  # fmt: skip
    return out


def _sync_lost(seq: int, samples: list[int]) -> bytes:
    """An AUDIO frame whose first byte (0xA5) was dropped on the line."""
    return encode_frame(FRAME_AUDIO, seq, np.array(samples, "<i2").tobytes())[1:]


@pytest.mark.parametrize(
    "samples",
    [
        [14858, 13] + [1000] * 254,  # 0A 3A 0D 00: "\n:\r", an unknown command
        [14858] + [0x3030] * 40 + [-1000] * 215,  # "\n:" then 80 '0's: too long
        [14858, 0x6E69, 0x6F66, 13] + [7] * 252,  # "\n:info\r": the resync, in PCM
    ],
)
@pytest.mark.parametrize("chunk", [1, 64])
def test_a_command_in_a_lost_frames_pcm_is_garbage(
    app: Path, labels: list[str], tmp_path: Path, samples: list[int], chunk: int
) -> None:
    data = encode_frame(FRAME_START, 0) + _sync_lost(1, samples) + encode_frame(FRAME_END, 2)
    out = _serial(app, labels, data, tmp_path, chunk)
    if samples[1] == 0x6E69:
        # 7 bytes of PCM that spell the resync exactly are taken for it: answered, and
        # the broken frame's other bytes counted (all but ':info\r')
        assert out[0].startswith('{"info":')
        assert out[1:] == [_garbage(519 - 6), GAP1, END_NONE]
        return
    # every byte of the broken frame (all but its lost 0xA5) is counted, none answered
    assert out == [_garbage(519), GAP1, END_NONE]


def test_typed_text_then_a_command_is_still_answered(
    app: Path, labels: list[str], tmp_path: Path
) -> None:
    """A keyword board given phrases skips them (garbage) but answers the ':' lines
    after them, as tinyslm monitor and the generated README expect."""
    out = _serial(app, labels, b"yes\nno caf\xc3\xa9\r\n:nope\n:info\n", tmp_path, 1)
    assert out[0] == '{"error":"unknown_command"}' and out[1].startswith('{"info":')
    assert len(out) == 2


def test_after_noise_only_info_is_answered_and_it_ends_the_noise(
    app: Path, labels: list[str], tmp_path: Path
) -> None:
    # \x01\x02: a stray frame's bytes; ':Nope' after them is theirs (no answer: not spelt
    # as a typed command, round 51, as ':nope' would be), ':info' the host's resync
    # (answered); after it the host's lines are commands again.
    data = b"\x01\x02\n:Nope\n:" + b"x" * 40 + b"\n:info\n:nope\n" + encode_frame(FRAME_END, 0)
    out = _serial(app, labels, data, tmp_path, 3)
    assert out[0].startswith('{"info":')
    # the LF after the noise, ':Nope', its LF, the 41-byte line and its LF: 2 + 1 + 5 +
    # 1 + 41 + 1 bytes, said when the END frame ends the run
    assert out[1:] == ['{"error":"unknown_command"}', _garbage(51), END_NONE]


def test_a_speech_stream_with_lost_sync_bytes_gets_no_answer_and_true_counts(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path
) -> None:
    """Real speech, every 5th AUDIO frame's 0xA5 dropped: each broken frame is one
    garbage line of its 519 bytes and one frames lost line; no command line. Before,
    each line end in the PCM was left out of the count (and a LF then ':' answered)."""
    frames, _ = framed(recording)
    lost = range(5, len(frames) - 1, 5)
    data = b"".join(f[1:] if i in lost else f for i, f in enumerate(frames))
    out = _serial(app, labels, data, tmp_path, 4096)
    errors = [line for line in out if '"error"' in line]
    assert errors == [e for i in lost for e in (_garbage(len(frames[i]) - 1), GAP1)]


def test_a_lost_start_after_an_end_loses_one_frame(
    app: Path, labels: list[str], tmp_path: Path
) -> None:
    pcm = bytes(512)
    first = encode_frame(FRAME_START, 0) + b"".join(
        encode_frame(FRAME_AUDIO, i, pcm) for i in range(1, 10)
    )
    start = bytearray(encode_frame(FRAME_START, 0))
    start[-1] ^= 0xFF  # the second stream's START hit by noise
    second = bytes(start) + b"".join(encode_frame(FRAME_AUDIO, i, pcm) for i in range(1, 5))
    data = first + encode_frame(FRAME_END, 10) + second + encode_frame(FRAME_END, 5)
    out = _serial(app, labels, data, tmp_path, 7)
    crc = start[-2] | start[-1] << 8
    assert out == [
        '{"end":{"frames":6,"inferences":0,"detections":0}}',
        f'{{"error":"bad_frame","reason":"bad crc","detail":{crc}}}',
        GAP1,  # the START, not 246 (counted from the first stream's END)
        '{"end":{"frames":2,"inferences":0,"detections":0}}',
    ]
