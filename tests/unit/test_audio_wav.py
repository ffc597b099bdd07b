"""tinyslm.audio.wav: the one WAV format, its container variants, and every refusal."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio.wav import parse_wav, read_wav, wav_bytes, write_wav
from tinyslm.errors import DatasetError

SAMPLES = np.array([0, 1, -1, 32767, -32768, 1234, -4321], dtype=np.int16)
PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def chunk(cid: bytes, body: bytes, pad: bool = True) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\x00" if pad and len(body) % 2 else b"")


def fmt_body(
    tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16, extra: bytes = b""
) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra


def extensible(sub_code: int = 1, valid_bits: int = 16, tail: bytes = PCM_GUID_TAIL) -> bytes:
    guid = struct.pack("<H", sub_code) + tail
    return fmt_body(0xFFFE, extra=struct.pack("<HHI", 22, valid_bits, 4) + guid)


def riff(*chunks: bytes, magic: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


PCM = SAMPLES.astype("<i2").tobytes()


def write(tmp_path: Path, raw: bytes, name: str = "clip.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(DatasetError) as info:
        read_wav(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    return msg


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_wav(path, SAMPLES)
    assert path.read_bytes()[:4] == b"RIFF" and len(path.read_bytes()) == 44 + 2 * len(SAMPLES)
    out = read_wav(path)
    assert out.dtype == np.int16 and np.array_equal(out, SAMPLES)


@pytest.mark.parametrize(
    "raw",
    [
        riff(chunk(b"fmt ", extensible()), chunk(b"data", PCM)),
        # odd-sized chunk before data, padded as RIFF requires
        riff(chunk(b"fmt ", fmt_body()), chunk(b"LIST", b"INFOabc"), chunk(b"data", PCM)),
        # data before fmt, then an odd chunk whose pad byte is missing at the end
        riff(chunk(b"data", PCM), chunk(b"fmt ", fmt_body()), chunk(b"junk", b"x", pad=False)),
        # 18-byte fmt with cbSize 0 (some writers), a fact chunk
        riff(chunk(b"fmt ", fmt_body(extra=b"\x00\x00")), chunk(b"fact", b"\x07\x00\x00\x00"),
             chunk(b"data", PCM)),
        # zero padding after the last chunk
        riff(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM)) + b"\x00\x00\x00",
        # an ID3 tag appended after the audio, not as a chunk
        riff(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM)) + b"ID3\x04\x00\x00\x00\x00\x10\x00",
        # a recording streamed to a pipe: the writer's length placeholders, never filled in
        # (arecord ... > x.wav, stopped with Ctrl-C; ffmpeg ... -f wav -)
        b"RIFF\x24\x00\x00\x80WAVE" + chunk(b"fmt ", fmt_body()) + b"data\x00\x00\x00\x80" + PCM,
        b"RIFF\xff\xff\xff\xffWAVE" + chunk(b"fmt ", fmt_body()) + chunk(b"LIST", b"INFOISFT")
        + b"data\xff\xff\xff\xff" + PCM,
    ],
    ids=["extensible", "odd-chunk-padded", "any-order-missing-pad", "fmt18-fact", "trailing-zeros",
         "appended-tag", "arecord-pipe", "ffmpeg-pipe"],
)  # fmt: skip
def test_container_variants_are_read(tmp_path: Path, raw: bytes) -> None:
    assert np.array_equal(read_wav(write(tmp_path, raw)), SAMPLES)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (riff(chunk(b"fmt ", fmt_body(rate=44100)), chunk(b"data", PCM)), "44100 Hz"),
        (riff(chunk(b"fmt ", fmt_body(rate=8000)), chunk(b"data", PCM)), "8000 Hz"),
        (riff(chunk(b"fmt ", fmt_body(channels=2)), chunk(b"data", PCM + PCM)), "2 channel"),
        (riff(chunk(b"fmt ", fmt_body(bits=8)), chunk(b"data", PCM)), "8-bit"),
        (riff(chunk(b"fmt ", fmt_body(bits=24)), chunk(b"data", PCM[:12])), "24-bit"),
        (riff(chunk(b"fmt ", fmt_body(tag=3, bits=32)), chunk(b"data", PCM[:12])), "IEEE float"),
        (riff(chunk(b"fmt ", fmt_body(tag=7, bits=8)), chunk(b"data", PCM)), "mu-law"),
        (riff(chunk(b"fmt ", extensible(sub_code=3)), chunk(b"data", PCM)), "IEEE float"),
        (riff(chunk(b"fmt ", extensible(valid_bits=12)), chunk(b"data", PCM)), "12-bit"),
        (riff(chunk(b"fmt ", extensible(tail=b"\x01" * 14)), chunk(b"data", PCM)), "non-standard"),
        (riff(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM), magic=b"RIFX"), "RIFX"),
    ],
    ids=["44k", "8k", "stereo", "8bit", "24bit", "float", "mulaw", "ext-float", "ext-12bit",
         "ext-guid", "rifx"],
)  # fmt: skip
def test_wrong_formats_are_refused_with_a_conversion_hint(
    tmp_path: Path, raw: bytes, words: str
) -> None:
    msg = refusal(write(tmp_path, raw))
    assert words in msg and "sox" in msg, msg


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "no RIFF/WAVE header"),
        (b"ID3\x04 not a wav at all", "no RIFF/WAVE header"),
        (riff(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM))[:-5], "truncated WAV: data chunk"),
        (riff(chunk(b"fmt ", fmt_body())) + b"data\x00\x00\x00\x10" + PCM, "says 268435456"),
        (riff(chunk(b"fmt ", fmt_body())) + b"data\xff\xff\xff\xff", "no samples"),
        (riff(chunk(b"fmt ", fmt_body())) + b"data\x00\x00\x00\x80" + PCM + b"\x01", "odd number"),
        (riff(chunk(b"fmt ", fmt_body()), chunk(b"data", PCM + b"\x01")), "odd number"),
        (riff(chunk(b"fmt ", fmt_body())) + b"LI", "chunk header cut off"),
        (riff(chunk(b"fmt ", fmt_body()), chunk(b"LIST", b"x" * 40)[:30]), "'LIST' chunk cut off"),
        (riff(chunk(b"fmt ", fmt_body())[:20]), "'fmt ' chunk cut off"),
        (riff(chunk(b"data", PCM)), "no 'fmt ' chunk"),
        (riff(chunk(b"fmt ", fmt_body())), "no 'data' chunk"),
        (riff(chunk(b"fmt ", fmt_body()), chunk(b"data", b"")), "no samples"),
        (riff(chunk(b"fmt ", b"\x01\x00\x01\x00"), chunk(b"data", PCM)), "shorter than 16"),
    ],
    ids=["empty", "not-riff", "cut-data", "claims-256-MiB", "streamed-no-samples",
         "streamed-odd-bytes", "odd-bytes", "cut-header",
         "cut-list-before-data", "cut-fmt", "no-fmt", "no-data", "no-samples", "short-fmt"],
)  # fmt: skip
def test_unreadable_and_truncated_files_are_named(tmp_path: Path, raw: bytes, words: str) -> None:
    msg = refusal(write(tmp_path, raw))
    assert words in msg, msg


def test_missing_file_and_folder_are_named(tmp_path: Path) -> None:
    assert "cannot read" in refusal(tmp_path / "nope.wav")
    folder = tmp_path / "dir.wav"
    folder.mkdir()
    assert "cannot read" in refusal(folder)


def test_parse_wav_matches_wav_bytes() -> None:
    assert np.array_equal(parse_wav(Path("mem.wav"), wav_bytes(SAMPLES)), SAMPLES)
