"""``tinyslm monitor`` round 48: the resync after an rx_overflow resends the lines the
board dropped one at a time, each after the answer to the one before (sent in one
burst, they overran a board's receive ring again, as the burst that was lost had), and
sends a second marker only when the first may have been lost in the overflow reported."""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_r47_monitor_resync import GAP, _Board, _escalations, _Host, _run

from tinyslm import monitor as monitor_mod

# The firmware's receive rings (templates/*-text/src/main.cc.j2: kRxRingBytes, kRxRing).
ESP32_RING = 2048
STM32_RING = 1024


class _Ring(_Board):
    """A board whose receive ring holds ``ring`` bytes: the bytes of the lines it has not
    taken yet (the line being acted on is taken). A line that does not fit is lost, and
    so is every line after it until the board has reported the loss (the STM32 stores
    nothing then; the ESP32's ring stays full till its loop flushes it)."""

    def __init__(self, *, ring: int, **kwargs: Any) -> None:
        self.ring = ring
        super().__init__(**kwargs)

    def write(self, data: bytes) -> int:
        with self.lock:
            self.written += data
        with self.cond:
            self.partial += data
            while b"\n" in self.partial:
                raw, self.partial = self.partial.split(b"\n", 1)
                line = raw.decode()
                self.received.append(line)
                held = sum(len(item.encode()) + 1 for item in self.queue if item is not None)
                if GAP in self.queue:
                    continue  # lost in the gap not reported yet
                if held + len(raw) + 1 > self.ring:
                    if not self.stm32:
                        self.queue.clear()  # the ESP32 glue: uart_flush_input
                    self.queue.append(GAP)
                else:
                    self.queue.append(line)
            self.cond.notify_all()
        return len(data)


def _intent(i: int) -> str:
    return f"i{i:02d}_" + "x" * 190  # a ':do' line of 199 bytes


@pytest.mark.parametrize("stm32", [False, True])
def test_lines_that_overran_the_ring_are_resent_without_overrunning_it_again(
    monkeypatch: pytest.MonkeyPatch, stm32: bool
) -> None:
    # Twelve ':do' lines (2388 bytes) reach a board busy till they all came: the ring
    # overruns (the ESP32 flushes all of them, the STM32 keeps those that fit). Resent
    # in one burst while the board acts on the first, they overran it again: the ESP32
    # lost them all three times and the monitor gave up, the STM32 took two losses.
    n = 12
    phrases = [f"p{i}" for i in range(n)]
    board = _Ring(
        ring=STM32_RING if stm32 else ESP32_RING,
        stm32=stm32,
        hold=n,
        known={_intent(i) for i in range(n)},
        busy={f":do {_intent(i)}": 0.05 for i in range(n)},
        out=_escalations(*phrases),
    )
    host = _Host({p: f":do {_intent(i)}" for i, p in enumerate(phrases)})
    rows, _, _ = _run(monkeypatch, board, b"", escalation=host, linger=1.0)
    assert board.overflows == 1, rows
    assert sorted(board.acted) == sorted(_intent(i) for i in range(n)), rows
    assert len(board.acted) == n
    assert not [r for r in rows if "gave up" in r], rows


def test_a_gap_before_the_marker_sends_no_second_marker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two ':do' lines lost in two STM32 gaps; the second rx_overflow comes after the
    # marker went out, then the answer to ':do c' (sent before the marker): that gap was
    # before 'c', so not the marker's. The board then acts on 'c' for longer than the
    # marker's wait: the marker is waited for once more, and no second one is sent
    # (before: an empty line and ':info' more, their answer hidden, before the resend).
    monkeypatch.setattr(monitor_mod, "RESYNC_WAIT_S", 0.5, raising=False)
    board = _Board(
        stm32=True,
        lose={":do a": 1, ":do b": 1},
        drop_after=False,
        hold=3,
        known="abc",
        busy={":do c": 0.75},
        out=_escalations("pa", "pb", "pc"),
    )
    host = _Host({"pa": ":do a", "pb": ":do b", "pc": ":do c"})
    rows, _, _ = _run(monkeypatch, board, b"", escalation=host, linger=0.5)
    assert board.received[3:] == ["", ":info", ":do a", ":do b"]
    assert board.acted == ["c", "a", "b"]
    assert not [r for r in rows if r.startswith("info:") or "gave up" in r], rows
    assert any("resent 2 lines it dropped" in r for r in rows), rows


def test_a_marker_lost_in_the_gap_reported_is_still_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ':do a' is lost in an STM32 gap and ':do x' dropped after it; ':do b', sent before
    # the marker, is answered after that report; then the empty line is lost in a second
    # gap and ':info' dropped after it. No line is answered after the second report: the
    # marker may be in that gap (it is), so a second one goes and finds 'a' and 'x' to
    # resend (b's answer, before that report, says nothing of where that gap was).
    monkeypatch.setattr(monitor_mod, "RESYNC_WAIT_S", 0.4, raising=False)
    board = _Board(
        stm32=True,
        lose={":do a": 1, "": 1},
        hold=3,
        known="abx",
        out=_escalations("pa", "px", "pb"),
    )
    host = _Host({"pa": ":do a", "px": ":do x", "pb": ":do b"})
    rows, _, _ = _run(monkeypatch, board, b"", escalation=host, linger=0.5)
    assert board.received == [
        *[":do a", ":do x", ":do b", "", ":info", "", ":info", ":do a", ":do x"]
    ]
    assert board.acted == ["b", "a", "x"]
    assert any("resent 2 lines it dropped" in r for r in rows), rows


class _Mute(_Ring):
    """A ring board that leaves the lines in ``mute`` unanswered when they come a second
    time (resent: the board reset meanwhile, say)."""

    def __init__(self, mute: set[str], **kwargs: Any) -> None:
        self.mute = set(mute)
        super().__init__(**kwargs)

    def _reply(self, line: str) -> bytes | None:
        if line in self.mute and self.received.count(line) == 2:
            return None
        return super()._reply(line)


def test_a_resent_line_never_answered_lets_the_next_go_after_the_answer_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first resent line gets no answer: the next
    # goes once the board has been quiet for ANSWER_WAIT_S, as a typed line's does, and
    # the resync ends; nothing waits for it for ever.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    n = 12
    phrases = [f"p{i}" for i in range(n)]
    first = f":do {_intent(0)}"
    board = _Mute(
        {first},
        ring=ESP32_RING,
        hold=n,
        known={_intent(i) for i in range(n)},
        out=_escalations(*phrases),
    )
    host = _Host({p: f":do {_intent(i)}" for i, p in enumerate(phrases)})
    start = time.monotonic()
    rows, _, _ = _run(monkeypatch, board, b"", escalation=host, linger=0.5)
    assert board.overflows == 1, rows
    assert sorted(board.acted) == sorted(_intent(i) for i in range(1, n)), rows
    assert any(f"resent {n} lines it dropped" in r for r in rows), rows
    assert time.monotonic() - start < 6.0


def test_gaps_of_one_burst_before_the_markers_answer_do_not_end_the_resync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three ':do' lines lost in three STM32 gaps of one burst, all reported before the
    # marker's answer, which comes: the board answers again, and nothing was resent yet.
    # Before, the three reports counted as three losses in a row: the monitor gave up
    # ("lost bytes 3 times in a row") and none of the three was ever acted on.
    board = _Board(
        stm32=True,
        lose={":do a": 1, ":do b": 1, ":do c": 1},
        drop_after=False,
        hold=3,
        known="abc",
        out=_escalations("pa", "pb", "pc"),
    )
    host = _Host({"pa": ":do a", "pb": ":do b", "pc": ":do c"})
    rows, _, _ = _run(monkeypatch, board, b"", escalation=host, linger=0.5)
    assert board.received == [":do a", ":do b", ":do c", "", ":info", ":do a", ":do b", ":do c"]
    assert board.acted == ["a", "b", "c"]
    assert not [r for r in rows if "gave up" in r], rows
    assert any("resent 3 lines it dropped" in r for r in rows), rows
