"""Round 49 (rev3 #1): an unsure line and a board line that answers none.

A phrase's answer that a line given up on can take is that line's (late), and the line
in flight stays in flight, unsure. A board line that answered nothing (the user's action
code printing after each answer, an ESP-IDF log) then let the next line go with the
unsure one still in flight: every later answer settled the line before it, and a loss
report resent a ':do' the board had answered and acted on (twice), naming it dropped.
Now such a line settles the unsure one as answered: the board moved on.
"""

from __future__ import annotations

import pytest
from test_r47_monitor_resync import _Board, _run

from tinyslm import monitor as monitor_mod


class _Logs(_Board):
    """Ignores the lines in ``ignore`` (lost at a reset, no loss report) and prints a
    line of the user's action code after each intent it answers."""

    def __init__(self, ignore: tuple[str, ...] = (), **kw: object) -> None:
        self.ignore = set(ignore)
        super().__init__(**kw)  # type: ignore[arg-type]

    def _reply(self, line: str) -> bytes | None:
        return None if line in self.ignore else super()._reply(line)

    def answer(self, data: bytes) -> None:
        super().answer(data)
        if b'"intent"' in data:
            super().answer(b"lamp toggled\n")


@pytest.mark.parametrize("last", [":do a", "z"])
def test_an_answered_line_is_never_resent_after_a_board_line_answering_none(
    monkeypatch: pytest.MonkeyPatch, last: str
) -> None:
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Logs(ignore=("x",), stm32=True, known=("a",), drop_after=False, lose={"w": 1})
    typed = f"one\nx\ny\n{last}\nw\n".encode()
    rows, notes, _ = _run(monkeypatch, board, typed, linger=1.0)
    assert board.received.count(last) == 1, board.received  # answered once, never resent
    assert board.received[-1] == "w", board.received
    if last == ":do a":
        assert board.acted == ["a"], board.received
    said = [r for r in rows + notes if "lost bytes" in r]
    assert len(said) == 1 and "resent 1 line it dropped," in said[0], said
