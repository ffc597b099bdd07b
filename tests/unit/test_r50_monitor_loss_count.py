"""``tinyslm monitor`` round 50: the "lost bytes N times in a row" give-up counts resyncs.

Round 48 counted the losses in a row line by line, with a window (``PAIR_S``, timed from
the reader's reads) that took an STM32H7's ``rx_error`` right after its ``rx_overflow``
for one loss; but the give-up itself counts resync rounds (losses reported before the
marker's answer start no second round), so the window changed only the number in the
note. The note now says the rounds it counted. Pinned here end to end: a board that
loses every resent 'two', each loss said as the pair (back to back, 0.25 s apart, or
taken late by a reader held by slow writes) or as one rx_overflow, gives up after three
rounds and says 3. Two loss lines of one round said further apart (0.5 s), or two
rx_overflows back to back, said 6 before: one line per loss line, where the README says
that losses reported before the ':info' answer count as one.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_r47_monitor_resync import _Board, _run
from test_r49_monitor_resync import _SlowWrites

OVER = '{"error":"rx_overflow"}'
ERR = '{"error":"rx_error","reason":"framing"}'
GAVE_UP = "lost bytes 3 times in a row with no line answered in between"


class _Apart(_Board):
    """An STM32 board whose every loss is said as ``first`` then, ``apart`` seconds later,
    ``second`` (the board's loop held meanwhile, as while it writes)."""

    def __init__(self, first: str, second: str, apart: float, **kwargs: Any) -> None:
        self.first, self.second, self.apart = first, second, apart
        super().__init__(gap_line=(first + "\n").encode(), **kwargs)

    def answer(self, data: bytes) -> None:
        super().answer(data)
        if data == (self.first + "\n").encode():
            time.sleep(self.apart)
            super().answer((self.second + "\n").encode())


def _board(case: str) -> _Board:
    lose = {"two": 99}  # every 'two' the board gets: the resent ones too
    if case == "pair-back-to-back":
        return _Board(stm32=True, lose=lose, gap_line=(OVER + "\n" + ERR + "\n").encode())
    if case == "pair-0.2s-apart":
        return _Apart(OVER, ERR, 0.2, stm32=True, lose=lose)
    if case == "pair-0.25s-apart":
        return _Apart(OVER, ERR, 0.25, stm32=True, lose=lose)
    if case == "pair-taken-by-a-held-reader":
        return _SlowWrites(0.4, stm32=True, lose=lose, gap_line=(OVER + "\n" + ERR + "\n").encode())
    if case == "one-rx_overflow-each":
        return _Board(stm32=True, lose=lose)
    if case == "pair-0.5s-apart":
        return _Apart(OVER, ERR, 0.5, stm32=True, lose=lose)
    assert case == "two-rx_overflows-back-to-back"
    return _Board(stm32=True, lose=lose, gap_line=(OVER + "\n" + OVER + "\n").encode())


@pytest.mark.parametrize(
    "case",
    [
        "pair-back-to-back",
        "pair-0.2s-apart",
        "pair-taken-by-a-held-reader",
        "one-rx_overflow-each",
        # At the window's edge: 3 or 6 before, as the reader's reads fell.
        "pair-0.25s-apart",
        # Said "lost bytes 6 times" before: two loss lines in each of the three rounds.
        "pair-0.5s-apart",
        "two-rx_overflows-back-to-back",
    ],
)
def test_the_give_up_note_counts_the_resyncs_in_a_row(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    board = _board(case)
    rows, _, _ = _run(monkeypatch, board, b"one\ntwo\nthree\n", linger=0.5)
    gave_up = [r for r in rows if "gave up resending" in r]
    assert len(gave_up) == 1, rows
    assert GAVE_UP in gave_up[0], gave_up
    assert 'not answered: "two"' in gave_up[0], gave_up
    assert board.phrases == ["one", "three"], rows
    # 'two' went once and was resent twice (the third loss gives up).
    assert board.received.count("two") == 3, board.received
