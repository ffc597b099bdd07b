"""``tinyslm monitor`` round 50: a session that ends while resending names every line
the board dropped that got no answer: those not resent yet, as before, and now those
resent whose answer never came (the end's count of unanswered lines is not said after
a resync cut short, so they went unsaid)."""

from __future__ import annotations

from monitor_resync import hand_fed_resync

from tinyslm import monitor as m

OVER = '{"error":"rx_overflow"}'
INFO = (
    '{"info":{"version":"0.1.0","board":"esp32","model_sha256":"' + "ab" * 32 + '",'
    '"model_bytes":1,"arena_bytes":2,"ops":["FULLY_CONNECTED"],"labels":3,"threshold":0.5}}'
)
PHRASE = '{"intent":"x","score":0.9,"route":"local","us":5}'
ENDED = "  monitor: the session ended while resending the lines the board dropped (rx_overflow); "


def _resending(lines: list[bytes], notes: list[str]) -> m._Resync:
    """A resync fed by hand that found ``lines`` (typed, in flight) dropped and has
    resent the first of them."""
    flight = m._TypedFlight()
    resync = hand_fed_resync(flight, notes=notes.append)
    for seq, line in enumerate(lines, 1):
        flight.sent(m._Sent(line, seq, True))
    assert resync.observe(OVER) == "resync"
    assert resync.observe(INFO) == "marker"  # the marker's answer: the first is resent
    return resync


def test_a_line_resent_whose_answer_never_came_is_named() -> None:
    notes: list[str] = []
    resync = _resending([b"one\n", b"two\n", b"three\n"], notes)
    try:
        assert resync.abandon()
    finally:
        resync.gate.stop.set()  # end the watcher
    # Before: only 'two' and 'three' were named; 'one', resent, was dropped unsaid.
    assert notes == [ENDED + 'resent, no answer came: "one"; not resent: "two", "three"']


def test_a_resent_line_answered_is_not_named() -> None:
    notes: list[str] = []
    resync = _resending([b"one\n", b"two\n", b"three\n"], notes)
    try:
        assert resync.observe(PHRASE) == ""  # one's answer: 'two' is resent
        assert resync.abandon()
    finally:
        resync.gate.stop.set()
    assert notes == [ENDED + 'resent, no answer came: "two"; not resent: "three"'], notes


def test_a_resent_line_an_answer_may_be_for_is_not_named() -> None:
    # 'one' is resent and given up on (no byte for ANSWER_WAIT_S), 'two' goes; a phrase's
    # answer then is one's (late) or two's: 'two' is not said to have got none.
    notes: list[str] = []
    resync = _resending([b"one\n", b"two\n", b"three\n"], notes)
    try:
        with resync.gate.cond:
            resync.typed.give_up()
            resync._resend_next()  # what the watcher does after ANSWER_WAIT_S
        assert resync.observe(PHRASE) == "late"
        assert resync.abandon()
    finally:
        resync.gate.stop.set()
    assert notes == [ENDED + 'not resent: "three"'], notes
