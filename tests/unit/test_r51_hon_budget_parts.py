"""Round 51 honesty audit: a text project's budget counts each of the glue's own buffers.

d837db2 made the budget check count the text firmware's other RAM with the arena
(``emit.text.firmware_ram``): the line buffer, the token ids (``TINYSLM_SEQ_LEN`` int32),
the scores (one int8 a label), the app's state, the TFLM glue and the serial buffers.
Round 50's tests held the serial buffers, the TFLM glue and the line buffer; the token
ids counted as one byte each, or the scores or the app state left out of the count,
passed every test (plan_size's check compares with firmware_ram itself).
"""

from __future__ import annotations

import pytest

from tinyslm.boards import load_board
from tinyslm.emit.text import TEXT_APP_BYTES, firmware_ram, line_limit


@pytest.mark.parametrize("board_id", ["esp32", "stm32h7"])
def test_the_token_ids_scores_and_app_state_are_counted_at_their_sizes(board_id: str) -> None:
    board = load_board(board_id)
    seq_len, num_labels, max_line = 37, 23, 300
    total, what = firmware_ram(board, seq_len, num_labels, max_line)
    parts = what.split(" + ")
    for part in (
        f"line buffer {line_limit(board, max_line)}",
        f"token ids {4 * seq_len}",  # int32 each (tinyslm_core's ids)
        f"scores {num_labels}",  # int8 each
        f"app state {TEXT_APP_BYTES}",
    ):
        assert part in parts, (part, what)
    assert sum(int(p.rsplit(" ", 1)[1]) for p in parts) == total
    # Each one moves the total by its own size.
    assert firmware_ram(board, seq_len + 1, num_labels, max_line)[0] == total + 4
    assert firmware_ram(board, seq_len, num_labels + 1, max_line)[0] == total + 1
