"""``tinyslm monitor`` resync behaviours of round 47 that no test held (round 48's
test-honesty audit, items 2-6): the session ending mid-resync names the lines never
answered; a board line that answers no line (a boot log) keeps the typed line in flight;
an ``rx_error`` is a loss for the host's ``:do`` pairing; the give-up and session-end
notes name the loss the board reported; each resync counts its own unsure answers."""

from __future__ import annotations

import io
import time

import pytest
import serial
from fake_serial import use_port
from test_r47_monitor_resync import (
    _Board,
    _escalations,
    _Host,
    _run,
    _typed_later,
)

from tinyslm import monitor as monitor_mod
from tinyslm.errors import ToolchainError

RX_ERROR = b'{"error":"rx_error","reason":"framing"}\n'
RX_OVERFLOW = b'{"error":"rx_overflow"}\n'
GAP_LINES = [pytest.param(RX_OVERFLOW, id="rx_overflow"), pytest.param(RX_ERROR, id="rx_error")]


class _Dies(_Board):
    """A board whose port fails (unplugged) a little after the marker's ':info' came."""

    def read(self, n: int) -> bytes:
        if ":info" in self.received:
            time.sleep(0.3)
            raise serial.SerialException("device reports readiness to read but returned no data")
        return super().read(n)


def _cause(gap_line: bytes) -> str:
    return "rx_error" if b"rx_error" in gap_line else "rx_overflow"


@pytest.mark.parametrize("gap_line", GAP_LINES)
def test_the_port_failing_mid_resync_names_the_lines_not_answered(
    monkeypatch: pytest.MonkeyPatch, gap_line: bytes
) -> None:
    # 'two' is lost; the board never answers the marker (other firmware) and its port
    # fails: the session ends while the resync waits. The line the board dropped is
    # named, with the loss the board reported (without the session end's note, "two"
    # was dropped unsaid).
    board = _Dies(lose={"two": 1}, info=False, gap_line=gap_line)
    use_port(monkeypatch, board)
    rows: list[str] = []
    with pytest.raises(ToolchainError):
        monitor_mod.monitor(
            "fake", stdin=io.BytesIO(b"one\ntwo\nthree\n"), echo=rows.append, linger=0.3
        )
    assert board.received[:4] == ["one", "two", "", ":info"]
    notes = [r for r in rows if "session ended" in r]
    assert notes == [
        "  monitor: the session ended while finding the lines the board dropped "
        f'({_cause(gap_line)}); not answered: "two"'
    ], rows


class _BootLog(_Board):
    """A board that prints a boot log line (it answers no line) as 'one' arrives, and
    answers 'one' only 0.8 s later: 'two' goes meanwhile (the boot log let it go)."""

    def write(self, data: bytes) -> int:
        if data == b"one\n":
            self.answer(b"ets Jul 29 2019 12:21:46\n")
        return super().write(data)

    def _reply(self, line: str) -> bytes | None:
        if line == "one":
            time.sleep(0.8)
        return super()._reply(line)


def test_a_boot_log_does_not_answer_the_typed_line_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The boot log answers no line: 'one' stays in flight, answered later, and 'two'
    # (lost) is resent. Taken for one's answer, it made one's answer count as two's,
    # and 'two' was neither resent nor named. Round 51: one's local answer could be
    # two's (had 'one' been lost at the reset whose boot log that was), so the note says
    # 'two' may have been answered (sure, the monitor resent a 'two' it had answered
    # after a reset: tests/unit/test_r51_mdmon2_monitor_release.py).
    board = _BootLog(stm32=True, lose={"two": 1})
    rows, _, _ = _run(monkeypatch, board, b"one\ntwo\nthree\n", linger=0.5)
    assert board.received == ["one", "two", "", ":info", "two", "three"], rows
    assert board.phrases == ["one", "two", "three"]
    assert any(
        "resent 1 line, in order: 1 it may have answered before the loss" in r for r in rows
    ), rows


def test_the_give_up_note_names_an_rx_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The marker is never answered: the give-up note names the loss the board said.
    monkeypatch.setattr(monitor_mod, "RESYNC_WAIT_S", 0.5, raising=False)
    board = _Board(lose={"two": 1}, info=False, gap_line=RX_ERROR)
    rows, _, _ = _run(monkeypatch, board, b"one\ntwo\nthree\n")
    gave_up = [r for r in rows if "gave up resending" in r]
    assert len(gave_up) == 1, rows
    assert gave_up[0].startswith("  monitor: the board lost bytes (rx_error) and "), gave_up
    assert "rx_overflow" not in gave_up[0]


def test_a_second_resync_does_not_repeat_the_firsts_unsure_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first resync resends ':do a' and ':do zz', one of them perhaps answered by the
    # unknown_intent; a second loss (the typed 'two', 1.5 s later) has no unknown_intent:
    # its note says only the line it dropped (before, it repeated the first's "1 it may
    # have answered with an unknown_intent").
    board = _Board(
        stm32=True,
        lose={":do a": 1, "two": 1},
        drop_after=False,
        hold=2,
        known="a",
        out=_escalations("p1", "p2"),
    )
    host = _Host({"p1": ":do a", "p2": ":do zz"})
    use_port(monkeypatch, board)
    rows: list[str] = []
    monitor_mod.monitor(
        "fake",
        stdin=_typed_later(b"two\nthree\n", 1.5),
        echo=rows.append,
        linger=1.0,
        escalation=host,
    )
    resent = [r for r in rows if "monitor:" in r and "resent" in r]
    assert len(resent) == 2, rows
    assert "1 it may have answered with an unknown_intent" in resent[0], resent
    assert "resent 1 line it dropped" in resent[1], resent
    assert "unknown_intent" not in resent[1], resent
    assert board.received[-3:] == [":info", "two", "three"], board.received
