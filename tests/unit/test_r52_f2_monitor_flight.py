"""``tinyslm monitor`` round 52 (F2): the typed lines in flight.

1. Board lines that answer none (a boot log, action output) let the next typed line go
   while the one before is in flight: past MAX_TYPED_IN_FLIGHT (8) the deque dropped
   the oldest without a word, and the answers, in order, were taken one line late: the
   end note counted lines the board answered as unanswered. Now the next line waits.
2. An action longer than the answer wait: two lines given up on, then their late
   answers, echoes of their phrases, with no line in flight. The first cleared every
   line given up on, so the second was taken for none and the end note counted it.
"""

from __future__ import annotations

import threading
import time

import pytest
from test_r47_monitor_resync import _Board, _run

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent
PHRASE = ("phrase", None)  # a local answer: it names no phrase
LOG = b"log: a line that answers none\n"


def test_no_more_than_the_lines_tracked_go_while_none_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Eight lines in flight, each let go by a line that answers none: the wait for the
    # ninth returns only at the answer wait (from the last line sent, the board saying
    # lines all the while), giving the eight up; before, it returned at once, and the
    # ninth line sent dropped the first from the flight.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.3)
    flight = monitor_mod._TypedFlight()
    for n in range(monitor_mod.MAX_TYPED_IN_FLIGHT):
        flight.sent(_Sent(b"p%d\n" % n, n + 1, True))
        flight.release()
    flight.wait(threading.Event(), time.monotonic, lambda: False)
    assert [(s.seq, s.given_up) for s in flight.pending()] == [
        (n + 1, True) for n in range(monitor_mod.MAX_TYPED_IN_FLIGHT)
    ]
    # Their answers, late, are each its own: none is counted unanswered.
    for n in range(monitor_mod.MAX_TYPED_IN_FLIGHT):
        flight.answered(("phrase", f"p{n}"))
    assert flight.tally().missed == 0 and flight.pending() == []


class _LogsAsLinesArrive(_Board):
    """A board that says a line answering none as each line arrives (a debug print of
    its receive code) and answers nothing until ``hold`` lines have arrived (busy):
    every log line lets the next typed line go."""

    def write(self, data: bytes) -> int:
        self.answer(LOG * data.count(b"\n"))
        return super().write(data)


class _LogsAfterTheFirst(_Board):
    """A board busy until ``hold`` lines have arrived, which says a line answering none
    as each line but the first arrives (a debug print of its receive code): the first
    line is given up on, and each later one lets the next go."""

    def write(self, data: bytes) -> int:
        written = super().write(data)
        self.answer(LOG * max(0, min(data.count(b"\n"), len(self.received) - 1)))
        return written


@pytest.mark.parametrize(
    "board_type",
    [
        # Before: all ten went at once, the first two dropped from the flight; the board
        # answered all ten, in order, and the end note said "2 of the 10 phrases sent got
        # no answer".
        pytest.param(_LogsAsLinesArrive, id="logs-as-lines-arrive"),
        # (round 52's review) p0 given up on, p1 to p8 let go by the log lines and given
        # up on together; the board answers all ten, in order. Before: "1 of the 10
        # phrases sent got no answer" (a deque of 8 given up on dropped p0 unsaid).
        pytest.param(_LogsAfterTheFirst, id="logs-after-the-first"),
    ],
)
def test_lines_past_the_tracked_ones_are_not_taken_one_answer_late(
    monkeypatch: pytest.MonkeyPatch, board_type: type[_Board]
) -> None:
    # The board holds its answers until the tenth line arrives: no timing race.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    phrases = [f"p{n}" for n in range(10)]
    board = board_type(hold=10)
    rows, notes, _ = _run(monkeypatch, board, "".join(f"{p}\n" for p in phrases).encode())
    assert board.phrases == phrases, rows + notes
    assert not [r for r in rows + notes if "got no answer" in r], rows + notes


def test_a_second_late_answer_with_no_line_in_flight_is_counted() -> None:
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"p1\n", 1, True))
    flight.give_up()
    flight.sent(_Sent(b"p2\n", 2, True))
    flight.give_up()
    flight.answered(("phrase", "p1"))  # p1's, late: p2 may still be answered
    assert [(s.seq, s.given_up) for s in flight.pending()] == [(2, True)]
    flight.answered(("phrase", "p2"))
    assert flight.tally().missed == 0 and flight.pending() == []


def test_an_answer_to_a_later_line_given_up_on_settles_those_before_it() -> None:
    # The board answers in order: an echo of p2 says p1 got none (and no longer one a
    # loss report covers); the answers counted are the ones that came.
    flight = monitor_mod._TypedFlight()
    for n in (1, 2, 3):
        flight.sent(_Sent(b"p%d\n" % n, n, True))
        flight.give_up()
    flight.answered(("phrase", "p2"))
    assert [s.seq for s in flight.pending()] == [3]
    assert flight.tally().missed == 2


class _SlowAction(_Board):
    """A text board that escalates (so each answer echoes its phrase) and answers
    nothing until ``hold`` lines have arrived, then waits ``busy_s`` (an action) before
    answering them all, in order."""

    def __init__(self, busy_s: float, **kwargs: object) -> None:
        self.busy_s = busy_s
        self.started = False
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _reply(self, line: str) -> bytes | None:
        if not self.started:
            self.started = True
            time.sleep(self.busy_s)
        return super()._reply(line)


def test_late_echoed_answers_after_the_last_line_was_given_up_on_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # p1, p2, p3 are each given up on after the answer wait (0.5 s); the board answers
    # all three 2 s after p3 arrived, 1.5 s after the end's wait gave p3 up and 1.5 s
    # before the session's 3 s of quiet would end it: generous margins on both sides.
    # Before, p1's answer cleared p2 and p3: "2 of the 3 phrases sent got no answer".
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _SlowAction(2.0, hold=3, escalate=("p1", "p2", "p3"))
    rows, notes, _ = _run(monkeypatch, board, b"p1\np2\np3\n", linger=3.0)
    assert board.phrases == ["p1", "p2", "p3"], rows + notes
    assert len([r for r in rows if "-> escalate:" in r]) == 3, rows
    assert not [r for r in rows + notes if "got no answer" in r], rows + notes
