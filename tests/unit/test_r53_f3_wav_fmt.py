"""Round 53 (f3): a WAV with a second ``fmt `` chunk is refused, as a second ``data`` chunk
is (round 42). The second was skipped unsaid, so the samples were read in the first's
format whichever one the writer meant: 16 kHz PCM followed by an 8 kHz ``fmt `` loaded as
16 kHz audio."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio.wav import read_wav
from tinyslm.errors import DatasetError

PCM = np.arange(-50, 50, dtype=np.int16).astype("<i2").tobytes()


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _fmt(rate: int) -> bytes:
    return struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("chunks", "at"),
    [
        # 16 kHz then 8 kHz before the samples: which rate were they recorded at?
        ((_chunk(b"fmt ", _fmt(16000)), _chunk(b"fmt ", _fmt(8000)), _chunk(b"data", PCM)), 36),
        # Two alike, before or after the samples: test_r54_wav_fmt.py (its own message).
    ],
)  # fmt: skip
def test_a_second_fmt_chunk_is_refused_naming_the_file(
    tmp_path: Path, chunks: tuple[bytes, ...], at: int
) -> None:
    wav = tmp_path / "two fmt.wav"
    wav.write_bytes(_riff(*chunks))
    with pytest.raises(DatasetError) as info:
        read_wav(wav)
    assert str(info.value) == (
        f"{wav}: unreadable WAV: a second 'fmt ' chunk at byte {at} (a WAV has one; which"
        " of the two its samples follow is not known)"
    )


def test_one_fmt_chunk_still_reads(tmp_path: Path) -> None:
    wav = tmp_path / "one.wav"
    wav.write_bytes(
        _riff(_chunk(b"LIST", b"xyz"), _chunk(b"fmt ", _fmt(16000)), _chunk(b"data", PCM))
    )
    assert read_wav(wav).tolist() == list(range(-50, 50))
