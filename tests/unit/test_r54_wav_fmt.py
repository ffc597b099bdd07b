"""Round 54: a WAV with two ``fmt `` chunks is refused with a message true of that file.

Round 53 refused every second ``fmt `` chunk with "which of the two its samples follow is
not known", which is untrue when the two are the same bytes: there is one format, said
twice. Such a file is still refused (a WAV has one ``fmt ``, as it has one ``data``; the
reader stays strict, as a firmware engineer expects of it), and the message says the
format is the same twice. Two that differ keep round 53's message (its test holds the
case of two before the samples; here the second comes after them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_r53_f3_wav_fmt import PCM, _chunk, _fmt, _riff

from tinyslm.audio.wav import read_wav
from tinyslm.errors import DatasetError

SAME = "the same format twice (a WAV has one; write the file again with one)"
DIFFERENT = "(a WAV has one; which of the two its samples follow is not known)"


def _refusal(path: Path, *chunks: bytes) -> str:
    path.write_bytes(_riff(*chunks))
    with pytest.raises(DatasetError) as info:
        read_wav(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("chunks", "at"),
    [
        # The same 'fmt ' twice before the samples, and once after them.
        ((_chunk(b"fmt ", _fmt(16000)), _chunk(b"fmt ", _fmt(16000)), _chunk(b"data", PCM)), 36),
        ((_chunk(b"fmt ", _fmt(16000)), _chunk(b"data", PCM), _chunk(b"fmt ", _fmt(16000))),
         44 + len(PCM)),
    ],
)  # fmt: skip
def test_the_same_fmt_twice_is_refused_saying_so(
    tmp_path: Path, chunks: tuple[bytes, ...], at: int
) -> None:
    wav = tmp_path / "same twice.wav"
    # Before: "... at byte 36 (a WAV has one; which of the two its samples follow is not
    # known)", of two chunks holding the same 16 bytes.
    assert _refusal(wav, *chunks) == (
        f"{wav}: unreadable WAV: a second 'fmt ' chunk at byte {at}, {SAME}"
    )


@pytest.mark.parametrize("rate", [8000, 16001])
def test_two_different_fmt_chunks_keep_the_doubt(tmp_path: Path, rate: int) -> None:
    wav = tmp_path / "two.wav"
    # After the samples, a 'fmt ' of another rate (16001 Hz: a few bytes apart).
    refusal = _refusal(
        wav, _chunk(b"fmt ", _fmt(16000)), _chunk(b"data", PCM), _chunk(b"fmt ", _fmt(rate))
    )
    assert refusal == (
        f"{wav}: unreadable WAV: a second 'fmt ' chunk at byte {44 + len(PCM)} {DIFFERENT}"
    )
