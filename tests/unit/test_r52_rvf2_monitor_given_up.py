"""``tinyslm monitor`` round 52 review of F2.

1. The lines given up on: a deque of MAX_TYPED_IN_FLIGHT (8). A line given up on, then
   eight more let go by board lines that answer none and given up on together (the new
   wait, with eight in flight): the first was dropped unsaid, so a loss report would not
   resend it, and the late answers were each taken for the line after their own, the
   last for none: the end note counted a line the board answered as unanswered (its
   end-to-end scenario is one case of test_r52_f2_monitor_flight.py's).
2. The loss note's cause of a doubt. A line resent last (``c``) after two resent and
   given up on (``a``, ``b``): a local answer, late, taken for ``a`` fits ``c`` too, so
   ``c`` may be answered; then ``b``'s escalated answer, echoing ``b``, late too. The
   resync passes its doubt on with every late answer after the first, and the second
   overwrote its cause: the loss note said an escalated answer echoing ``c``'s phrase
   was taken, when no answer echoed ``c``. Since round 53 (F1) ``b``'s answer, after the
   local one and to a line before ``c``, clears the doubt: the board answers in order,
   so the local answer was not ``c``'s, and the note names no line it may have answered.
"""

from __future__ import annotations

import threading
import time

import pytest
from monitor_resync import hand_fed_resync

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent
LOCAL = '{"intent":"lamp","score":0.9,"route":"local","us":5}'
ECHO_B = '{"intent":"lamp","score":0.4,"route":"escalate","us":5,"text":"b"}'
INFO = (
    '{"info":{"version":"0.1.0","board":"stm32h7","model_sha256":"' + "ab" * 32 + '",'
    '"model_bytes":1,"arena_bytes":2,"ops":[],"labels":3,"threshold":0.5}}'
)


def test_a_later_echo_of_an_earlier_line_clears_the_doubt() -> None:
    flight = monitor_mod._TypedFlight()
    resent = [_Sent(b"%s\n" % p, n, True) for n, p in enumerate((b"a", b"b", b"c"), 1)]
    for sent in resent[:2]:
        flight.sent(sent)
        flight.give_up()  # the resync's answer wait, as for a typed line
    flight.sent(resent[2])
    notes: list[str] = []
    resync = hand_fed_resync(flight, notes=notes.append)
    resync.out = list(resent)  # as the resync left them: 'c' in flight, the others late
    assert resync.observe(LOCAL) == "late"
    assert resync.observe(ECHO_B) == "late"
    assert resync.observe('{"error":"rx_overflow"}') == "resync"
    assert resync.observe(INFO) == "marker"
    # Before round 53: "resent 1 line, in order: 1 it may have answered before the loss
    # (a local answer, ...)" (round 52's first fix; before it, "(an escalated answer").
    assert notes == [
        "  monitor: the board lost bytes (rx_overflow): resent 1 line it dropped, in order"
        " (found with an empty line and ':info', whose answer is not shown)"
    ], notes


def test_a_line_given_up_on_before_eight_more_are_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.3)
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"p0\n", 1, True))
    flight.give_up()  # no answer within the answer wait (the board busy)
    for n in range(1, monitor_mod.MAX_TYPED_IN_FLIGHT + 1):
        flight.sent(_Sent(b"p%d\n" % n, n + 1, True))
        flight.release()  # a board line that answers none: the next line goes
    flight.wait(threading.Event(), time.monotonic, lambda: False)  # eight in flight
    assert [s.seq for s in flight.pending()] == list(range(1, monitor_mod.MAX_TYPED_IN_FLIGHT + 2))
    for _ in range(monitor_mod.MAX_TYPED_IN_FLIGHT + 1):
        flight.answered(("phrase", None))  # the board answers them all, late, in order
    assert flight.tally().missed == 0 and flight.pending() == []
