"""Losses reported before one marker's answer are one burst to the monitor's resync.

A review of round 48 found two ways the resync gave up with no line ever acted on:
three gaps of one burst, the marker lost in the third, counted as "lost bytes 3 times in
a row" (README: losses reported before the ':info' answer count as one), and an STM32H7
that says a wrong byte that came while it wrote a gap's rx_overflow right after it, as
rx_error (new this round): one gap, said twice, counted twice. The give-up now counts
markers lost, and the pair is one loss.
"""

from __future__ import annotations

import pytest
from test_r47_monitor_resync import _Board, _escalations, _Host, _run

from tinyslm import monitor as m

OVER = '{"error":"rx_overflow"}'
ERR = '{"error":"rx_error","reason":"framing"}'


def _resync() -> m._Resync:
    """A resync fed board lines by hand: writes, notes and errors go nowhere."""
    return m._Resync(
        m._Gate(),
        lambda _data: None,
        m._TypedFlight(),
        None,
        lambda _note: None,
        lambda: 0.0,
        lambda _exc: None,
        lambda _exc: None,
    )


def _strikes(lines: list[str]) -> int:
    resync = _resync()
    for line in lines:
        resync.observe(line)
    strikes = resync.strikes
    resync.gate.stop.set()  # end its watcher
    return strikes


def _strikes_apart(first: str, second: str, seconds: float) -> int:
    import time

    resync = _resync()
    resync.observe(first)
    time.sleep(seconds)
    resync.observe(second)
    strikes = resync.strikes
    resync.gate.stop.set()
    return strikes


def test_an_rx_error_that_comes_later_is_a_gap_of_its_own() -> None:
    # A review found the pair taken by adjacency alone: an rx_error seconds after the
    # rx_overflow (a marker sent between) is another gap, which may have lost the marker.
    assert _strikes_apart(OVER, ERR, m.PAIR_S + 0.3) == 2


def test_rx_error_right_after_rx_overflow_is_one_loss() -> None:
    assert _strikes([OVER, ERR]) == 1
    assert _strikes([OVER, ERR, OVER]) == _strikes([OVER, OVER]) == 2
    # Not the pair: an rx_error first, or an rx_overflow after it, are losses of their own.
    assert _strikes([ERR, OVER]) == _strikes([ERR, ERR]) == 2


def test_three_gaps_of_one_burst_and_the_marker_lost_send_a_second_marker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ':do a' and ':do b' are lost in two STM32 gaps (each drops the next line, x and y),
    # all of one burst; the marker's empty line is lost in a third gap reported before
    # the marker's answer (its ':info' dropped).
    monkeypatch.setattr(m, "RESYNC_WAIT_S", 0.4, raising=False)
    board = _Board(
        stm32=True,
        lose={":do a": 1, ":do b": 1, "": 1},
        hold=4,
        known="abxy",
        out=_escalations("pa", "px", "pb", "py"),
    )
    host = _Host({"pa": ":do a", "px": ":do x", "pb": ":do b", "py": ":do y"})
    rows, notes, _ = _run(monkeypatch, board, b"", escalation=host, linger=1.0)
    assert not [r for r in rows + notes if "gave up" in r], rows + notes
    assert sorted(board.acted) == ["a", "b", "x", "y"]


@pytest.mark.parametrize("pair", [False, True], ids=["said-once", "said-as-a-pair"])
def test_a_drop_said_as_a_pair_and_the_marker_lost_once(
    monkeypatch: pytest.MonkeyPatch, pair: bool
) -> None:
    # ':do a' lost (':do x' dropped after it), then the marker's empty line lost (its
    # ':info' dropped): two drops, the marker lost once; a second marker goes and a, x
    # are resent, whether each drop is said once or as the STM32H7's pair.
    monkeypatch.setattr(m, "RESYNC_WAIT_S", 0.4, raising=False)
    gap = (OVER + "\n").encode()
    if pair:
        gap += (ERR + "\n").encode()
    board = _Board(
        stm32=True,
        lose={":do a": 1, "": 1},
        hold=2,
        known="ax",
        out=_escalations("pa", "px"),
        gap_line=gap,
    )
    host = _Host({"pa": ":do a", "px": ":do x"})
    rows, notes, _ = _run(monkeypatch, board, b"", escalation=host, linger=1.0)
    assert board.acted == ["a", "x"], rows + notes
