"""The serial protocol of a text project (docs/architecture.md), plain and ASan+UBSan.

Each case feeds bytes to tinyslm_app_feed (firmware/text/tinyslm_core.c, writing
through firmware/common/tinyslm_json.c and deciding with tinyslm_gate.c) through
tests/host/core_driver.c with a fake model that returns chosen int8 scores, and
parses every output line with json.loads. The references the cases compare with
are written from docs/architecture.md, not from the C. test_core_coverage.py
replays PROTOCOL_CASES under gcov.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import numpy as np
import pytest
from core_harness import Driver, parse_lines

from tinyslm.decision import ROUTE_ESCALATE, ROUTE_LOCAL, decide, score_milli
from tinyslm.text.features import FeatureSpec, tokenize

# --------------------------------------------------------------------------
# references written from docs/architecture.md


def milli_text(milli: int) -> str:
    return f"{milli // 1000}.{milli % 1000:03d}"


def _utf8_len(lead: int) -> int:
    if lead < 0x80:
        return 1
    if lead >> 5 == 0b110:
        return 2
    if lead >> 4 == 0b1110:
        return 3
    if lead >> 3 == 0b11110:
        return 4
    return 0


def reference_text(data: bytes) -> str:
    """What the device's "text" must decode to: valid UTF-8 kept, each invalid byte -> U+FFFD."""
    out = []
    i = 0
    while i < len(data):
        n = _utf8_len(data[i])
        chunk = data[i : i + n] if n else b""
        try:
            if not n or len(chunk) < n:
                raise UnicodeDecodeError("utf-8", chunk, 0, 1, "bad")
            out.append(chunk.decode("utf-8"))  # strict: rejects overlongs and surrogates
            i += n
        except UnicodeDecodeError:
            out.append("\ufffd")
            i += 1
    return "".join(out)


# A line of only these bytes is ignored like an empty one (docs/architecture.md).
BLANK_BYTES = b" \t\x0b\x0c"


def json_text(text: str) -> bytes:
    """A JSON string as the device writes it: json.dumps(ensure_ascii=False), but
    U+2028/U+2029 escaped (JavaScript-safe)."""
    dumped = json.dumps(text, ensure_ascii=False)
    return dumped.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def split_lines(data: bytes, cap: int) -> list[tuple[str, bytes]]:
    """The protocol's line splitting: ("line", bytes) or ("too_long", b"") per output."""
    events: list[tuple[str, bytes]] = []
    cur = bytearray()
    discarding = False
    for b in data:
        if b in (0x0A, 0x0D):
            if not discarding and bytes(cur).strip(BLANK_BYTES):
                events.append(("line", bytes(cur)))
            cur.clear()
            discarding = False
        elif discarding:
            continue
        elif len(cur) < cap:
            cur.append(b)
        else:
            events.append(("too_long", b""))
            cur.clear()
            discarding = True
    return events


# --------------------------------------------------------------------------
# protocol cases: each takes a Driver and asserts


LABELS3 = ("lights_on", "lights_off", "play_music")
DEFAULT_SCALE = 1.0 / 256.0
DEFAULT_ZP = -128


def _result_keys(obj: dict[str, object]) -> list[str]:
    return list(obj.keys())


def case_gate_every_q(drv: Driver) -> None:
    """Route, intent and printed score against tinyslm.decision for every int8 score."""
    combos = [
        (1.0 / 256.0, -128, 13),
        (1.0 / 255.0, -128, 0),
        (0.0041, -128, 127),
        (0.00390625, -128, -128),
        (0.0037, 0, 100),
        (0.0123, -128, 128),  # 128: never local
    ]
    rng = random.Random(7)
    for scale, zp, tq in combos:
        qs = [q for q in range(-128, 128) if q >= zp]
        vectors, expected = [], []
        for q in qs:
            # idx must be the first maximum: entries before it stay below q
            idx = 0 if q == -128 else rng.randrange(3)
            vec = [rng.randint(-128, q - 1 if i < idx else q) for i in range(3)]
            vec[idx] = q
            vectors.append(",".join(map(str, vec)))
            d = decide(np.array(vec), scale, zp, tq)
            expected.append((d, score_milli(q, scale, zp)))
        # the driver cycles through at most 512 vectors: one line per vector
        raw = drv.proto_raw(
            b"".join(b"phrase %d\n" % i for i in range(len(vectors))),
            LABELS3,
            vectors,
            scale=repr(scale),
            zp=zp,
            threshold_q=tq,
        )
        lines = raw.decode().splitlines()
        assert len(lines) == len(qs)
        for i, (line, (d, milli)) in enumerate(zip(lines, expected, strict=True)):
            obj = json.loads(line)
            assert obj["intent"] == LABELS3[d.index], (scale, zp, vectors[i], line)
            assert obj["route"] == d.route, (scale, zp, tq, vectors[i], line)
            assert f'"score":{milli_text(milli)},' in line, (scale, zp, vectors[i], line, milli)
            keys = ["intent", "score", "route", "us"]
            if d.route == ROUTE_ESCALATE:
                keys.append("text")
                assert obj["text"] == f"phrase {i}"
            assert _result_keys(obj) == keys


def case_label_levels(drv: Driver) -> None:
    """Labels with levels of their own (generate --label-threshold): each answer is
    compared with its top label's level, as tinyslm.decision.decide with the levels."""
    levels = [13, 60, -20]  # lights_on at the model's 13, lights_off stricter, the third readier
    rng = random.Random(11)
    vectors = []
    for _ in range(400):
        vec = [rng.randint(-128, 127) for _ in range(3)]
        vectors.append(",".join(map(str, vec)))
    raw = drv.proto_raw(
        b"".join(b"p%d\n" % i for i in range(len(vectors))), LABELS3, vectors,
        threshold_q=13, label_levels=",".join(map(str, levels)),
    )  # fmt: skip
    routes = set()
    for vec, line in zip(vectors, raw.decode().splitlines(), strict=True):
        d = decide(np.array([int(x) for x in vec.split(",")]), DEFAULT_SCALE, DEFAULT_ZP, levels)
        obj = json.loads(line)
        assert (obj["intent"], obj["route"]) == (LABELS3[d.index], d.route), (vec, line)
        routes.add((d.index, d.route))
    # Every label was answered both ways, so each level was compared with.
    assert routes == {(i, r) for i in range(3) for r in (ROUTE_LOCAL, ROUTE_ESCALATE)}
    # :info lists the labels whose level differs from threshold_q, as each level prints.
    raw = drv.proto_raw(b":info\n", LABELS3, ["0,0,0"], threshold_q=13,
                        label_levels=",".join(map(str, levels)))  # fmt: skip
    own = ",".join(
        f'"{LABELS3[i]}":{milli_text(score_milli(q, DEFAULT_SCALE, DEFAULT_ZP))}'
        for i, q in enumerate(levels)
        if q != 13
    )
    assert raw.endswith(b',"threshold":0.550,"label_thresholds":{' + own.encode() + b"}}}\n"), raw
    plain = drv.proto_raw(b":info\n", LABELS3, ["0,0,0"], threshold_q=13)
    assert b"label_thresholds" not in plain and plain.endswith(b',"threshold":0.550}}\n')
    # With the thresholds as tinyslm recorded them (generate's table), :info prints those.
    millis = [900 + i for i in range(len(levels))]
    raw = drv.proto_raw(b":info\n", LABELS3, ["0,0,0"], threshold_q=13,
                        label_levels=",".join(map(str, levels)),
                        label_milli=",".join(map(str, millis)))  # fmt: skip
    own = ",".join(
        f'"{LABELS3[i]}":{milli_text(millis[i])}' for i, q in enumerate(levels) if q != 13
    )
    assert raw.endswith(b',"threshold":0.550,"label_thresholds":{' + own.encode() + b"}}}\n"), raw


def case_threshold_boundary(drv: Driver) -> None:
    out = drv.proto(b"a\nb\nc\n", LABELS3, ["12,0,0", "13,0,0", "-20,14,0"], threshold_q=13)
    assert [o["route"] for o in out] == [ROUTE_ESCALATE, ROUTE_LOCAL, ROUTE_LOCAL]
    assert [o["intent"] for o in out] == ["lights_on", "lights_on", "lights_off"]
    assert "text" not in out[1] and out[0]["text"] == "a"


def case_tie_first_index(drv: Driver) -> None:
    out = drv.proto(
        b"x\ny\nz\nw\n",
        ("a", "b", "c", "d"),
        ["50,90,90,10", "90,90,90,90", "-128,-128,-128,-128", "0,1,1,2"],
    )
    assert [o["intent"] for o in out] == ["b", "a", "a", "d"]


def case_score_format(drv: Driver) -> None:
    cases = [
        # scale, zp, q, printed
        (1.0 / 256.0, -128, -128, "0.000"),
        (1.0 / 256.0, -128, 127, "0.996"),
        (1.0 / 255.0, -128, 127, "1.000"),
        (0.001, 0, 1, "0.001"),
        (0.0015, 0, 1, "0.002"),  # 1.5 thousandths rounds half up
        (0.0014, 0, 1, "0.001"),
        (0.0099, 0, 127, "1.257"),
        (0.5, 0, 100, "50.000"),
    ]
    for scale, zp, q, printed in cases:
        raw = drv.proto_raw(b"t\n", ("only",), [str(q)], scale=repr(scale), zp=zp, threshold_q=-128)
        assert f'"score":{printed},' in raw.decode(), (scale, zp, q, raw)
        assert printed == milli_text(score_milli(q, scale, zp))


def case_us_clock(drv: Driver) -> None:
    no_clock = drv.proto(b"hi\n", LABELS3, ["100,0,0"])
    assert no_clock[0]["us"] == 0
    # the fake clock starts 0x1000 before wrap-around and ticks 406 per call
    with_clock = drv.proto(b"hi\nho\n" * 10, LABELS3, ["100,0,0", "-100,0,0"], clock=1)
    assert [o["us"] for o in with_clock] == [406] * 20


def case_line_endings(drv: Driver) -> None:
    data = b"one\ntwo\rthree\r\nfour\n\n\r\r\n\r\n" + b"five\r\n" + b"unterminated"
    out = drv.proto(data, LABELS3, ["-50,0,0"])
    assert [o["text"] for o in out] == ["one", "two", "three", "four", "five"]
    assert drv.proto(b"\n\r\r\n\n", LABELS3, ["0,0,0"]) == []
    # a line of only spaces, tabs, \v or \f is ignored like an empty one
    blank = b" \n\t\r \t \x0b\x0c\r\n" + b" " * 40 + b"\n"
    assert drv.proto(blank, LABELS3, ["0,0,0"], line_cap=16) == [
        {"error": "line_too_long", "max": 16}
    ]
    out = drv.proto(b" \n x \n\t\x00\n", LABELS3, ["-50,0,0"])
    # A NUL is not blank: that line is answered, but it has no word (case_no_tokens).
    assert [o.get("text", o.get("error")) for o in out] == [" x ", "no_tokens"]


def case_overlong_line(drv: Driver) -> None:
    cap = 16
    ok = b"x" * cap
    too_long = b"y" * (cap + 1)
    for chunk in (1, 5, 4096, 0):
        data = (
            ok + b"\n" + too_long + b"z" * 3000 + b"\r\n" + b"after\n" + too_long + b"\n" + b"end\n"
        )
        out = drv.proto(data, LABELS3, ["-50,-60,-70"], line_cap=cap, chunk=chunk)
        err = {"error": "line_too_long", "max": cap}
        assert out == [
            {
                "intent": "lights_on",
                "score": 0.305,
                "route": "escalate",
                "us": 0,
                "text": ok.decode(),
            },
            err,
            {"intent": "lights_on", "score": 0.305, "route": "escalate", "us": 0, "text": "after"},
            err,
            {"intent": "lights_on", "score": 0.305, "route": "escalate", "us": 0, "text": "end"},
        ], chunk
    # the error is written as soon as the limit is passed, before any terminator
    raw = drv.proto_raw(b"q" * (cap + 1), LABELS3, ["0,0,0"], line_cap=cap)
    assert raw == b'{"error":"line_too_long","max":16}\n'
    # :info longer than the limit is just an overlong line
    assert drv.proto(b":info\n", LABELS3, ["0,0,0"], line_cap=4) == [
        {"error": "line_too_long", "max": 4}
    ]


def case_answer_hook(drv: Driver) -> None:
    """What generated projects give src/tinyslm_actions.c (tinyslm_app_on_answer): each
    answered phrase once, right after its JSON line, with the line's intent, score and route
    and the phrase's bytes; nothing for a command, a blank or overlong line or a failed
    inference; and a hook set before tinyslm_app_init is cleared by it."""
    data = b"turn on\n:info\n   \n" + b"y" * 40 + b"\nplay \xff it\r\nboom\nlast\n"
    vectors = ["100,0,0", "-20,12,0", "!3", "0,0,-40"]
    plain = drv.proto_raw(data, LABELS3, vectors, line_cap=32)
    assert b"#hook" not in plain
    for chunk in (1, 4096, 0):
        raw = drv.proto_raw(data, LABELS3, vectors, line_cap=32, chunk=chunk, hook="after")
        rows = raw.split(b"\n")[:-1]
        assert b"".join(r + b"\n" for r in rows if not r.startswith(b"#hook ")) == plain
        hooked = []
        for i, row in enumerate(rows):
            if row.startswith(b"#hook "):
                answer = json.loads(rows[i - 1])  # the line just before: its own answer
                index, milli, local, text = row.removeprefix(b"#hook ").split(b" ", 3)
                assert LABELS3[int(index)] == answer["intent"]
                assert milli_text(int(milli)) == f"{answer['score']:.3f}"
                # <local><by_host>: a phrase's answer is never the host's
                assert local == (b"10" if answer["route"] == "local" else b"00")
                hooked.append(text)
        # not :info, the blank line, the overlong line or the failed inference ("boom")
        assert hooked == [b"7:turn on", b"9:play \xff it", b"4:last"], chunk
        assert len([r for r in rows if b'"intent"' in r]) == 3
    assert drv.proto_raw(data, LABELS3, vectors, line_cap=32, hook="early") == plain


def case_host_answer(drv: Driver) -> None:
    """``:do <intent>``: the host's answer to an escalated phrase (docs/architecture.md). An
    exact label gets ``{"intent":...,"route":"host"}`` and the hook (local 1, by_host 1,
    score 1000, the name as text), with no inference; anything else ``unknown_intent``."""
    labels = (*LABELS3, 'say "hi"', "caf\u00e9")
    data = (
        b"dim it\n:do lights_off\r\n:do caf\xc3\xa9\n:do play_music\n"
        b":do \n:do lights\n:do lights_offx\n:do Lights_off\n:do  lights_off\n"
        b':do lights_off \n:do lights_off\x00\n:do say "hi"\n:do\n:dolights_on\n'
    )
    # One score vector only: the :do lines must not run the model ("!1" would fail).
    raw = drv.proto_raw(data, labels, ["-20,12,0,0,0", "!1"], line_cap=32, hook="after")
    rows = raw.split(b"\n")[:-1]
    plain = [json.loads(r) for r in rows if not r.startswith(b"#hook ")]
    assert plain == [
        {"intent": "lights_off", "score": plain[0]["score"], "route": "escalate", "us": 0,
         "text": "dim it"},
        {"intent": "lights_off", "route": "host"},
        {"intent": "caf\u00e9", "route": "host"},
        {"intent": "play_music", "route": "host"},
        *[{"error": "unknown_intent"}] * 7,
        {"intent": 'say "hi"', "route": "host"},
        {"error": "unknown_command"},
        {"error": "unknown_command"},
    ]  # fmt: skip
    hooks = [r.removeprefix(b"#hook ") for r in rows if r.startswith(b"#hook ")]
    assert hooks == [
        b"1 " + str(plain_milli(plain[0])).encode() + b" 00 6:dim it",
        b"1 1000 11 10:lights_off",
        b"4 1000 11 5:caf\xc3\xa9",
        b"2 1000 11 10:play_music",
        b'3 1000 11 8:say "hi"',
    ]
    # each host hook right after its own line
    for i, row in enumerate(rows):
        if row.startswith(b"#hook ") and b" 11 " in row:
            assert json.loads(rows[i - 1])["route"] == "host"


def plain_milli(answer: dict[str, object]) -> int:
    return round(float(str(answer["score"])) * 1000)


def case_info(drv: Driver) -> None:
    raw = drv.proto_raw(
        b":info\n",
        LABELS3,
        ["0,0,0"],
        threshold_milli=550,
        board="stm32h7",
        model_bytes=71234,
        arena_bytes=8192,
    )
    expected = (
        b'{"info":{"version":"0.1.0","board":"stm32h7","model_sha256":"'
        + b"0123456789abcdef" * 4
        + b'","model_bytes":71234,"arena_bytes":8192,'
        + b'"ops":["FULLY_CONNECTED","GATHER","MEAN","SOFTMAX"],"labels":3,"threshold":0.550}}\n'
    )
    assert raw == expected
    info = parse_lines(raw)[0]["info"]
    assert isinstance(info, dict) and info["threshold"] == 0.55
    for milli, text in ((0, "0.000"), (5, "0.005"), (1000, "1.000"), (999, "0.999")):
        raw = drv.proto_raw(b":info\r\n", LABELS3, ["0,0,0"], threshold_milli=milli)
        assert f'"threshold":{text}}}}}\n' in raw.decode()
    for ops, listed in (("", []), (",A,,B,", ["A", "B"]), ("ONE", ["ONE"]), ('Q"\\', ['Q"\\'])):
        info = drv.proto(b":info\n", LABELS3, ["0,0,0"], ops=ops)[0]["info"]
        assert isinstance(info, dict) and info["ops"] == listed
    info = drv.proto(b":info\n", LABELS3, ["0,0,0"], board='b"\\\x01')[0]["info"]
    assert isinstance(info, dict) and info["board"] == 'b"\\\x01'


def case_unknown_command(drv: Driver) -> None:
    data = b":\n:INFO\n:info \n:infox\n:inf\n::info\n:info\n"
    out = drv.proto(data, LABELS3, ["0,0,0"])
    assert out[:6] == [{"error": "unknown_command"}] * 6
    assert "info" in out[6] and len(out) == 7


def case_rx_overflow(drv: Driver) -> None:
    """Bytes lost where 0x01 stands (the glue's receive buffer overflowed): the line they
    broke is dropped with one error, not classified; lines before and after are answered.
    In any chunking, and at the start of a line (the lost bytes may have held its end)."""
    data = b"a\nlights \x01on\nb\n\x01c\nd\n:info\n"
    for chunk in (1, 3, 4096):
        out = drv.proto(data, LABELS3, ["100,0,0"], chunk=chunk, overflow_marker=1)
        answers = [o.get("intent", o.get("error", "info")) for o in out]
        assert answers == ["lights_on", "rx_overflow", "lights_on", "rx_overflow",
                           "lights_on", "info"], chunk  # fmt: skip
        assert out[1] == {"error": "rx_overflow"}
    # The hook hears the answered lines only.
    raw = drv.proto_raw(b"x\x01y\nz\n", LABELS3, ["100,0,0"], overflow_marker=1, hook="after")
    assert raw.decode().count("#hook") == 1


def case_rx_error(drv: Driver) -> None:
    """A byte received wrong where 0x02 stands (round 47): as an overflow, the line it
    broke is dropped with one rx_error line naming why, never classified."""
    data = b"a\nlights \x02on\nb\n\x02c\nd\n"
    for chunk in (1, 3, 4096):
        out = drv.proto(data, LABELS3, ["100,0,0"], chunk=chunk, error_marker=2)
        answers = [o.get("intent", o.get("error")) for o in out]
        assert answers == ["lights_on", "rx_error", "lights_on", "rx_error", "lights_on"], chunk
        assert out[1] == {"error": "rx_error", "reason": "framing"}


def case_info_cpu_hz(drv: Driver) -> None:
    """The glue's clock in :info (round 47), right after the board; none without it."""
    out = drv.proto(b":info\n", LABELS3, ["0,0,0"], cpu_hz=400000000, board="stm32h7")
    info = out[0]["info"]
    assert isinstance(info, dict) and info["cpu_hz"] == 400000000
    assert list(info)[list(info).index("board") + 1] == "cpu_hz"
    plain = drv.proto(b":info\n", LABELS3, ["0,0,0"], board="stm32h7")[0]["info"]
    assert isinstance(plain, dict) and "cpu_hz" not in plain


def case_no_tokens(drv: Driver) -> None:
    """A line the tokenizer makes no id of gets one no_tokens error, no inference (the
    next line takes the first score the fake model has) and no hook; a line with one
    word among the punctuation is classified."""
    data = b'?!.\n- -- !!\n\x00\x01\x7f\n:"*"\n?lights!\n'
    assert not any(any(tokenize(line, FeatureSpec())) for line in data.split(b"\n")[:3])
    for chunk in (1, 4096):
        out = drv.proto(data, LABELS3, ["!5", "100,0,0"], chunk=chunk)
        assert out == [
            {"error": "no_tokens"},
            {"error": "no_tokens"},
            {"error": "no_tokens"},
            {"error": "unknown_command"},
            {"error": "inference_failed", "code": 5},  # the first inference
        ], chunk
    raw = drv.proto_raw(b"?!.\nlights\n", LABELS3, ["100,0,0"], hook="after")
    rows = raw.split(b"\n")[:-1]
    assert [r.startswith(b"#hook ") for r in rows] == [False, False, True]  # lights only
    assert json.loads(rows[0]) == {"error": "no_tokens"}


def case_inference_failure(drv: Driver) -> None:
    out = drv.proto(b"a\nb\nc\nd\n", LABELS3, ["!-7", "100,0,0", "!3", "!-2147483648"])
    assert out == [
        {"error": "inference_failed", "code": -7},
        {"intent": "lights_on", "score": 0.891, "route": "local", "us": 0},
        {"error": "inference_failed", "code": 3},
        {"error": "inference_failed", "code": -2147483648},
    ]


ESCAPE_SAMPLES = (
    b'say "hi" \\ back\\slash',
    # With a word: a line of control bytes alone has no token (case_no_tokens).
    b"ctl " + bytes(b for b in range(0x00, 0x20) if b not in (0x0A, 0x0D)) + b"\x7f",
    "caf\u00e9 \u20ac \U0001f600 \u4e2d\u6587".encode(),
    b"bad \xff \xfe \x80 \xbf end",
    b"overlong \xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf",
    b"surrogate \xed\xa0\x80 max \xf4\x8f\xbf\xbf over \xf4\x90\x80\x80 \xf5\x80",
    b"truncated \xe2\x82",
    b"\xe2\x82A \xf0\x9f\x98 \xc3",
    b"\x00\x00nul",
    "line\u2028sep\u2029para \u2027\u202a".encode(),
)


def case_json_escaping(drv: Driver) -> None:
    for sample in ESCAPE_SAMPLES:
        out = drv.proto(sample + b"\n", LABELS3, ["-100,0,0"])
        assert len(out) == 1 and out[0]["text"] == reference_text(sample), sample
        try:
            text = sample.decode("utf-8")
        except UnicodeDecodeError:
            continue
        # valid UTF-8: byte-identical to json.dumps(ensure_ascii=False)
        raw = drv.proto_raw(sample + b"\n", LABELS3, ["-100,0,0"])
        assert raw.endswith(b',"text":' + json_text(text) + b"}\n")
        # U+2028/U+2029 never travel raw: they end a line in JavaScript
        assert b"\xe2\x80\xa8" not in raw and b"\xe2\x80\xa9" not in raw


def _c_string(value: bytes | None) -> str:
    """A C string argument as the error line must carry it: cut at NUL, NULL -> "unknown"."""
    return "unknown" if value is None else reference_text(value.split(b"\0", 1)[0])


def case_error_lines(drv: Driver) -> None:
    """tinyslm_write_error: the board glue's {"error","reason"} line, escaped like "text"."""
    # byte-exact for the line the glue writes when TFLM fails to start
    raw = drv.error_lines([(b"tflm_init_failed", b"AllocateTensors failed (arena 256)")])
    assert raw == b'{"error":"tflm_init_failed","reason":"AllocateTensors failed (arena 256)"}\n'
    records: list[tuple[bytes | None, bytes | None]] = [
        (b"app_init_failed", None),
        (None, b"no code"),
        (None, None),
        (b"tflm_init_failed", b""),
        (b"tflm_init_failed", b"cut\x00 after NUL"),
        (b"tflm_init_failed", b"x" * 5000),  # many output chunks
        (b'co"de\\\n', b"reason"),
        *((b"tflm_init_failed", sample) for sample in ESCAPE_SAMPLES),
    ]
    raw = drv.error_lines(records)
    out = parse_lines(raw)
    assert len(out) == len(records)
    for obj, (code, reason) in zip(out, records, strict=True):
        assert list(obj) == ["error", "reason"]
        assert obj == {"error": _c_string(code), "reason": _c_string(reason)}, (code, reason)
    # valid UTF-8: byte-identical to json.dumps(ensure_ascii=False)
    for line, (_code, reason) in zip(raw.split(b"\n"), records, strict=False):
        text = _c_string(reason)
        if reason is not None and "\ufffd" not in text:
            assert line.endswith(b',"reason":' + json_text(text) + b"}"), line


def case_label_escaping(drv: Driver) -> None:
    labels = ('say "hi"', "back\\slash", "caf\u00e9\t\n\r\b\f\x1f")
    out = drv.proto(b"a\nb\nc\n", labels, ["100,0,0", "0,100,0", "0,0,100"])
    assert [o["intent"] for o in out] == list(labels)


def case_chunking_invariant(drv: Driver) -> None:
    rng = random.Random(11)
    parts = [b"turn on\n", b":info\r\n", b"x" * 40 + b"\n", b"\r\n", b"caf\xc3\xa9 \xff\n"]
    data = b"".join(rng.choice(parts) for _ in range(300))
    outs = {
        chunk: drv.proto_raw(data, LABELS3, ["100,0,0", "-5,0,0", "!4"], line_cap=32, chunk=chunk)
        for chunk in (1, 3, 4096, 0)
    }
    assert len(set(outs.values())) == 1
    assert len(parse_lines(outs[1])) == len(split_lines(data, 32))


def random_stream(rng: random.Random, size: int) -> bytes:
    """Random bytes with frequent terminators, colons and invalid UTF-8."""
    out = bytearray()
    while len(out) < size:
        kind = rng.random()
        if kind < 0.3:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        elif kind < 0.5:
            out += rng.choice([b"\n", b"\r", b"\r\n", b"\n\n"])
        elif kind < 0.6:
            out += b":" + rng.choice([b"info", b"x", b"", b"info\x00"])
        elif kind < 0.7:
            out += b"a" * rng.randrange(20, 90)  # crosses the line limit
        else:
            out += "".join(
                chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 20))
            ).encode("utf-8", "surrogatepass")
    return bytes(out)


def case_random_streams(drv: Driver) -> None:
    """Arbitrary bytes: every output line parses and matches the line splitting."""
    rng = random.Random(1234)
    cap = 48
    for seed in range(3):
        data = random_stream(rng, 60_000)
        out = drv.proto(
            data,
            LABELS3,
            ["127,0,0", "-128,-128,-128", "!9", "0,5,5", "3,2,1"],
            line_cap=cap,
            chunk=0,
            seed=seed,
            buckets=97,
            seq_len=16,
        )
        events = split_lines(data, cap)
        assert len(out) == len(events)
        for obj, (kind, line) in zip(out, events, strict=True):
            if kind == "too_long":
                assert obj == {"error": "line_too_long", "max": cap}
            elif line == b":info":
                assert "info" in obj
            elif line.startswith(b":do "):
                assert obj == {"error": "unknown_intent"} or obj.get("route") == "host"
            elif line.startswith(b":"):
                assert obj == {"error": "unknown_command"}
            elif not any(tokenize(line, FeatureSpec())):
                assert obj == {"error": "no_tokens"}, line
            elif "text" in obj:
                assert obj["text"] == reference_text(line)
            else:
                assert "intent" in obj or obj.get("error") == "inference_failed"


PROTOCOL_CASES: dict[str, Callable[[Driver], None]] = {
    f.__name__.removeprefix("case_"): f
    for f in (
        case_answer_hook,
        case_host_answer,
        case_gate_every_q,
        case_threshold_boundary,
        case_tie_first_index,
        case_score_format,
        case_us_clock,
        case_line_endings,
        case_overlong_line,
        case_info,
        case_label_levels,
        case_unknown_command,
        case_rx_overflow,
        case_rx_error,
        case_info_cpu_hz,
        case_no_tokens,
        case_inference_failure,
        case_json_escaping,
        case_error_lines,
        case_label_escaping,
        case_chunking_invariant,
        case_random_streams,
    )
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PROTOCOL_CASES))
def test_protocol(driver: Driver, case: str) -> None:
    PROTOCOL_CASES[case](driver)


@pytest.mark.slow
def test_defensive_paths(driver: Driver) -> None:
    """NULL pointers, zero sizes and odd quantization (asserted inside the C driver)."""
    assert driver.run(["selftest"], b"") == b"selftest ok\n"
