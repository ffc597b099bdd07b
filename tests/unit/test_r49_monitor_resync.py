"""``tinyslm monitor`` round 49: the three limits round 48's note left in the resync.

A typed line the monitor stopped waiting for (no byte from the board for 2 s) stays one
a later loss report can cover until the board answers a line again, so it is resent
when the report comes first; a late answer is paired with the line it answers (by what
it says and the board's order; test_r49_monitor_late_pairing has the answers that cannot
say), so it neither lets a second line go while one is in flight nor takes a line still
in flight for answered; and the STM32H7's rx_overflow + rx_error pair taken late by a
reader held by a slow write is one loss (round 50: every loss line before the marker's
answer is one loss, test_r50_monitor_loss_count).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_r47_monitor_resync import _Board, _escalations, _Host, _run
from test_r49_monitor_late_pairing import _Logged

from tinyslm import monitor as monitor_mod

OVER = '{"error":"rx_overflow"}'
ERR = '{"error":"rx_error","reason":"framing"}'


@pytest.mark.parametrize("stm32", [False, True], ids=["esp32", "stm32"])
def test_a_typed_line_given_up_on_is_resent_when_a_later_loss_report_covers_it(
    monkeypatch: pytest.MonkeyPatch, stm32: bool
) -> None:
    # The board acts on 'one' for 1.5 s; 'two' arrives meanwhile with bytes lost. After
    # ANSWER_WAIT_S without a byte the monitor gives up waiting and sends 'three'; then
    # the board reports the loss (no answer came between: 'two' may be in that gap). The
    # ESP32 flushed 'three' with it; the STM32 answers 'three' (after the gap). Before,
    # 'two' was no longer in flight at the report and was never resent.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Board(stm32=stm32, drop_after=not stm32, lose={"two": 1}, busy={"one": 1.5})
    rows, _, _ = _run(monkeypatch, board, b"one\ntwo\nthree\n", linger=1.0)
    if stm32:
        assert board.received == ["one", "two", "three", "", ":info", "two"], rows
        assert board.phrases == ["one", "three", "two"], rows
        assert any("resent 1 line it dropped" in r for r in rows), rows
    else:
        assert board.received == ["one", "two", "three", "", ":info", "two", "three"], rows
        assert board.phrases == ["one", "two", "three"], rows
        assert any("resent 2 lines it dropped" in r for r in rows), rows


def test_a_late_answer_to_a_line_given_up_on_is_its_own_not_the_next_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ':do a' is given up on while the board acts on 'one'; 'three' goes and is lost. The
    # board then answers ':do a' (late) and reports the loss. Before, that answer was
    # taken for the answer to 'three', which was then not in flight at the report and
    # never resent; ':do a' must not be resent either (the board acted on it).
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    # The board's 0.75 s on 'one' puts the late answer halfway through three's 0.5 s wait
    # (0.5 to 1.0 s): at 1.0 s the two met, and under load three's wait won now and then.
    board = _Board(stm32=True, drop_after=False, lose={"three": 1}, busy={"one": 0.75}, known={"a"})
    rows, _, _ = _run(monkeypatch, board, b"one\n:do a\nthree\n", linger=1.0)
    assert board.acted == ["a"], rows
    assert board.received == ["one", ":do a", "three", "", ":info", "three"], rows
    assert board.phrases == ["one", "three"], rows
    assert any("resent 1 line it dropped" in r for r in rows), rows


class _Late(_Logged):
    """A board that logs when lines arrive and answers leave, and answers the second
    ``late`` line it gets 0.8 s late (an action still running)."""

    def __init__(self, late: str = ":do a", **kwargs: Any) -> None:
        self.late = late
        super().__init__(**kwargs)

    def _reply(self, line: str) -> bytes | None:
        if line == self.late and self.received.count(line) == 2:
            time.sleep(0.8)
        return super()._reply(line)


def test_a_late_answer_to_a_resent_line_given_up_on_lets_no_second_line_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ':do a', ':do b', ':do c' are flushed by an ESP32 loss and resent one at a time.
    # The board answers the resent 'a' after the answer wait: 'b' goes then, and a's
    # late answer came while 'b' was in flight. Before, that answer let 'c' go too (two
    # lines in flight, which the one-at-a-time resend is there to prevent).
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Late(
        hold=3,
        lose={":do c": 1},
        known="abc",
        busy={":do a": 0.3},
        out=_escalations("pa", "pb", "pc"),
    )
    host = _Host({"pa": ":do a", "pb": ":do b", "pc": ":do c"})
    rows, _, _ = _run(monkeypatch, board, b"", escalation=host, linger=1.0)
    assert board.received[3:] == ["", ":info", ":do a", ":do b", ":do c"], rows
    assert board.acted == ["a", "b", "c"], rows
    b_answered = next(t for t, way, d in board.log if way == "out" and b'"b"' in d)
    c_resent = [t for t, way, d in board.log if way == "in" and d == b":do c\n"][-1]
    assert c_resent >= b_answered, rows
    assert any("resent 3 lines it dropped" in r for r in rows), rows


class _SlowWrites(_Board):
    """A board behind a port whose every write takes ``delay`` seconds (a slow line):
    the monitor's reader waits meanwhile when it writes, or when a send holds the gate."""

    def __init__(self, delay: float, **kwargs: Any) -> None:
        self.delay = delay
        super().__init__(**kwargs)

    def write(self, data: bytes) -> int:
        time.sleep(self.delay)
        return super().write(data)


def test_the_stm32_pair_taken_late_by_a_held_reader_is_still_one_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every 'two' the board gets is lost, each loss said as the STM32H7's pair. The pair
    # comes back to back, but the reader takes its rx_error only after writing the
    # marker (slowly). Before, the pair was timed from then: two losses each time, and
    # the give-up note said "lost bytes 6 times" for three losses.
    board = _SlowWrites(
        0.4,
        stm32=True,
        lose={"two": 99},
        gap_line=(OVER + "\n" + ERR + "\n").encode(),
    )
    rows, _, _ = _run(monkeypatch, board, b"one\ntwo\nthree\n", linger=0.5)
    gave_up = [r for r in rows if "gave up resending" in r]
    assert len(gave_up) == 1, rows
    assert "lost bytes 3 times in a row with no line answered in between" in gave_up[0]
    assert board.phrases == ["one", "three"], rows


def test_a_late_answer_after_the_last_line_resent_lets_no_typed_line_go_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 'two' (given up on while the board acts on 'one') and 'three' are flushed by an
    # ESP32 loss and resent; the board answers the resent 'two' after the answer wait,
    # so 'three' goes, the last one resent. two's late answer (a phrase's: it could be
    # either's) came while 'three' was in flight: taken for three's, it let 'four' go
    # before three's answer.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    # 0.75 s on 'one', not 1.0: clear of the 0.5 s answer waits' ends (see above).
    board = _Late(late="two", lose={"two": 1}, busy={"one": 0.75, "two": 0.3})
    rows, _, _ = _run(monkeypatch, board, b"one\ntwo\nthree\nfour\n", linger=1.0)
    assert board.received == ["one", "two", "three", "", ":info", "two", "three", "four"]
    assert board.phrases == ["one", "two", "three", "four"], rows
    three_answered = next(t for t, way, d in board.log if way == "out" and b'"three"' in d)
    four_sent = next(t for t, way, d in board.log if way == "in" and d == b"four\n")
    assert four_sent >= three_answered, rows


def test_answers_after_the_gap_are_for_the_last_lines_given_up_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # While the board acts on 'one', 'x' and 'two' are given up on in turn and 'three'
    # goes; 'x' arrived with bytes lost (an STM32 gap ending at its line end). The board
    # reports the gap, then answers 'two' and 'three': two answers for three lines in
    # flight, so for the last two (the board answers in order), and only 'x' is resent.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Board(stm32=True, drop_after=False, lose={"x": 1}, busy={"one": 2.0})
    rows, _, _ = _run(monkeypatch, board, b"one\nx\ntwo\nthree\n", linger=1.0)
    assert board.received == ["one", "x", "two", "three", "", ":info", "x"], rows
    assert board.phrases == ["one", "two", "three", "x"], rows
    assert any("resent 1 line it dropped" in r for r in rows), rows


def test_a_line_given_up_on_stays_coverable_only_until_an_answer_or_the_time_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(monitor_mod, "GIVEN_UP_KEEP_S", 0.3)
    sent = monitor_mod._Sent
    flight = monitor_mod._TypedFlight()
    flight.sent(sent(b"two\n", 1, True))
    flight.give_up()
    flight.sent(sent(b"three\n", 2, True))
    assert [(s.line, s.given_up) for s in flight.pending()] == [
        (b"two\n", True),
        (b"three\n", False),
    ]
    # A phrase's answer, either's: two's, late (the board answers in order), and 'three'
    # waits on, still one a loss report covers, until its own answer.
    flight.answered(("phrase", None))
    assert [s.line for s in flight.pending()] == [b"three\n"] and flight.waiting
    flight.answered(("phrase", None))
    assert flight.pending() == [] and not flight.waiting
    # An acted ':do a' can only be the given-up ':do a' line's: 'five' waits on.
    flight.sent(sent(b":do a\n", 3, True))
    flight.give_up()
    flight.sent(sent(b"five\n", 4, True))
    flight.answered(("do", "a"))
    assert [s.line for s in flight.pending()] == [b"five\n"] and flight.waiting
    flight.give_up()
    assert [s.given_up for s in flight.pending()] == [True]
    time.sleep(0.4)  # past the bound: no longer one a loss report covers
    assert flight.pending() == []
