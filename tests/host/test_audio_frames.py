"""The audio frame parser (C) against the Python encoder and a Python model of its rules.

``firmware/audio/tinyslm_audio_frames.c`` is built with the host compiler
(``-std=c99 -Wall -Wextra -Werror -pedantic``, and again under ASan+UBSan) with
``tests/host/audio_frames_driver.c``, which feeds it a byte stream in chunks
and prints every frame and error. Streams from ``tinyslm.audio.frames`` must
come back exactly (frames, payloads, unpacked samples) whatever the chunking.
Corrupted streams (flipped, dropped and inserted bytes, truncation, garbage,
frames hiding behind a fake header) must give exactly the events of
``RefParser``, a line-by-line Python model of the documented rules, and the
crafted ones the events written out here. The Cortex-M7 ``-Os`` object is
built with ``-Werror`` and its size printed. (The libFuzzer run is
``test_audio_frames_fuzz.py``.)
"""

from __future__ import annotations

import subprocess
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from core_harness import SANITIZE_FLAGS, SANITIZER_ENV, sanitizers_work
from m7_object import CORTEX_M7_C99, build_m7_object
from shared_paths import missing, require_tool

from tinyslm.audio.frames import (
    FRAME_AUDIO,
    FRAME_END,
    FRAME_START,
    MAX_PAYLOAD,
    crc16_ccitt,
    encode_frame,
    encode_stream,
    stream_bytes,
)
from tinyslm.errors import TinySlmError, ToolchainError
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
FRAMES_C = AUDIO / "tinyslm_audio_frames.c"
DRIVER = Path(__file__).resolve().parent / "audio_frames_driver.c"
HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
MAX_BYTES = 6 + MAX_PAYLOAD + 2
GARBAGE, TYPE, LENGTH, CRC, GAP = 1, 2, 3, 4, 5
OK, FAILED, NOISE = 0, 1, 2  # step results, as in the C

Event = tuple[str, int, int, bytes]  # ("F", type, seq, payload) or ("E", error, detail, b"")


class RefParser:
    """The parser's rules in Python, step for step (see tinyslm_audio_frames.h)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.skipped = 0
        self.expect = 0
        self.in_stream = False
        self.rescanning_dropped = False
        self.events: list[Event] = []

    def feed(self, data: bytes) -> list[Event]:
        for b in data:
            result = self._step(b)
            if result != OK:
                # Scan the failed candidate's bytes after its sync0 again; those of
                # a dropped (reported) frame are not reported again as garbage.
                self.rescanning_dropped = result == FAILED
                pending = deque(self.buf[1:])
                self.buf.clear()
                while pending:
                    if self._step(pending.popleft()) != OK:
                        pending.extendleft(reversed(self.buf[1:]))
                        self.buf.clear()
                self.rescanning_dropped = False
        return self.events

    def _error(self, err: int, detail: int) -> None:
        self.events.append(("E", err, detail, b""))

    def _flush(self) -> None:
        if self.skipped:
            self._error(GARBAGE, self.skipped)
            self.skipped = 0

    def _skip(self) -> None:
        if self.rescanning_dropped:
            return
        self.skipped += 1
        if self.skipped >= MAX_BYTES:
            self._flush()

    def _fail(self, err: int, detail: int) -> int:
        self._flush()
        self._error(err, detail)
        return FAILED

    def _step(self, b: int) -> int:
        buf = self.buf
        if not buf:
            if b == 0xA5:
                buf.append(b)
            else:
                self._skip()
            return OK
        buf.append(b)
        if len(buf) == 2:
            if b != 0x5A:
                self._skip()
                return NOISE
            return OK
        if len(buf) == 3:
            return OK if b in (FRAME_START, FRAME_AUDIO, FRAME_END) else self._fail(TYPE, b)
        if len(buf) < 6:
            return OK
        length = buf[4] | buf[5] << 8
        if len(buf) == 6:
            bad = (length > MAX_PAYLOAD or length % 2) if buf[2] == FRAME_AUDIO else length != 0
            if bad:
                return self._fail(LENGTH, length)
        end = 6 + length
        if len(buf) < end + 2:
            return OK
        got = buf[end] | buf[end + 1] << 8
        if got != crc16_ccitt(bytes(buf[2:end])):
            return self._fail(CRC, got)
        frame_type, seq, payload = buf[2], buf[3], bytes(buf[6:end])
        buf.clear()
        self._flush()
        if frame_type != FRAME_START and self.in_stream and seq != self.expect:
            self._error(GAP, (seq - self.expect) & 0xFF)
        # After END the next stream's START (seq 0) is the frame expected.
        self.in_stream, self.expect = True, 0 if frame_type == FRAME_END else (seq + 1) & 0xFF
        self.events.append(("F", frame_type, seq, payload))
        return OK


def _build(out: Path, extra: tuple[str, ...] = ()) -> Path:
    try:
        return ccompile.compile_executable(
            [FRAMES_C, DRIVER], out, include_dirs=[AUDIO], cflags=(*HOST_FLAGS, *extra)
        )
    except ToolchainError as exc:
        if "not found" in str(exc):
            missing(str(exc))
        raise


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("frames") / "audio_frames_driver")


def c_parse(
    exe: Path, data: bytes, work: Path, chunk: int = 1, env: dict[str, str] | None = None
) -> tuple[list[Event], np.ndarray]:
    (work / "in.bin").write_bytes(data)
    proc = subprocess.run(
        [str(exe), str(work / "in.bin"), str(chunk), str(work / "pcm.raw")],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    events: list[Event] = []
    for line in lines[:-1]:
        kind, a, b, rest = [*line.split(" ", 3), ""][:4]
        # "F type seq len hex": rest is "len hex"; "E err detail name": no payload
        payload = bytes.fromhex(rest.split(" ")[1] if kind == "F" else "")
        events.append((kind, int(a), int(b), payload))
    frames = sum(e[0] == "F" for e in events)
    errors = sum(e[0] == "E" for e in events)
    assert lines[-1] == f"S {frames} {errors}"
    return events, np.fromfile(work / "pcm.raw", dtype=np.int16)


def test_the_largest_payload_the_header_allows_is_delivered(tmp_path: Path) -> None:
    """A frame is 8 bytes more than its payload, and the parser counts them in a
    uint16_t: the header refuses a TINYSLM_FRAME_MAX_PAYLOAD whose frames would not
    fit (65528 compiled, then dropped every full-size frame without a word)."""
    top = 65526  # the even payload whose frame, 8 bytes more, is at most 65535
    exe = _build(tmp_path / "top", extra=(f"-DTINYSLM_FRAME_MAX_PAYLOAD={top}",))
    payload = np.random.default_rng(3).integers(0, 256, top).astype(np.uint8).tobytes()
    body = bytes([FRAME_AUDIO, 0]) + top.to_bytes(2, "little") + payload
    frame = b"\xa5\x5a" + body + crc16_ccitt(body).to_bytes(2, "little")
    events, _ = c_parse(exe, frame, tmp_path, chunk=4096)
    assert events == [("F", FRAME_AUDIO, 0, payload)]
    with pytest.raises(ToolchainError, match="at most 65526"):
        _build(tmp_path / "over", extra=(f"-DTINYSLM_FRAME_MAX_PAYLOAD={top + 2}",))


def test_crc_is_ccitt_false() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1  # the catalogue's check value
    assert encode_frame(FRAME_START, 0) == bytes.fromhex("a55a01000000") + crc16_ccitt(
        bytes.fromhex("01000000")
    ).to_bytes(2, "little")


def test_round_trip(driver: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    for n, per_frame, chunk in ((0, 256, 1), (1, 1, 3), (16000, 256, 4096), (4001, 77, 61),
                                (70000, 256, 513)):  # fmt: skip
        samples = rng.integers(-32768, 32768, n).astype(np.int16)
        samples[:2] = [-32768, 32767][: min(n, 2)]
        data = stream_bytes(samples, per_frame)
        events, pcm = c_parse(driver, data, tmp_path, chunk)
        expected = [("F", *_parse_one(f)) for f in encode_stream(samples, per_frame)]
        assert events == expected, (n, per_frame, chunk)
        assert np.array_equal(pcm, samples)
        assert events == RefParser().feed(data)
    # more than 255 frames: seq wraps without a gap
    assert 70000 // 256 > 255


def _parse_one(frame: bytes) -> tuple[int, int, bytes]:
    return frame[2], frame[3], frame[6:-2]


def corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        kind, at = int(rng.integers(0, 5)), int(rng.integers(0, max(len(out), 1)))
        if kind == 0 and out:
            out[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            del out[at : at + int(rng.integers(1, 40))]
        elif kind == 2:
            out[at:at] = rng.integers(0, 256, int(rng.integers(1, 700)), dtype=np.uint8).tobytes()
        elif kind == 3:
            out[at:at] = b"\xa5\x5a"  # a sync pattern in the wrong place
        else:
            out = out[:at]
    return bytes(out)


def test_corrupted_streams_match_the_rules(driver: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    counts = {GARBAGE: 0, TYPE: 0, LENGTH: 0, CRC: 0, GAP: 0}
    for k in range(60):
        samples = rng.integers(-32768, 32768, int(rng.integers(0, 4000))).astype(np.int16)
        data = corrupt(stream_bytes(samples, int(rng.integers(1, 257))), rng)
        events, _ = c_parse(driver, data, tmp_path, chunk=1 + k % 37)
        assert events == RefParser().feed(data), k
        for e in events:
            counts[e[1]] += e[0] == "E"
    assert all(counts.values()), counts  # every kind of error was met


def test_crafted_streams(driver: Path, tmp_path: Path) -> None:
    a = encode_frame(FRAME_AUDIO, 1, b"\x01\x00\xff\xff")
    b = encode_frame(FRAME_AUDIO, 2, b"\x02\x00")
    fake = b"\xa5\x5a\x02\x07\x00\x02"  # audio, 512 bytes: swallows what follows
    bad_crc = a[:-1] + bytes([a[-1] ^ 1])
    F1, F2 = ("F", 2, 1, b"\x01\x00\xff\xff"), ("F", 2, 2, b"\x02\x00")
    cases = [
        ("noise, then a frame", b"hello\xa5\xa5\x00" + a, [("E", GARBAGE, 8, b""), F1]),
        ("frame inside a fake frame", fake + a + b + bytes(600), None),  # checked below
        ("bad crc dropped", bad_crc + b, [("E", CRC, a[-2] | (a[-1] ^ 1) << 8, b""), F2]),
        ("odd audio length", b"\xa5\x5a\x02\x00\x03\x00" + a, [("E", LENGTH, 3, b""), F1]),
        ("oversized", b"\xa5\x5a\x02\x00\x02\x02" + a, [("E", LENGTH, 514, b""), F1]),
        ("start with payload", b"\xa5\x5a\x01\x00\x02\x00" + a, [("E", LENGTH, 2, b""), F1]),
        ("bad type", b"\xa5\x5a\x09" + b, [("E", TYPE, 9, b""), F2]),
        ("lost frames", a + encode_frame(FRAME_AUDIO, 5), [F1, ("E", GAP, 3, b""),
                                                           ("F", 2, 5, b"")]),
        ("truncated", a + b[:-1], [F1]),
        ("endless noise", bytes(2 * MAX_BYTES + 5),
         [("E", GARBAGE, MAX_BYTES, b""), ("E", GARBAGE, MAX_BYTES, b"")]),
    ]  # fmt: skip
    for name, data, expected in cases:
        events, _ = c_parse(driver, data, tmp_path, chunk=7)
        assert events == RefParser().feed(data), name
        if expected is not None:
            assert events == expected, name
    # The fake header's 512 bytes end inside the zeros: its crc (two zeros) fails, the
    # rescan finds both real frames in its payload and drops the rest silently; the 108
    # zeros after it are garbage, reported once a frame (here a START) ends the run.
    data = fake + a + b + bytes(600) + encode_frame(FRAME_START, 0)
    events, _ = c_parse(driver, data, tmp_path)
    assert events == [("E", CRC, 0, b""), F1, F2, ("E", GARBAGE, 108, b""), ("F", 1, 0, b"")]


def test_under_sanitizers(tmp_path: Path) -> None:
    reason = sanitizers_work(tmp_path)
    if reason is not None:
        missing(reason)
    exe = _build(tmp_path / "frames_san", extra=("-O1", "-g", *SANITIZE_FLAGS))
    rng = np.random.default_rng(99)
    for k in range(15):
        samples = rng.integers(-32768, 32768, int(rng.integers(0, 3000))).astype(np.int16)
        data = corrupt(stream_bytes(samples, 256), rng)
        events, _ = c_parse(exe, data, tmp_path, chunk=1 + k, env=SANITIZER_ENV)
        assert events == RefParser().feed(data)


def test_encoder_refuses_what_the_parser_would_drop() -> None:
    refused: list[tuple[int, int, bytes]] = [
        (7, 0, b""), (FRAME_AUDIO, 256, b""), (FRAME_AUDIO, 0, b"\x00"),
        (FRAME_AUDIO, 0, bytes(MAX_PAYLOAD + 2)), (FRAME_END, 0, b"\x00\x00"),
    ]  # fmt: skip
    for args in refused:
        with pytest.raises(TinySlmError, match="audio frame"):
            encode_frame(*args)
    with pytest.raises(TinySlmError, match="int16"):
        stream_bytes(np.zeros(10, np.int32))
    with pytest.raises(TinySlmError, match="samples_per_frame"):
        stream_bytes(np.zeros(10, np.int16), 257)


def test_cortex_m7_build_and_size(tmp_path: Path) -> None:
    obj = build_m7_object(FRAMES_C, tmp_path / "frames_m7.o", [AUDIO])
    print(f"\naudio frame parser on Cortex-M7 -Os: .text {obj.text} B, .rodata {obj.rodata} B")
    assert 0 < obj.text + obj.rodata < 1536
    assert obj.static == 0  # the state is the caller's parser struct
    # No soft-float or division helpers: integer maths the M7 does natively.
    assert obj.undefined <= {"memset", "memmove", "memcpy"}, obj.undefined


def test_headers_are_usable_from_the_cxx_firmware(tmp_path: Path) -> None:
    # The board's main.cc (C++17, no exceptions or RTTI) owns the parser and detector.
    require_tool("arm-none-eabi-g++")
    src = tmp_path / "use.cc"
    src.write_text(
        '#include "tinyslm_audio_frames.h"\n#include "tinyslm_kws_detector.h"\n'
        "static tinyslm_frame_parser_t parser;\nstatic tinyslm_kws_detector_t det;\n"
        "static void on_frame(uint8_t, uint8_t, const uint8_t *, uint16_t, void *) {}\n"
        "int use(const uint8_t *bytes, size_t n, const int8_t *scores) {\n"
        "  tinyslm_kws_detector_config_t cfg = {4, 3, 51, 1000u, 3u, nullptr};\n"
        "  tinyslm_kws_detection_t d;\n"
        "  tinyslm_frame_parser_init(&parser, on_frame, nullptr, nullptr);\n"
        "  tinyslm_frame_parser_feed(&parser, bytes, n);\n"
        "  if (tinyslm_kws_detector_init(&det, &cfg) != TINYSLM_KWS_OK) return -1;\n"
        "  return tinyslm_kws_detector_push(&det, scores, 0u, &d);\n"
        "}\n"
    )
    flags = [f for f in CORTEX_M7_C99 if f not in ("-std=c99", "-pedantic")]
    flags += ["-std=c++17", "-fno-exceptions", "-fno-rtti"]
    ccompile.compile_object(
        src, tmp_path / "use.o", include_dirs=[AUDIO], flags=flags, compiler=["arm-none-eabi-g++"]
    )
