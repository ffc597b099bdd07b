"""Read and write the one WAV format tinyslm trains on: 16-bit PCM, mono, 16 kHz.

The RIFF container is parsed here rather than with the stdlib ``wave`` module,
which (before Python 3.12) refuses ``WAVE_FORMAT_EXTENSIBLE`` files that many
recorders and converters write, and which does not report a truncated ``data``
chunk. Rules:

- Accepted: a little-endian ``RIFF``/``WAVE`` file whose ``fmt `` chunk says
  PCM (format tag 1, or ``WAVE_FORMAT_EXTENSIBLE`` with the PCM sub-format),
  1 channel, 16 bits per sample, 16000 Hz. Chunks may come in any order;
  unknown chunks (``LIST``, ``fact``, ``cue `` ...) are skipped, each padded to
  an even size as RIFF requires. A missing pad byte after the last chunk is
  tolerated (common, and nothing is lost), and so are bytes after complete
  ``fmt `` and ``data`` chunks that do not form a chunk (a tag some editors append).
- Refused, never converted: any other rate, width, channel count or encoding.
  Resampling or down-mixing silently would make training features differ from
  what the device's microphone delivers; the message names what the file is
  and the ``sox`` line that converts it.
- A ``data`` size of (almost) 2 GiB or more (:data:`UNKNOWN_LENGTH`) is a writer's "length not
  known" mark, not a claim: a recording streamed to a pipe or stopped with Ctrl-C
  keeps the placeholder its writer put in the header (``arecord ... > x.wav`` writes
  0x80000000, ffmpeg 0xFFFFFFFF) because the writer never seeks back to fill it in.
  Its samples run to the end of the file. No keyword clip comes near that size.
- Refused as truncated: a ``data`` chunk that claims more bytes than the file
  holds, an odd number of data bytes, or a chunk cut off before the audio is
  complete. Refused as misaligned: a pad byte left out after an odd-sized chunk
  before the audio is complete (the next chunk starts a byte early; reading on would
  take sample bytes for chunk headers). Refused as unreadable: no RIFF/WAVE header, no
  ``fmt `` or ``data`` chunk, no samples, a second ``data`` chunk (reading one would drop
  the other's audio unsaid), a second ``fmt `` chunk (which format the samples follow is
  not known; the second was skipped unsaid), the same ``fmt `` twice too (a WAV has one;
  the message says they are the same). A chunk id that is not a name is shown as
  escaped bytes.

Every refusal is a one-line :class:`~tinyslm.errors.DatasetError` that starts
with the file's path.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tinyslm.errors import DatasetError, quoted

SAMPLE_RATE = 16000
CHANNELS = 1
SAMPLE_WIDTH = 2  # bytes: 16-bit signed little-endian

_PCM = 0x0001
_EXTENSIBLE = 0xFFFE
# The 14 bytes that follow the format code in every standard KSDATAFORMAT GUID.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES = {0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM"}
_CONVERT_HINT = "convert it with: sox IN.wav -r 16000 -c 1 -b 16 -e signed-integer OUT.wav"
# A data chunk size from here up is a placeholder written before the length was known.
UNKNOWN_LENGTH = 0x7FFF0000

Samples = npt.NDArray[np.int16]


class WavFormatError(DatasetError):
    """A readable WAV in another format than tinyslm's (rate, width, channels, encoding).

    A dataset loader counts its other files in the same format (:func:`format_key`), so
    a folder of phone recordings is not refused one file at a time.
    """


def _shown(path: Path) -> str:
    # A path with a newline or a tab (emulate --wav $'a\nb.wav') broke the line in two;
    # quoted as its repr, but with an undecodable byte as every line shows it (\xff,
    # where repr wrote '\udcff').
    return str(path) if str(path).isprintable() else quoted(str(path))


def _fail(path: Path, why: str) -> DatasetError:
    return DatasetError(f"{_shown(path)}: {why}")


def _format_fail(path: Path, why: str) -> WavFormatError:
    return WavFormatError(f"{_shown(path)}: {why}")


def _is_name(chunk_id: bytes) -> bool:
    """Whether a chunk id is printable ASCII, as every chunk name is."""
    return all(0x20 <= b < 0x7F for b in chunk_id)


def _chunk(chunk_id: bytes) -> str:
    """A chunk as a message names it: ``'LIST' chunk``, or its id's bytes escaped when
    they are not a name (sample bytes read as a header); never raw bytes on the terminal."""
    if _is_name(chunk_id):
        return f"{chunk_id.decode('ascii')!r} chunk"
    return "chunk with id bytes " + "".join(f"\\x{b:02x}" for b in chunk_id)


def _format_code(path: Path, fmt: bytes) -> int:
    """The effective format code, looking inside WAVE_FORMAT_EXTENSIBLE."""
    (code,) = struct.unpack_from("<H", fmt, 0)
    if code != _EXTENSIBLE:
        return int(code)
    # cbSize(2) validBits(2) channelMask(4) subFormat GUID(16) follow the 16-byte header.
    if len(fmt) < 40:
        raise _fail(path, "unreadable WAV: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is too short")
    sub = fmt[24:40]
    if sub[2:] != _GUID_TAIL:
        return -1
    (sub_code,) = struct.unpack_from("<H", sub, 0)
    (container,) = struct.unpack_from("<H", fmt, 14)
    (valid_bits,) = struct.unpack_from("<H", fmt, 18)
    if sub_code == _PCM and valid_bits not in (0, container):
        # The container's width as the header gives it: 24 of 32 bits was called
        # "24-bit samples in 16-bit containers".
        raise _format_fail(
            path, f"{valid_bits}-bit samples in {container}-bit containers; {_CONVERT_HINT}"
        )
    return int(sub_code)


def _check_format(path: Path, fmt: bytes) -> None:
    if len(fmt) < 16:
        raise _fail(path, "unreadable WAV: 'fmt ' chunk is shorter than 16 bytes")
    _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    code = _format_code(path, fmt)
    if code != _PCM:
        if code < 0:
            name = "a non-standard WAVE_FORMAT_EXTENSIBLE sub-format"
        else:
            name = _FORMAT_NAMES.get(code, f"format 0x{code:04x}")
        raise _format_fail(
            path, f"{name} encoding, not PCM; tinyslm needs 16-bit PCM ({_CONVERT_HINT})"
        )
    if (channels, rate, bits) != (CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH * 8):
        raise _format_fail(
            path,
            f"{rate} Hz, {channels} channel(s), {bits}-bit PCM; tinyslm needs 16000 Hz mono"
            f" 16-bit ({_CONVERT_HINT})",
        )


def _is_chunk(raw: bytes, pos: int) -> bool:
    """Whether a whole chunk (header and body) starts at ``pos``."""
    if len(raw) - pos < 8:
        return False
    (size,) = struct.unpack_from("<I", raw, pos + 4)
    return len(raw) - pos - 8 >= int(size)


def parse_wav(path: Path, raw: bytes) -> Samples:
    """Decode the bytes ``raw`` of the WAV file ``path`` (named in errors) to int16 samples.

    Raises:
        DatasetError: the bytes are not a 16 kHz mono 16-bit PCM WAV (see the module rules).
    """
    if len(raw) < 12 or raw[8:12] != b"WAVE" or raw[:4] not in (b"RIFF", b"RIFX", b"RF64"):
        raise _fail(path, "unreadable WAV: no RIFF/WAVE header")
    if raw[:4] != b"RIFF":
        raise _fail(path, f"{raw[:4].decode()} container is not supported; {_CONVERT_HINT}")
    fmt: bytes | None = None
    data: bytes | None = None
    odd = b""  # the id of the chunk just skipped when its size was odd
    pos = 12
    while pos < len(raw):
        if fmt is not None and data is not None and not _is_chunk(raw, pos):
            break  # the audio is complete; what follows is not a chunk (an appended tag)
        if len(raw) - pos < 8:
            if raw[pos:].strip(b"\x00"):
                raise _fail(path, f"truncated WAV: chunk header cut off at byte {pos}")
            break  # trailing zero padding written by some tools
        chunk_id = raw[pos : pos + 4]
        (size,) = struct.unpack_from("<I", raw, pos + 4)
        body = raw[pos + 8 : pos + 8 + size]
        shifted = not _is_name(chunk_id) or len(body) < size
        if odd and shifted and _is_name(raw[pos - 1 : pos + 3]) and (fmt is None or data is None):
            # A writer that left out the pad byte after an odd-sized chunk: the next chunk
            # starts a byte early, so the header read here is shifted bytes, and reading
            # on ended in sample bytes ("'\xe0\xd0\xe0\x9e' chunk cut off at byte 182").
            raise _fail(
                path,
                f"misaligned WAV: the chunk after the odd-sized {_chunk(odd)} starts at"
                f" byte {pos - 1}, not {pos} (its pad byte missing?)",
            )
        if len(body) < size and chunk_id == b"data" and size >= UNKNOWN_LENGTH and data is None:
            data = body  # the placeholder of a streamed recording: the samples run to the end
            break
        if len(body) < size:
            if chunk_id == b"data":
                raise _fail(
                    path,
                    f"truncated WAV: data chunk says {size} bytes, file holds {len(body)}",
                )
            raise _fail(path, f"truncated WAV: {_chunk(chunk_id)} cut off at byte {pos}")
        if chunk_id == b"fmt " and fmt is None:
            fmt = body
        elif chunk_id == b"fmt ":
            # The second was skipped unsaid: the samples were read in the first's format
            # whichever one the writer meant (16 kHz, and 8 kHz after it, was read as 16 kHz).
            # The same bytes twice leave no doubt about the format, but the file is still not
            # a WAV as the format defines it (one 'fmt '): refused as two 'data' chunks are,
            # and the message says what is wrong with this file, not a doubt it does not have.
            if body == fmt:
                why = ", the same format twice (a WAV has one; write the file again with one)"
            else:
                why = " (a WAV has one; which of the two its samples follow is not known)"
            raise _fail(path, f"unreadable WAV: a second 'fmt ' chunk at byte {pos}{why}")
        elif chunk_id == b"data" and data is None:
            data = body
        elif chunk_id == b"data":
            # Reading the first alone dropped the rest of the recording without a word
            # (1.0 of 3.5 s); joining them would be a conversion: refused, as any other.
            raise _fail(
                path,
                f"unreadable WAV: a second 'data' chunk at byte {pos} (a WAV holds its samples"
                " in one; reading the first alone would drop the rest of the audio)",
            )
        odd = chunk_id if size & 1 else b""
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise _fail(path, "unreadable WAV: no 'fmt ' chunk")
    _check_format(path, fmt)
    if data is None:
        raise _fail(path, "unreadable WAV: no 'data' chunk")
    if len(data) % SAMPLE_WIDTH:
        raise _fail(path, f"truncated WAV: odd number of data bytes ({len(data)})")
    if not data:
        raise _fail(path, "WAV holds no samples")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def format_key(path: Path | str) -> bytes | None:
    """What a WAV's ``fmt `` chunk says of its format (tag, channels, rate, width and the
    EXTENSIBLE sub-format; not the byte rate), read from its chunk headers alone: two files
    with the same key are refused alike. ``None``: no RIFF/WAVE header, no ``fmt ``
    chunk, or unreadable (each file says why when it is read)."""
    try:
        with Path(path).open("rb") as stream:
            head = stream.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                header = stream.read(8)
                if len(header) < 8:
                    return None
                (size,) = struct.unpack_from("<I", header, 4)
                if header[:4] == b"fmt ":
                    fmt = stream.read(min(size, 40))
                    if len(fmt) < 16:
                        return None
                    return fmt[:4] + fmt[4:8] + fmt[14:16] + fmt[24:40]
                stream.seek(size + (size & 1), 1)
    except OSError:
        return None


def read_wav(path: Path | str) -> Samples:
    """Read a 16 kHz mono 16-bit PCM WAV file as int16 samples.

    Raises:
        DatasetError: the file cannot be read or is not in that format (one line, path first).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from exc
    return parse_wav(path, raw)


def wav_bytes(samples: npt.ArrayLike) -> bytes:
    """The canonical 44-byte-header PCM WAV holding ``samples`` (int16, mono, 16 kHz)."""
    pcm = np.asarray(samples, dtype=np.int16).astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        CHANNELS,
        SAMPLE_RATE,
        SAMPLE_RATE * SAMPLE_WIDTH,
        SAMPLE_WIDTH,
        SAMPLE_WIDTH * 8,
        b"data",
        len(pcm),
    )
    return header + pcm


def write_wav(path: Path | str, samples: npt.ArrayLike) -> None:
    """Write ``samples`` as a 16 kHz mono 16-bit PCM WAV file."""
    Path(path).write_bytes(wav_bytes(samples))
