"""Losses reported before one marker's answer are one burst to the monitor's resync.

A review of round 48 found two ways the resync gave up with no line ever acted on:
three gaps of one burst, the marker lost in the third, counted as "lost bytes 3 times in
a row" (README: losses reported before the ':info' answer count as one), and an STM32H7
that says a wrong byte that came while it wrote a gap's rx_overflow right after it, as
rx_error (new this round): one gap, said twice, counted twice. The give-up now counts
markers lost, and the pair is one loss (round 50: as is every loss line before the
marker's answer).
"""

from __future__ import annotations

import pytest
from monitor_resync import hand_fed_resync
from test_r47_monitor_resync import _Board, _escalations, _Host, _run

from tinyslm import monitor as m

OVER = '{"error":"rx_overflow"}'
ERR = '{"error":"rx_error","reason":"framing"}'


def _after(lines: list[str], seconds: float = 0.0) -> m._Resync:
    """A resync fed ``lines``, ``seconds`` apart; its watcher ended."""
    import time

    resync = hand_fed_resync()
    for at, line in enumerate(lines):
        if at:
            time.sleep(seconds)
        resync.observe(line)
    resync.gate.stop.set()  # end its watcher
    return resync


def test_an_rx_error_that_comes_later_may_have_lost_the_marker() -> None:
    # A review found the pair taken by adjacency alone: an rx_error seconds after the
    # rx_overflow (a marker sent between) is another gap, which may have lost the marker:
    # a second one goes if the first's answer does not come. Still one loss of the lines
    # in flight (round 50: the give-up counts resync rounds, test_r50_monitor_loss_count).
    resync = _after([OVER, ERR], seconds=0.55)
    assert resync.marker_lost and resync.rounds == 1


def test_loss_lines_before_the_markers_answer_are_one_loss() -> None:
    # Round 50: the pair and any other loss lines before the marker's answer (an
    # rx_error first, two rx_overflows) start one resync round, the count of losses in a
    # row; round 48 counted the pair once by a time window and the others line by line.
    for lines in ([OVER, ERR], [OVER, ERR, OVER], [OVER, OVER], [ERR, OVER], [ERR, ERR]):
        assert _after(lines).rounds == 1, lines


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
