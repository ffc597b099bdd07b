"""``tinyslm monitor`` round 49, late answers whose content cannot say whose they are.

A phrase's answer does not name its phrase, so a late answer to a phrase the monitor
stopped waiting for (2 s without a byte) and the answer to the phrase sent after it look
alike. The answer is taken for the late one's (the board answers in order) and the next
phrase stays in flight: waited for, so no second line goes, and resent when a loss
report covers it; when no second answer comes within the answer wait, the first was its
own and it is settled as answered, so later pairings do not drift. And the reader never
waits for the gate outside a resync (a send may hold it while it writes).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from monitor_resync import hand_fed_resync
from test_r47_monitor_resync import INFO, _Board, _run

from tinyslm import monitor as monitor_mod

PHRASE = ("phrase", None)


class _Logged(_Board):
    """A board that logs when lines arrive and answers leave, and never answers the
    lines in ``ignore`` (lost at a reset, say: no loss report)."""

    def __init__(self, ignore: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.log: list[tuple[float, str, bytes]] = []
        self.ignore = set(ignore)
        super().__init__(**kwargs)

    def write(self, data: bytes) -> int:
        self.log.append((time.monotonic(), "in", data))
        return super().write(data)

    def answer(self, data: bytes) -> None:
        self.log.append((time.monotonic(), "out", data))
        super().answer(data)

    def _reply(self, line: str) -> bytes | None:
        return None if line in self.ignore else super()._reply(line)

    def answered_at(self, phrase: str) -> float:
        return next(t for t, way, d in self.log if way == "out" and f'"{phrase}"'.encode() in d)

    def sent_at(self, line: str) -> float:
        return next(t for t, way, d in self.log if way == "in" and d == f"{line}\n".encode())


class _AnswersWhen(_Board):
    """A board that answers a line in ``when`` only once the line it names has arrived:
    a line given up on is answered late by an event, not a sleep (a board busy a fixed
    time after 'one' put x's answer at the very end of y's answer wait, x's wait and
    y's being that time together, so a loaded machine that woke the board late put it
    past the end: 'y' was given up on first, and the test failed)."""

    def __init__(self, when: dict[str, str], **kwargs: Any) -> None:
        self.when = dict(when)
        super().__init__(**kwargs)

    def _reply(self, line: str) -> bytes | None:
        after = self.when.get(line)
        if after is not None:
            with self.cond:
                self.cond.wait_for(lambda: after in self.received, timeout=10.0)
        return super()._reply(line)


def test_a_late_phrase_answer_leaves_the_next_phrase_in_flight_for_a_loss_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 'x' is given up on while the board acts on 'one'; 'y' goes and is lost. The board
    # answers 'x' (late) and reports the loss. Before, x's answer was taken for y's: 'y'
    # was not in flight at the report, never resent, and the note said "no line needed
    # resending". The board answers 'x' as 'y' arrives: a whole answer wait before y's
    # ends, however slow the machine.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 1.0)
    board = _AnswersWhen({"x": "y"}, stm32=True, drop_after=False, lose={"y": 1})
    rows, _, _ = _run(monkeypatch, board, b"one\nx\ny\n", linger=1.0)
    assert board.received == ["one", "x", "y", "", ":info", "y"], rows
    assert board.phrases == ["one", "x", "y"], rows
    notes = [r for r in rows if "lost bytes" in r]
    assert len(notes) == 1 and "no line needed resending" not in notes[0], rows
    # x's answer could have been y's: the note says 'y' may have been answered.
    assert "resent 1 line, in order: 1 it may have answered" in notes[0]
    assert "(a local answer, which does not say which phrase it answers," in notes[0], notes


def test_a_late_phrase_answer_lets_no_second_line_go(monkeypatch: pytest.MonkeyPatch) -> None:
    # No loss: 'x' is given up on while the board acts on 'one', and its late answer came
    # while 'y' was in flight. Before, it was taken for y's and 'z' went before y's answer.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.8)  # y's answer: 0.2 s after x's
    board = _Logged(busy={"one": 1.6, "x": 0.2})
    rows, _, _ = _run(monkeypatch, board, b"one\nx\ny\nz\n", linger=1.0)
    assert board.phrases == ["one", "x", "y", "z"], rows
    assert board.sent_at("z") >= board.answered_at("y"), rows


def test_a_line_the_board_ignores_leaves_later_pairings_in_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The board never answers 'x' (lost at a reset): y's answer could be x's late one,
    # so 'y' waits once more (the answer wait), then counts as answered; the lines after
    # it go each after its own answer, with no further wait (no drift: given up on, 'y'
    # would have made every later answer an unsure one, each waiting its answer wait).
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.8)
    board = _Logged(ignore=("x",))
    rows, _, took = _run(monkeypatch, board, b"one\nx\ny\nz\nw\nv\n", linger=0.3)
    assert board.phrases == ["one", "y", "z", "w", "v"], rows
    assert board.sent_at("z") - board.answered_at("y") >= 0.7, rows  # y's unsure wait
    for before, line in (("z", "w"), ("w", "v")):
        assert board.sent_at(line) >= board.answered_at(before), rows
        assert board.sent_at(line) - board.answered_at(before) < 0.5, rows
    assert took < 3.2, took  # x's wait, y's, the linger: no more


def test_an_unsure_line_stays_in_flight_until_its_answer_or_the_answer_wait() -> None:
    sent = monitor_mod._Sent
    flight = monitor_mod._TypedFlight()
    flight.sent(sent(b"x\n", 1, True))
    flight.give_up()
    flight.sent(sent(b"y\n", 2, True))
    flight.answered(PHRASE)  # x's, late, or y's: y waits on, still one a loss covers
    assert [(s.line, s.given_up) for s in flight.pending()] == [(b"y\n", False)]
    assert flight.waiting and flight.unsure
    flight.answered(PHRASE)  # y's own
    assert flight.pending() == [] and not flight.waiting and not flight.unsure
    # No second answer: the answer wait settles 'y' as answered, not given up on, so the
    # next line's answer is not taken for a late one of y's.
    flight.sent(sent(b"x2\n", 3, True))
    flight.give_up()
    flight.sent(sent(b"y2\n", 4, True))
    flight.answered(PHRASE)
    flight.give_up()
    assert flight.pending() == [] and not flight.unsure
    flight.sent(sent(b"z2\n", 5, True))
    flight.answered(PHRASE)
    assert flight.pending() == [] and not flight.waiting


def test_an_answer_only_the_line_in_flight_can_take_is_its_own() -> None:
    # A phrase given up on, then ':info': an info answer can only be the ':info's.
    sent = monitor_mod._Sent
    flight = monitor_mod._TypedFlight()
    flight.sent(sent(b"x\n", 1, True))
    flight.give_up()
    flight.sent(sent(b":info\n", 2, True))
    flight.answered(("info", None))
    assert flight.pending() == [] and not flight.waiting and not flight.unsure


def test_a_late_answer_after_a_resend_leaves_the_last_line_unsure() -> None:
    # 'a' resent and given up on, then 'b' resent last: a phrase's answer is a's, late,
    # or b's. With no second answer the answer wait settles 'b' as answered; before, it
    # was given up on, so the next typed line's answer was taken for b's late one.
    resync = hand_fed_resync()
    sent = monitor_mod._Sent
    a, b = sent(b"a\n", 1, True), sent(b"b\n", 2, True)
    resync.typed.sent(a)
    resync.typed.give_up()
    resync.typed.sent(b)
    resync.out = [a, b]
    assert resync.observe('{"intent":"a","score":0.9,"route":"local","us":5}') == "late"
    assert [s.line for s in resync.typed.pending()] == [b"b\n"] and resync.typed.waiting
    resync.typed.give_up()  # the answer wait passed
    assert resync.typed.pending() == []


@pytest.mark.parametrize("answer", ["phrase", "info"])
def test_the_reader_does_not_wait_for_the_gate_outside_a_resync(answer: str) -> None:
    # A send's slow write holds the gate. Outside a resync the reader must not wait for
    # it: held, it leaves last_rx behind, and a line whose answer sits unread is given
    # up on. Before, an answer after a resend whose first line was given up on (``out``
    # holding two lines) waited for the gate.
    resync = hand_fed_resync()
    sent = monitor_mod._Sent
    resync.out = [sent(b"a\n", 1, True), sent(b"b\n", 2, True)]
    resync.owed = 1  # an info answer: a marker's, owed
    held = threading.Event()
    done = threading.Event()

    def send_holding_the_gate() -> None:
        with resync.gate.cond:
            held.set()
            done.wait(2.0)

    threading.Thread(target=send_holding_the_gate, daemon=True).start()
    assert held.wait(2.0)
    line = (
        '{"intent":"a","score":0.9,"route":"local","us":5}'
        if answer == "phrase"
        else f'{{"info":{json.dumps(INFO)}}}'
    )
    start = time.monotonic()
    seen = resync.observe(line)
    took = time.monotonic() - start
    done.set()
    assert not resync.active
    assert seen == ("late" if answer == "phrase" else "marker")
    assert took < 0.5, f"the reader waited {took:.2f} s for the gate outside a resync"


class _NoisyAfterY(_Logged):
    """A board that never answers 'x' and reports a loss right after answering 'y' (a
    gap of noise: no line lost)."""

    def _reply(self, line: str) -> bytes | None:
        reply = super()._reply(line)
        if line == "y" and self.received.count("y") == 1 and reply is not None:
            return reply + b"\n" + self.gap_line.rstrip(b"\n")
        return reply


def test_a_line_resent_whose_answer_may_have_come_is_named_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # y's answer came after 'x' was given up on, so it may have been x's: 'y' stays in
    # flight, and a loss report meanwhile resends it. The note must not say the board
    # dropped it (here it did not: the board never answered 'x').
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _NoisyAfterY(ignore=("x",), stm32=True, drop_after=False)
    rows, _, _ = _run(monkeypatch, board, b"x\ny\n", linger=1.0)
    assert board.received == ["x", "y", "", ":info", "y"], rows
    notes = [r for r in rows if "lost bytes" in r]
    assert len(notes) == 1, rows
    assert "resent 1 line, in order: 1 it may have answered" in notes[0]
    assert "resent 1 line it dropped" not in notes[0], notes


def test_a_resent_line_counted_answered_after_its_wait_keeps_later_pairings_in_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # While the board acts on 'one', 'x' and 'y' are given up on in turn, and 'w' goes
    # with bytes lost: the ESP32 flushes all three, and all three are resent. The board
    # never answers 'x'; y's answer could be x's, late, so 'w' goes after the answer
    # wait. Before, 'y' stayed one given up on, so w's answer was taken for y's late one
    # and 'z' waited another answer wait after w's answer. (Since round 54 y's wait is
    # doubled, x given up on before it: 'one' is acted on past both, 0.5 s and 1 s.)
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Logged(ignore=("x",), lose={"w": 1}, busy={"one": 1.75})
    rows, _, _ = _run(monkeypatch, board, b"one\nx\ny\nw\nz\n", linger=1.0)
    assert board.received == ["one", "x", "y", "w", "", ":info", "x", "y", "w", "z"], rows
    assert board.phrases == ["one", "y", "w", "z"], rows
    assert board.sent_at("z") >= board.answered_at("w"), rows
    assert board.sent_at("z") - board.answered_at("w") < 0.4, rows


def test_a_line_given_up_on_long_ago_makes_no_answer_unsure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Past the bound a line given up on is no longer one a loss report covers, and an
    # answer is no longer taken for its late one: the line in flight is answered at once
    # rather than waiting for a second answer (typed by hand, a minute after 'x').
    monkeypatch.setattr(monitor_mod, "GIVEN_UP_KEEP_S", 0.3)
    sent = monitor_mod._Sent
    flight = monitor_mod._TypedFlight()
    flight.sent(sent(b"x\n", 1, True))
    flight.give_up()
    time.sleep(0.4)
    flight.sent(sent(b"y\n", 2, True))
    flight.answered(PHRASE)
    assert flight.pending() == [] and not flight.waiting and not flight.unsure
