"""``tinyslm monitor`` round 53 (F1): an unsure line (an answer taken for a line given
up on, late, that it could take too).

1. The user's action code prints a line after each answer, then is busy longer than the
   answer wait. Each line was given up on, its answer came late and left the next line
   unsure, and the action's line settled that one as answered and let the next go: its
   own answer, still to come, was taken for the next line's, and each cycle the lines got
   one further ahead of the board (20 piped lines, a 0.7 s action against a 0.5 s wait:
   the board had answered 11 when the session ended, 10 lines queued in it at once; a
   real board's receive buffer overflows). Now an unsure line holds the next one until
   its own answer, or until twice the board's silence before the late answer.
2. A late answer to a line given up on that the line in flight cannot take proves that
   the earlier answer it could take was not its own (the board answers in order): the
   doubt is cleared, no longer counted answered at the wait nor named in a loss note as
   one the board may have answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from test_r47_monitor_resync import _Board, _run

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent
LOCAL = ("phrase", None)  # a local answer: it names no phrase


class _Clock:
    """``time`` as :class:`tinyslm.monitor._TypedFlight` reads it, moved on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _unsure_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[_Clock, monitor_mod._TypedFlight]:
    """On a fake clock, with a 0.5 s answer wait: ``x`` given up on after that wait,
    ``y`` sent then, and 0.2 s later a local answer, taken for ``x``'s, late, that ``y``
    could take too."""
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    clock = _Clock()
    monkeypatch.setattr(monitor_mod, "time", clock)
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"x\n", 1, True))
    clock.now += 0.5
    flight.give_up()
    flight.sent(_Sent(b"y\n", 2, True))
    clock.now += 0.2
    flight.answered(LOCAL)
    return clock, flight


def _wait_a_while(flight: monitor_mod._TypedFlight, last_rx: Callable[[], float]) -> None:
    """The sender's wait for the next line, the board's last byte at ``last_rx()``,
    stopped after 0.3 s of real time (the fake clock stands still meanwhile): it returns
    at once when it gives the lines in flight up, else at the stop."""
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    flight.wait(stop, last_rx, lambda: False)
    timer.cancel()


def test_a_line_that_answers_none_does_not_settle_an_unsure_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the action's line settled 'y' and let the next line go; 'y''s own answer,
    # when it came, found no line: one of the two counted unanswered.
    _, flight = _unsure_flight(monkeypatch)
    flight.release()  # the action code's line after the answer
    assert flight.waiting  # the next line does not go
    assert [(s.seq, s.given_up, s.unsure) for s in flight.pending()] == [(2, False, True)]
    flight.answered(LOCAL)  # 'y''s own
    assert not flight.waiting and flight.pending() == []
    assert flight.tally().missed == 0


def test_an_unsure_line_is_waited_for_twice_the_boards_silence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The board was silent 0.7 s before the late answer (0.5 s of answer wait, 0.2 s
    # since 'y' went): 'y' is waited for 1.4 s from that answer; before, it was given up
    # (settled as answered) after 0.5 s without a byte, and its answer, coming after the
    # board's next such silence, was taken for the next line's.
    clock, flight = _unsure_flight(monkeypatch)
    answered_at = clock.now
    clock.now += 1.3
    _wait_a_while(flight, lambda: answered_at)  # 1.3 s without a byte
    assert [(s.seq, s.given_up, s.unsure) for s in flight.pending()] == [(2, False, True)]
    # Bounded, whatever the board says meanwhile (its last byte just now): the line is
    # counted answered and the next one goes.
    clock.now += 0.15
    _wait_a_while(flight, clock.monotonic)
    assert flight.pending() == [] and not flight.waiting


class _Acts(_Board):
    """A text board whose action code prints a line after each phrase's answer, then is
    busy ``busy_s``; ``depth``: the most lines waiting in it at once (the one answered
    with them)."""

    def __init__(self, busy_s: float, **kwargs: object) -> None:
        self.busy_s = busy_s
        self.depth = 0
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _reply(self, line: str) -> bytes | None:
        with self.cond:
            self.depth = max(self.depth, len(self.queue) + 1)
        reply = super()._reply(line)
        if reply is None or line.startswith(":"):
            return reply
        self.answer(reply + b"\n")
        self.answer(b"action: done\n")
        time.sleep(self.busy_s)
        return None


def test_an_action_longer_than_the_answer_wait_does_not_outrun_the_board(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A 0.8 s action against a 0.3 s answer wait: each late answer comes 0.5 s after its
    # line was given up on, and the unsure line's own 0.8 s after that, of a 1.6 s wait
    # (margins of half a second at least). Before: 10 lines sent, the board had answered
    # 6 when the session ended, with 5 lines waiting in it at once, and the note said 5
    # got no answer. The session's linger (2 s) outlasts the action.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.3)
    phrases = [f"p{n}" for n in range(10)]
    board = _Acts(0.8)
    rows, notes, _ = _run(
        monkeypatch, board, "".join(f"{p}\n" for p in phrases).encode(), linger=2.0
    )
    assert board.phrases == phrases, rows + notes
    assert not [r for r in rows + notes if "got no answer" in r], rows + notes
    # Never more than three lines in the board: the one after an answer, one let go by
    # the action's line, one after those two were given up on (an unsure line then holds
    # the next until the board has answered them).
    assert board.depth <= 3, board.depth


def test_a_late_answer_the_line_in_flight_cannot_take_clears_its_doubt() -> None:
    # 'a' and 'b' given up on, 'c' in flight; a local answer (taken for 'a''s, which
    # 'c' could take), then an echo of 'b': the first was 'a''s, 'c' is not answered.
    # Before, 'c' stayed unsure: counted answered at the wait, named in a loss note.
    flight = monitor_mod._TypedFlight()
    for n, phrase in enumerate((b"a", b"b"), 1):
        flight.sent(_Sent(phrase + b"\n", n, True))
        flight.give_up()
    flight.sent(_Sent(b"c\n", 3, True))
    flight.answered(LOCAL)
    assert [s.unsure for s in flight.pending()] == [False, True]  # 'b', 'c'
    flight.answered(("phrase", "b"))
    assert [(s.seq, s.given_up, s.unsure) for s in flight.pending()] == [(3, False, False)]
    flight.give_up()  # no answer within the wait: given up on, not counted answered
    assert [(s.seq, s.given_up) for s in flight.pending()] == [(3, True)]
    assert flight.tally().missed == 1
