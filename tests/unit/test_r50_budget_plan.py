"""``train --board`` plans a text model's arena with the firmware's other RAM taken off.

generate's budget check counts the line, token and score buffers, the app state, the
TFLM glue and the serial buffers (on the ESP32 the UART driver's 14 KiB of heap) with
the arena (``emit.text.ram_bytes``); a plan against the whole arena budget could train a
model for a board that generate then refuses.
"""

from __future__ import annotations

from tinyslm.boards import load_board
from tinyslm.emit.text import firmware_ram
from tinyslm.text.dataset import MAX_LINE_LIMIT
from tinyslm.train_options import plan_size, resolve_seq_len


def _options(board: str) -> dict[str, object]:
    opts: dict[str, object] = {
        "board": board,
        "max_model_kb": None,
        "buckets": None,
        "dim": None,
        "hidden": None,
        "seq_len": None,
    }
    return dict(resolve_seq_len(opts))


def test_the_arena_budget_leaves_room_for_the_firmware_ram() -> None:
    for board_id in ("esp32", "stm32h7"):
        board = load_board(board_id)
        opts = _options(board_id)
        choice = plan_size(opts, 20)
        others, what = firmware_ram(board, int(opts["seq_len"]), 20, MAX_LINE_LIMIT)  # type: ignore[call-overload]
        assert others > 0 and "TFLM glue" in what
        assert choice.arena_budget_bytes == board.arena_budget_bytes - others
        assert choice.arena_bytes <= choice.arena_budget_bytes


def test_the_esp32_plan_counts_the_uart_driver_heap() -> None:
    board = load_board("esp32")
    opts = _options("esp32")
    choice = plan_size(opts, 20)
    # 2 KiB ring + 1024 events of 12 bytes: without them the plan had the whole 96 KiB.
    assert choice.arena_budget_bytes is not None
    assert board.arena_budget_bytes - choice.arena_budget_bytes >= 2048 + 1024 * 12
