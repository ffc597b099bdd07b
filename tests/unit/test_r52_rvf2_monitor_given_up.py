"""``tinyslm monitor`` round 52 review of F2.

1. The lines given up on: a deque of MAX_TYPED_IN_FLIGHT (8). A line given up on, then
   eight more let go by board lines that answer none and given up on together (the new
   wait, with eight in flight): the first was dropped unsaid, so a loss report would not
   resend it, and the late answers were each taken for the line after their own, the
   last for none: the end note counted a line the board answered as unanswered.
2. The loss note's cause of a doubt. A line resent last (``c``) after two resent and
   given up on (``a``, ``b``): a local answer, late, taken for ``a`` fits ``c`` too, so
   ``c`` may be answered; then ``b``'s escalated answer, echoing ``b``, late too. The
   resync passes its doubt on with every late answer after the first, and the second
   overwrote its cause: the loss note said an escalated answer echoing ``c``'s phrase
   was taken, when no answer echoed ``c``.
"""

from __future__ import annotations

import threading
import time

import pytest
from monitor_resync import hand_fed_resync
from test_r47_monitor_resync import _Board, _run

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent
LOG = b"log: a line that answers none\n"
LOCAL = '{"intent":"lamp","score":0.9,"route":"local","us":5}'
ECHO_B = '{"intent":"lamp","score":0.4,"route":"escalate","us":5,"text":"b"}'
INFO = (
    '{"info":{"version":"0.1.0","board":"stm32h7","model_sha256":"' + "ab" * 32 + '",'
    '"model_bytes":1,"arena_bytes":2,"ops":[],"labels":3,"threshold":0.5}}'
)


def test_a_later_echo_of_an_earlier_line_is_not_blamed_for_the_doubt() -> None:
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
    assert len(notes) == 1, notes
    assert "(a local answer, which does not say which phrase it answers, was" in notes[0]
    assert "escalated" not in notes[0], notes


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


class _LogsAfterTheFirst(_Board):
    """A board busy until ``hold`` lines have arrived, which says a line answering none
    as each line but the first arrives (a debug print of its receive code): the first
    line is given up on, and each later one lets the next go."""

    def write(self, data: bytes) -> int:
        written = super().write(data)
        self.answer(LOG * max(0, min(data.count(b"\n"), len(self.received) - 1)))
        return written


def test_a_line_given_up_on_before_eight_are_is_not_counted_unanswered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # p0 given up on, p1 to p8 let go by the log lines and given up on together, then
    # the board answers all ten, in order. Before: "1 of the 10 phrases sent got no
    # answer". The board holds its answers until the tenth line: no timing race.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    phrases = [f"p{n}" for n in range(10)]
    board = _LogsAfterTheFirst(hold=10)
    rows, notes, _ = _run(monkeypatch, board, "".join(f"{p}\n" for p in phrases).encode())
    assert board.phrases == phrases, rows + notes
    assert not [r for r in rows + notes if "got no answer" in r], rows + notes
