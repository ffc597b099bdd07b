"""The monitor's pairing held to the text firmware's own escalations (round 51 review):
the C core (tests/host/core_driver.c) echoes each phrase, and ``tinyslm.monitor`` must
pair every echo with its own line and no line with another's, lines that are not
valid UTF-8 included; and the longest escalation it writes must fit one row."""

from __future__ import annotations

import random

from core_harness import Driver

from tinyslm import monitor as monitor_mod
from tinyslm.text.dataset import DO_PREFIX, MAX_LINE_LIMIT

LABELS = ("lights_on", "lights_off", "play_music")
ESCALATE = "-50,-60,-70"  # lights_on at 0.305, under the 0.550 threshold: escalated


def _phrases(seed: int, count: int) -> list[bytes]:
    """Lines of random bytes, most not valid UTF-8 (cut, overlong, surrogate, stray
    continuation bytes), each with a word the tokenizer reads and no line end inside."""
    rnd = random.Random(seed)
    pieces = [b"\xe2\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xf0\x9f\x98"]
    pieces += [b"\xe0\x80\x80", "é€😀\u2028".encode(), b'"\\\x01\x7f', b"\xff\xfe"]
    lines = []
    for _ in range(count):
        body = b"".join(
            rnd.choice(pieces) if rnd.random() < 0.5 else bytes([rnd.randrange(0x80, 0x100)])
            for _ in range(rnd.randrange(1, 8))
        )
        lines.append(b"word " + body)
    return lines


def _echo_kinds(drv: Driver, lines: list[bytes]) -> list[tuple[str, str | None]]:
    raw = drv.proto_raw(b"".join(line + b"\n" for line in lines), LABELS, [ESCALATE])
    out = raw.split(b"\n")[:-1]
    assert len(out) == len(lines), raw[-400:]
    kinds = []
    for row in out:
        # As the monitor's reader hands a line on (the firmware's are valid UTF-8).
        kind = monitor_mod._answer_kind(row.decode("utf-8", "replace"))
        assert kind is not None and kind[0] == "phrase" and kind[1] is not None, row
        kinds.append(kind)
    return kinds


def test_every_echo_pairs_with_its_own_line_and_no_other(plain_driver: Driver) -> None:
    lines = _phrases(51, 400)
    kinds = _echo_kinds(plain_driver, lines)
    for line, kind in zip(lines, kinds, strict=True):
        assert monitor_mod._answers(kind, line + b"\n"), (line, kind)
    # Another line takes an echo only when the firmware echoes it alike (two lines of
    # bytes that are not UTF-8 can be): before, a line not valid UTF-8 took any echo.
    for (line, kind), other in zip(zip(lines, kinds, strict=True), kinds[1:], strict=False):
        assert monitor_mod._answers(other, line + b"\n") == (other == kind), (line, other)


def test_the_longest_escalation_the_core_writes_fits_one_row(plain_driver: Driver) -> None:
    label = '"' * (MAX_LINE_LIMIT - len(DO_PREFIX))  # a name line_limit accepts
    phrase = b"a" + b"\x01" * (MAX_LINE_LIMIT - 1)
    raw = plain_driver.proto_raw(
        phrase + b"\n", (label, *LABELS[1:]), [ESCALATE], line_cap=MAX_LINE_LIMIT, clock=1
    )
    (line,) = raw.split(b"\n")[:-1]
    assert len(line) > 25_600  # the round-42 bound cut it
    assert len(line) <= monitor_mod.MAX_LINE_BYTES
    kind = monitor_mod._answer_kind(line.decode("utf-8"))
    assert kind == ("phrase", phrase.decode("utf-8"))
