"""The firmware parsers on 32-bit Arm write exactly what they write on x86-64.

The boards are 32-bit (Cortex-M7, Xtensa LX6) and every other host test builds the
firmware C for x86-64, so a bug that shows only with 4-byte ``long``/``size_t``/
pointers or unsigned ``char`` passed them all. Here the existing host drivers are
built for both (``arm32.py``: newlib semihosting under ``qemu-arm``; the x86-64 build
under ASan+UBSan where the host runs them) and fed the same seeded streams, made in
Python with ``random.Random(seed)``: random, structured and mangled input for

- the text core's line protocol (``core_driver.c proto``: several line caps, random
  chunking, a wrapping clock, the answer hook, receive overflows), its tokenizer
  (``tok``) and its self-test of the defensive paths and number extremes;
- the audio frame parser (``audio_frames_driver.c``: events and unpacked samples);
- the keyword app (``kws_app_driver.c``: app, listening loop, front end, detector,
  parser) on serial streams and microphone samples, whose output carries every window
  of front-end features the model is asked to score (the model's answers are a
  seeded byte stream on stdin).

Each 32-bit run must exit 0 and write byte for byte what the x86-64 run writes, and
the output must show the streams were parsed (answers, frames, inferences), so two
empty outputs cannot pass.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pytest
from arm32 import Pair, assert_same_output, build_pair, require_arm32
from core_harness import CORE_SOURCES, DRIVER_C, INCLUDE_DIRS, WARN_FLAGS, have_host_cc
from shared_paths import missing

from tinyslm.audio.frames import FRAME_AUDIO, FRAME_END, FRAME_START, SYNC, crc16_ccitt

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
HOST_DIR = Path(__file__).resolve().parent
AUDIO = REPO / "firmware" / "audio"
COMMON = REPO / "firmware" / "common"
AUDIO_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
KWS_SOURCES = (
    *(AUDIO / f"{n}.c" for n in ("tinyslm_kws_app", "tinyslm_listen", "tinyslm_audio_frontend",
                                 "tinyslm_kws_detector", "tinyslm_audio_frames")),
    COMMON / "tinyslm_json.c",
    HOST_DIR / "kws_app_driver.c",
)  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not have_host_cc():
        missing("no host C compiler (cc or $CC) on PATH")
    path = tmp_path_factory.mktemp("arm32")
    require_arm32(path)
    return path


@pytest.fixture(scope="module")
def core(work: Path) -> Pair:
    return build_pair([DRIVER_C, *CORE_SOURCES], work, "core", INCLUDE_DIRS, [*WARN_FLAGS, "-O2"])


@pytest.fixture(scope="module")
def frames(work: Path) -> Pair:
    sources = [AUDIO / "tinyslm_audio_frames.c", HOST_DIR / "audio_frames_driver.c"]
    return build_pair(sources, work, "frames", [AUDIO], AUDIO_FLAGS)


@pytest.fixture(scope="module")
def kws(work: Path) -> Pair:
    return build_pair(list(KWS_SOURCES), work, "kws", [AUDIO, COMMON], AUDIO_FLAGS)


def both(pair: Pair, args: list[str], stdin: bytes, cwd: Path, what: str) -> bytes:
    """Run both builds; the Arm one must exit 0 and write what the host one writes."""
    arm = pair.arm.run_ok(args, stdin, cwd)
    host = pair.host.run_ok(args, stdin, cwd)
    assert_same_output(arm, host, what)
    return arm


# --------------------------------------------------------------------------
# (a) the text core


LABELS = ("on", "off", "timer", "x")
OVERFLOW = 0x07  # the driver calls tinyslm_app_rx_overflow for this byte
TEXT_PIECES = (
    b"turn", b"on", b"the", b"light", b"set", b"a", b"timer", b"caf\xc3\xa9", b"\xf0\x9f\x92\xa1",
    b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xff\xfe", b"\x80", b"\x00", b"\t", b"\x0b",
    b" ", b"\r", b"\r\n", b'{"', b"\\", b'"', b"\x1f", b":info", b":do on", b"-1", b"4294967295",
)  # fmt: skip
COMMANDS = (b":info", b":do on", b":do timer", b":do x", b":do nope", b":do ", b":", b":info ")


def text_stream(seed: int) -> bytes:
    """Words, commands, UTF-8 good and bad, control bytes, long lines and overflows."""
    r = random.Random(seed)
    out = bytearray()
    for _ in range(r.randint(250, 400)):
        k = r.random()
        if k < 0.45:
            out += r.choice(TEXT_PIECES) + r.choice((b" ", b"", b"\n"))
        elif k < 0.55:  # a command on a line of its own, or nearly
            out += b"\n" + r.choice(COMMANDS) + r.choice((b"\n", b"\r", b"x\n"))
        elif k < 0.7:
            out += bytes(r.randrange(256) for _ in range(r.randint(1, 24)))
        elif k < 0.74:
            out += bytes([r.choice(b"ab \xc3\xa9")]) * r.randint(100, 5000)
        elif k < 0.76:
            out.append(OVERFLOW)
        else:
            out += r.choice((b"\n", b"\r\n", b"\r"))
    return bytes(out)


# (seed, line cap, chunk: 0 is random sizes from the seed): caps below, at and far above
# the lines the streams hold.
TEXT_CASES = ((1, 8, 0), (2, 33, 0), (3, 64, 1), (4, 256, 0), (5, 1024, 4096), (6, 4096, 7))


@pytest.mark.parametrize(("seed", "line_cap", "chunk"), TEXT_CASES)
def test_text_protocol_matches(
    core: Pair, work: Path, seed: int, line_cap: int, chunk: int
) -> None:
    r = random.Random(1000 + seed)
    # Few vectors (the 256-byte command line): a random one, one below the threshold
    # (escalates), a failing inference, and the code that tinyslm_json_int must print
    # as a 32-bit long's minimum.
    scores = [",".join(str(r.randint(-128, 127)) for _ in LABELS), "0,-9,9,0"]
    scores += ["!3", "!-2147483648"]
    args = ["proto", *(a for label in LABELS for a in ("--label", label))]
    args += [a for vec in scores for a in ("--scores", vec)]
    args += ["--line-cap", str(line_cap), "--chunk", str(chunk), "--seed", str(seed)]
    args += ["--clock", "1", "--hook", "after", "--overflow-marker", str(OVERFLOW)]
    out = both(core, args, text_stream(seed), work, f"proto seed {seed} cap {line_cap}")
    # Answers (each with its hook line), both routes, an error, and what hits the cap.
    assert out.count(b'{"intent":') >= 10 and out.count(b"#hook ") >= 10, out[:500]
    assert b'"route":"local"' in out and b'"route":"escalate"' in out, out[:500]
    assert b'"route":"host"' in out and b'{"info":' in out, out[:500]
    assert b'"error":"inference_failed"' in out and b'"error":"rx_overflow"' in out, out[:500]
    assert b'"error":"line_too_long"' in out, out[:500]


def tok_records(seed: int) -> bytes:
    r = random.Random(seed)
    texts = [b"", b" ", b"a", b"turn on the light", b"caf\xc3\xa9 \xff\x80 x" * 30]
    for _ in range(150):
        texts.append(b" ".join(r.choice(TEXT_PIECES) for _ in range(r.randint(1, 40))))
        texts.append(bytes(r.randrange(256) for _ in range(r.randint(0, 300))))
    return b"".join(struct.pack("<I", len(t)) + t for t in texts)


# buckets, seq_len, unigrams, bigrams, char trigrams, hashes
TOK_SPECS = ((4096, 128, 1, 1, 1, 1), (2, 16, 1, 0, 1, 3), (0x7FFFFFFF, 64, 1, 1, 0, 8))


@pytest.mark.parametrize("spec", TOK_SPECS, ids=lambda s: "-".join(map(str, s)))
def test_tokenizer_matches(core: Pair, work: Path, spec: tuple[int, ...]) -> None:
    out = both(core, ["tok", *map(str, spec)], tok_records(spec[0] % 97), work, f"tok {spec}")
    ids = np.frombuffer(out, "<i4").reshape(-1, spec[1] + 1)
    assert len(ids) == 305 and (ids[:, 0] > 0).sum() > 200, ids[:5]


def test_selftest_passes_on_32_bit(core: Pair, work: Path) -> None:
    # NULLs, odd quantization and the JSON writer's LONG_MIN..ULONG_MAX, which printf
    # writes differently on each side: each build checks its own.
    assert core.arm.run_ok(["selftest"], b"", work) == b"selftest ok\n"
    assert core.host.run_ok(["selftest"], b"", work) == b"selftest ok\n"


# --------------------------------------------------------------------------
# (b) the audio frame parser


def raw_frame(frame_type: int, seq: int, payload: bytes, length: int | None = None) -> bytes:
    """Any frame, even one the encoder refuses (bad type, odd or too long a length)."""
    n = len(payload) if length is None else length
    body = bytes((frame_type, seq & 0xFF)) + struct.pack("<H", n & 0xFFFF) + payload
    return SYNC + body + struct.pack("<H", crc16_ccitt(body))


def frame_stream(seed: int) -> bytes:
    """Good frames of every size, wrong types and lengths, dropped bytes, fake headers."""
    r = random.Random(seed)
    out = bytearray()
    seq = 0
    for _ in range(r.randint(60, 120)):
        k = r.random()
        size = r.choice((0, 2, 4, 64, 510, 512, 3, 514))
        payload = bytes(r.randrange(256) for _ in range(size))
        if k < 0.45:
            kind = r.choice((FRAME_AUDIO, FRAME_AUDIO, FRAME_START, FRAME_END, 0, 4, 255))
            out += raw_frame(kind, seq, payload if kind == FRAME_AUDIO else b"")
            seq += r.choice((1, 1, 1, 2, 0))
        elif k < 0.55:
            out += raw_frame(r.choice((1, 2, 3, 0x80)), seq, payload)
        elif k < 0.65:
            frame = raw_frame(FRAME_AUDIO, seq, payload)
            i = r.randrange(len(frame))
            out += frame[:i] + frame[i + 1 :] if r.random() < 0.5 else frame[:i]
        elif k < 0.72:
            out += raw_frame(FRAME_AUDIO, seq, payload, length=r.choice((513, 0xFFFF, 0x8000)))
        elif k < 0.8:
            fake = b"\xa5\x5a\x02\x07\x04\x00" * r.randint(1, 90)
            out += raw_frame(FRAME_AUDIO, seq, fake[:512])[: r.randint(1, 600)]
        elif k < 0.9:
            out += bytes(r.choice(b"\xa5\x5a\x01\x02\x03\x00\xff") for _ in range(r.randint(1, 30)))
        else:
            out += bytes(r.randrange(256) for _ in range(r.randint(1, 200)))
    return bytes(out)


FRAME_CASES = ((11, 1), (12, 3), (13, 64), (14, 513), (15, 4096), (16, 4096))


@pytest.mark.parametrize(("seed", "chunk"), FRAME_CASES)
def test_frame_parser_matches(frames: Pair, work: Path, seed: int, chunk: int) -> None:
    name = f"f{seed}"
    (work / name).write_bytes(frame_stream(seed))
    outputs = []
    for prog in (frames.arm, frames.host):
        text = prog.run_ok([name, str(chunk), f"{name}.pcm"], b"", work)
        outputs.append((text, (work / f"{name}.pcm").read_bytes()))
    (arm, arm_pcm), (host, host_pcm) = outputs
    assert_same_output(arm, host, f"frames seed {seed} chunk {chunk}")
    assert_same_output(arm_pcm, host_pcm, f"frame samples seed {seed} chunk {chunk}")
    counts = [int(v) for v in arm.splitlines()[-1].split()[1:]]
    assert arm.count(b"\nF 2 ") >= 5 and len(arm_pcm) > 1000, arm[:300]
    assert counts[0] >= 10 and counts[1] >= 5, arm.splitlines()[-1]
    for code in (b"\nE 1 ", b"\nE 2 ", b"\nE 3 ", b"\nE 4 "):  # garbage, type, length, crc
        assert code in arm, (code, arm[:300])


# --------------------------------------------------------------------------
# (c) the keyword app


KWS_LABELS = ("_silence_", "_unknown_", "yes", "no")
# num_labels, window, threshold_q, suppression_ms, non-keyword mask, stride, threshold_milli
KWS_HEAD = ("4", "3", "20", "1000", "3", "2", "580")
FEATURES = 49 * 40  # one window the driver writes per inference (the header defaults)


def tone(r: random.Random, n: int) -> bytes:
    """``n`` samples of a tone in noise, loud or quiet, little-endian int16."""
    rng = np.random.default_rng(r.randrange(2**32))
    t = np.arange(n)
    amp = r.choice((0, 300, 8000, 32767))
    wave = amp * np.sin(t * r.uniform(0.01, 1.5)) + rng.normal(0, r.choice((1, 200, 3000)), n)
    return bytes(np.clip(wave, -32768, 32767).astype("<i2").tobytes())


def serial_stream(r: random.Random, end: bool) -> bytes:
    """Two framed streams (seconds of audio each: the model hears them) with commands
    between frames, mangled frames, lost and repeated seqs and noise; the second
    stream's END only when ``end``."""
    out = bytearray()
    for part in range(2):
        out += raw_frame(FRAME_START, 0, b"")
        seq = 1
        for _ in range(r.randint(150, 300)):
            k = r.random()
            if k < 0.75:
                out += raw_frame(FRAME_AUDIO, seq, tone(r, r.choice((256, 256, 160, 1, 32))))
                seq += r.choice([1] * 20 + [2, 0])
            elif k < 0.82:
                out += r.choice((b":info\n", b":info\r\n", b"\n:info\n", b":bogus\n",
                                 b":" + b"x" * 40 + b"\n", b":inf\xa5o\n", b"\r\n"))  # fmt: skip
            elif k < 0.9:
                frame = raw_frame(FRAME_AUDIO, seq, tone(r, 32))
                i = r.randrange(len(frame))
                out += frame[:i] + frame[i + 1 :]
            else:
                out += bytes(r.randrange(256) for _ in range(r.randint(1, 100)))
        if part == 0 or end:
            out += raw_frame(FRAME_END, seq, b"")
    return bytes(out)


def replies(r: random.Random, count: int) -> bytes:
    """The model's answers in turn: a status byte and 4 scores, a keyword hot for a while."""
    out = bytearray()
    while len(out) < 5 * count:
        hot = r.choice((None, None, 2, 3, 0))
        for _ in range(r.randint(3, 30)):
            status = 0 if r.random() < 0.95 else r.choice((1, 0xFD))
            scores = [r.randint(-128, -40) for _ in KWS_LABELS]
            if hot is not None:
                scores[hot] = r.randint(40, 127)
            out += bytes([status]) + struct.pack("<4b", *scores)
    return bytes(out)


def kws_records(out: bytes) -> dict[str, int]:
    """How many of each record the driver wrote (its header comment gives the layout)."""
    sizes = {b"I": 4 + FEATURES, b"K": 12, b"E": 20}
    counts = dict.fromkeys("ILKE", 0)
    i = 0
    while i < len(out):
        tag = out[i : i + 1]
        assert tag in (b"I", b"L", b"K", b"E"), (i, out[i - 40 : i + 40])
        counts[tag.decode()] += 1
        size = 4 + struct.unpack_from("<I", out, i + 1)[0] if tag == b"L" else sizes[tag]
        i += 1 + size
    assert i == len(out) and out[-21:-20] == b"E", out[-40:]
    return counts


KWS_CASES = ((21, 4096), (22, 97), (23, 1000), (24, 320))


@pytest.mark.parametrize(("seed", "chunk"), KWS_CASES)
def test_keyword_app_matches(kws: Pair, work: Path, seed: int, chunk: int) -> None:
    r = random.Random(seed)
    inputs: list[str] = []
    total = 0
    # A stream with its END, the microphone, a stream that may lose its END, and the
    # microphone long enough to close it (2 s) and then be heard.
    streams = (
        ("serial", serial_stream(r, True)),
        ("mic", tone(r, r.choice((20000, 48000)))),
        ("serial", serial_stream(r, r.random() < 0.5)),
        ("mic", tone(r, 70000)),
    )
    for i, (kind, data) in enumerate(streams):
        (work / f"k{seed}{i}").write_bytes(data)
        inputs.append(f"{kind}:k{seed}{i}")
        total += len(data)
    args = [*KWS_HEAD, str(chunk), *inputs, "--", *KWS_LABELS]
    out = both(kws, args, replies(r, total // 1280 + 64), work, f"kws seed {seed} chunk {chunk}")
    counts = kws_records(out)
    # Windows scored (each one the front end's features), detections with their hook
    # calls, :info, a frame dropped and a stream closed by END.
    assert counts["I"] >= 30 and counts["K"] >= 1, counts
    assert out.count(b'{"keyword":') == counts["K"], counts
    assert b'{"info":' in out and b'"error":"bad_frame"' in out and b'{"end":' in out, out[:300]
