"""``tinyslm monitor`` round 54: a board that gives no answer is fed ever fewer lines.

1. A line given up on (no byte within the answer wait) let the next one go, one each
   answer wait however long the board stayed silent: a text board busy 4 answer waits
   (a 2.0 s action against a 0.5 s wait) held 4 to 7 lines at once, and the end note
   counted answered lines as unanswered. Now the answer wait doubles for each line
   given up on that the board has not answered since, up to 4 answer waits; any answer
   that settles those lines brings the plain wait back.
2. A line left unsure (an answer taken, late, for a line given up on before it) was
   waited for twice the answer wait plus the time since it went: with the wait grown, or
   a second line given up on still before it, that fell short of the board's silence,
   and the answer still due for the line before was taken for the next line's.
"""

from __future__ import annotations

import pytest
from test_r47_monitor_resync import _run
from test_r53_f1_monitor_unsure import LOCAL, _Acts, _Clock, _wait_a_while

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent


def _on_fake_clock(monkeypatch: pytest.MonkeyPatch) -> tuple[_Clock, monitor_mod._TypedFlight]:
    """A flight on a fake clock, with a 0.5 s answer wait, of a text board that has
    answered a phrase before (the wait grows only then)."""
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    clock = _Clock()
    monkeypatch.setattr(monitor_mod, "time", clock)
    flight = monitor_mod._TypedFlight()
    flight.phrase_answered = True
    return clock, flight


def _in_flight(flight: monitor_mod._TypedFlight) -> list[int]:
    return [s.seq for s in flight.pending() if not s.given_up]


def _given_up_after(clock: _Clock, flight: monitor_mod._TypedFlight, wait_s: float) -> None:
    """The line in flight, sent now, is still held ``wait_s`` less 50 ms later, with no
    byte from the board, and given up on at ``wait_s`` (the next line goes)."""
    silent = 0.0  # the board's last byte: long before
    seq = _in_flight(flight)
    clock.now += wait_s - 0.05
    _wait_a_while(flight, lambda: silent)
    assert _in_flight(flight) == seq, wait_s  # still held
    clock.now += 0.05
    _wait_a_while(flight, lambda: silent)
    assert _in_flight(flight) == [], wait_s  # given up on: the next goes


def test_the_answer_wait_doubles_for_each_line_given_up_on_up_to_four_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A board that says nothing: each line is given up on after 0.5, 1, 2, 2 s, not
    # after 0.5 s each (before: 4 lines in 2 s, now 3 in 3.5 s).
    clock, flight = _on_fake_clock(monkeypatch)
    for seq, wait_s in enumerate((0.5, 1.0, 2.0, 2.0), 1):
        flight.sent(_Sent(f"p{seq}\n".encode(), seq, True))
        _given_up_after(clock, flight, wait_s)
    # An answer to a line in flight settles those given up on (the board answers in
    # order: they got none): the plain wait is back.
    flight.sent(_Sent(b":info\n", 5, True))
    assert flight.answer_wait() == 2.0
    flight.answered(("info", None))  # none of the phrases given up on can take it
    assert flight.answer_wait() == 0.5


def test_a_late_answer_brings_the_wait_down_by_the_line_it_settles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The late answer settles the first line given up on; the second may still wait in
    # the board, so the next line is still waited for twice the plain wait.
    clock, flight = _on_fake_clock(monkeypatch)
    for seq in (1, 2):
        flight.sent(_Sent(f"p{seq}\n".encode(), seq, True))
        flight.give_up()
    flight.sent(_Sent(b":info\n", 3, True))  # cannot take a phrase's answer
    flight.answered(LOCAL)  # p1's, late
    _given_up_after(clock, flight, 1.0)


def test_an_unsure_line_with_a_line_given_up_on_before_it_waits_for_both_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A board that acts 2 s on each line before answering it, against a 0.5 s wait:
    # x given up on at 0.5 s, y at 1.5 s (its wait doubled), z sent then; x's answer at
    # 2.0 s makes z unsure, y still given up on before it. Before: z was waited for
    # until 4.0 s (twice 0.5 s + 0.5 s) and counted answered at 4.2 s, before y's own
    # answer, which was taken for the next line's.
    clock, flight = _on_fake_clock(monkeypatch)
    start = clock.now
    flight.sent(_Sent(b"x\n", 1, True))
    clock.now += 0.5
    flight.give_up()
    flight.sent(_Sent(b"y\n", 2, True))
    clock.now += 1.0
    flight.give_up()
    flight.sent(_Sent(b"z\n", 3, True))
    clock.now = start + 2.0
    flight.answered(LOCAL)  # x's, late
    assert [(s.seq, s.given_up, s.unsure) for s in flight.pending()] == [
        (2, True, False),
        (3, False, True),
    ]
    clock.now = start + 4.2  # the board a little slower than 2 s a line
    _wait_a_while(flight, lambda: start + 2.0)
    assert _in_flight(flight) == [3], flight.pending()  # z still waited for
    flight.answered(LOCAL)  # y's, late
    clock.now = start + 6.3
    _wait_a_while(flight, lambda: start + 4.2)
    assert _in_flight(flight) == [3], flight.pending()
    flight.answered(LOCAL)  # z's own
    assert flight.pending() == [] and not flight.waiting
    assert flight.tally().missed == 0


def test_a_board_busy_four_answer_waits_holds_three_lines_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The action code prints after each answer, then is busy 0.8 s, against a 0.2 s
    # answer wait: lines went at 0, 0.2, 0.4 and 0.6 s (4 in the board, 4 to 7 seen at
    # 2.0 s against 0.5 s, and "3 of the 10 phrases sent got no answer"), now at 0, 0.2
    # and 0.6 s, the next one due at 1.4 s, after the answer at 0.8 s. Every line still
    # answered, and none counted unanswered.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.2)
    phrases = [f"p{n}" for n in range(6)]
    board = _Acts(0.8)
    rows, notes, _ = _run(
        monkeypatch, board, "".join(f"{p}\n" for p in phrases).encode(), linger=1.0
    )
    assert board.phrases == phrases, rows + notes
    assert not [r for r in rows + notes if "got no answer" in r], rows + notes
    assert board.depth <= 3, board.depth


def test_two_late_answers_read_together_leave_the_unsure_line_its_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # x and y given up on while the board is busy, z sent; x's and y's answers then come
    # in one read (a serial bridge's packet), z's own 60 ms later. The silence before
    # y's answer is ~0: z was waited for 8 ms only, settled as answered, and its own
    # answer was taken for the next line's. It is still waited for twice the answer wait
    # and the time since it went, at least (round 53's floor).
    clock, flight = _on_fake_clock(monkeypatch)
    for seq in (1, 2):
        flight.sent(_Sent(f"{'xy'[seq - 1]}\n".encode(), seq, True))
        clock.now += 0.5 * seq
        flight.give_up()
    flight.sent(_Sent(b"z\n", 3, True))
    clock.now += 0.25
    flight.answered(LOCAL)  # x's, late
    clock.now += 0.004
    flight.answered(LOCAL)  # y's, late, the next line of the same read
    clock.now += 0.06
    _wait_a_while(flight, lambda: clock.now - 0.06)
    assert _in_flight(flight) == [3], flight.pending()  # z still waited for
    flight.answered(LOCAL)  # z's own
    assert flight.pending() == [] and flight.tally().missed == 0
