"""Round 51 (item 1): a command typed after a glitch is answered; PCM still is not.

Round 50 made every ':' line whose line end came within 520 bytes (one frame) after a
stray byte (a UART break reads as 0x00) or a refused or bad-CRC frame garbage, ``:info``
alone excepted, so that a broken frame's PCM could not make the board answer a command
nobody sent. A firmware engineer's ``:nope`` typed after a glitch then got no answer.
In that noise the app now answers a line spelt as a typed command: ``:``, a lowercase
letter, then printable ASCII only (0x20..0x7E), its line end within the 32-byte limit;
anything else there is still garbage, with no answer. PCM rarely spells such a line
(docs/audio.md, "Keyword app protocol": none in 36,052 broken frames of real speech, 2
in 71,874 of full-scale white noise).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from listen_harness import pseudo_model
from test_kws_app import app, labels, run_app, spec_for

from tinyslm.audio.frames import FRAME_AUDIO, FRAME_END, FRAME_START, encode_frame

pytestmark = pytest.mark.toolchain

__all__ = ["app", "labels"]  # module fixtures, used by name below

UNKNOWN = '{"error":"unknown_command"}'
END_NONE = '{"end":{"frames":0,"inferences":0,"detections":0}}'
# What the app answers in noise (the line without its line end; TINYSLM_KWS_MAX_COMMAND).
TYPED = re.compile(rb":[a-z][\x20-\x7e]*")
MAX_COMMAND = 32


def _garbage(n: int) -> str:
    return f'{{"error":"bad_frame","reason":"garbage","detail":{n}}}'


def _serial(app: Path, labels: list[str], data: bytes, tmp_path: Path, chunk: int = 1) -> list[str]:
    out, _ = run_app(app, spec_for(labels), labels, [("serial", data)], pseudo_model(5), tmp_path,
                     chunk=chunk)  # fmt: skip
    return out


def _answers(out: list[str]) -> list[str]:
    """The answers to ':' lines: every line but the frame parser's."""
    return [line for line in out if not line.startswith('{"error":"bad_frame"')]


def _bad_crc_start() -> bytes:
    frame = bytearray(encode_frame(FRAME_START, 0))
    frame[-1] ^= 1
    return bytes(frame)


GLITCHES = {
    "break": b"\x00\n",  # a UART break, then the engineer's Enter
    "stray-crlf": b"\x01\x02\r\n",
    "bad-crc": _bad_crc_start() + b"\n",
    "bad-type": b"\xa5\x5a\x09AAAA\n",
}


@pytest.mark.parametrize("glitch", GLITCHES.values(), ids=GLITCHES.keys())
@pytest.mark.parametrize("line", [b":nope\n", b":help me 2\r", b":x\r\n"])
def test_a_command_typed_after_a_glitch_is_answered(
    app: Path, labels: list[str], tmp_path: Path, glitch: bytes, line: bytes
) -> None:
    """Each glitch starts the noise; the typed line is answered and ends it, so a line
    that is not spelt as a typed command is answered after it too."""
    data = glitch + line + b":Nope\n" + encode_frame(FRAME_END, 0)
    out = _serial(app, labels, data, tmp_path, chunk=3)
    assert _answers(out) == [UNKNOWN, UNKNOWN, END_NONE], out


@pytest.mark.parametrize(
    "line",
    [
        b":\n",  # no letter: "\r:\r" is what speech PCM spells most (docs/audio.md)
        b":Nope\n",  # an uppercase letter first
        b":9\n",
        b": nope\n",
        b":no\tpe\n",  # a control byte
        b":nop\x7f\n",  # DEL
        b":" + b"a" * 40 + b"\n",  # over the limit: no line_too_long in noise
        # its 33rd byte, a ':', is the overlong line's: no command starts there (":info"
        # did before round 51, and ":nope" would with the rule above)
        b":" + b"a" * 31 + b":nope\n",
        b":" + b"a" * 31 + b":info\n",
    ],
)
def test_a_line_not_spelt_as_a_typed_command_is_garbage_in_noise(
    app: Path, labels: list[str], tmp_path: Path, line: bytes
) -> None:
    data = b"\x00\n" + line + encode_frame(FRAME_END, 0)
    out = _serial(app, labels, data, tmp_path)
    # every byte from the stray byte on, the line's end included, counted; none answered
    assert out == [_garbage(2 + len(line)), END_NONE], out


def test_info_in_noise_is_still_answered(app: Path, labels: list[str], tmp_path: Path) -> None:
    out = _serial(app, labels, b"\x00\n:info\r" + encode_frame(FRAME_END, 0), tmp_path)
    assert out[0].startswith('{"info":') and out[1:] == [_garbage(2), END_NONE], out


def _expected(line: bytes) -> list[str]:
    """What the app answers to ``line`` (a ':' line with no line end and no byte of 0x80
    or more) in noise."""
    if len(line) > MAX_COMMAND or not TYPED.fullmatch(line):
        return []
    return ["info"] if line == b":info" else [UNKNOWN]


def test_in_noise_the_app_answers_exactly_the_lines_spelt_as_typed_commands(
    app: Path, labels: list[str], tmp_path: Path
) -> None:
    """2000 random ':' lines, each after a stray byte: letters, digits, punctuation,
    control bytes, DEL, ':' and lengths around the limit mixed; answered exactly when
    the rule says."""
    rng = np.random.default_rng(51)
    alphabet = np.frombuffer(
        bytes(range(0x61, 0x7B)) * 6 + b"ABZ09 :!~" + bytes([0, 7, 8, 9, 0x0B, 0x1F, 0x7F]),
        np.uint8,
    )
    lines = [b":info", b":x", b":" + b"a" * 31, b":" + b"a" * 32]
    for _ in range(2000):
        n = int(rng.choice([1, 2, 3, 6, 12, 31, 32, 33, 40]))
        lines.append(b":" + rng.choice(alphabet, size=n - 1).tobytes())
    data = b"".join(b"\x00\n" + line + b"\n" for line in lines) + encode_frame(FRAME_END, 0)
    out = _answers(_serial(app, labels, data, tmp_path, chunk=61))
    want = [e for line in lines for e in _expected(line)] + [END_NONE]
    got = ["info" if line.startswith('{"info":') else line for line in out]
    assert sum(e == UNKNOWN for e in want) > 100 and got.count(UNKNOWN) > 0
    assert got == want


@pytest.mark.parametrize("chunk", [1, 64])
def test_a_lost_frames_pcm_that_spells_no_typed_command_still_gets_no_answer(
    app: Path, labels: list[str], tmp_path: Path, chunk: int
) -> None:
    """PCM 0A 3A 0D ... in an AUDIO frame whose 0xA5 was lost: "\\n:\\r", the commonest
    such line in speech, is no typed command: all 519 bytes garbage, nothing answered."""
    pcm = np.array([14858, 13] + [1000] * 254, "<i2").tobytes()
    data = (encode_frame(FRAME_START, 0) + encode_frame(FRAME_AUDIO, 1, pcm)[1:]
            + encode_frame(FRAME_END, 2))  # fmt: skip
    out = _serial(app, labels, data, tmp_path, chunk)
    assert out == [_garbage(519), '{"error":"bad_frame","reason":"frames lost","detail":1}',
                   END_NONE]  # fmt: skip


def test_a_command_on_the_glitch_bytes_own_line_is_garbage_and_the_next_line_is_answered(
    app: Path, labels: list[str], tmp_path: Path
) -> None:
    """What the docs and the generated README say (send a line end, then ``:info``): a
    command starts only at boot or after a line end, a frame or a command, so ``:info`` typed right
    after a stray byte is that byte's line, garbage with no answer; after a line end it
    is answered."""
    same_line = _serial(app, labels, b"\x00:info\r" + encode_frame(FRAME_END, 0), tmp_path)
    assert _answers(same_line) == [END_NONE], same_line
    (tmp_path / "next").mkdir()
    data = b"\x00\n:info\r" + encode_frame(FRAME_END, 0)
    after_end = _serial(app, labels, data, tmp_path / "next")
    assert len(_answers(after_end)) == 2 and _answers(after_end)[0].startswith('{"info":'), (
        after_end
    )
