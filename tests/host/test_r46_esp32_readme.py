"""The generated project's README against the firmware it describes (round 46).

- The blank-line sentence names the bytes ``is_blank`` in ``firmware/text/tinyslm_core.c``
  ignores: it said "only spaces and tabs", but a line of vertical tabs or form feeds gets
  no answer either.
- On an ESP32 the ``rx_overflow`` row says what goes: the glue flushes the driver's whole
  receive buffer (every line waiting in it, not just the line in progress), and says
  what a host should do (wait, then resend from the first unanswered line).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinyslm.boards import load_board
from tinyslm.emit import render_project
from tinyslm.manifest import load_model_dir
from tinyslm.resources import firmware_dir

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
# How the README names each byte is_blank accepts.
BLANK_NAMES = {" ": "spaces", "\\t": "tabs", "0x0Bu": "vertical tabs", "0x0Cu": "form feeds"}


def readme(board_id: str) -> str:
    manifest, model = load_model_dir(FIXTURE_MODEL)
    plan = render_project(load_board(board_id), manifest, model)
    return plan.as_mapping()["README.md"].decode("utf-8")


def is_blank_bytes() -> list[str]:
    """The bytes ``is_blank`` compares against, as written in the C source."""
    core = (firmware_dir() / "text" / "tinyslm_core.c").read_text(encoding="utf-8")
    body = re.search(r"static int is_blank\(.*?\n}\n", core, re.S)
    assert body, "is_blank is gone from tinyslm_core.c"
    return re.findall(r"b != (' '|'\\t'|0x[0-9A-Fa-f]+u)", body[0])


@pytest.mark.parametrize("board_id", ["esp32", "stm32h7"])
def test_the_blank_line_sentence_names_the_bytes_the_core_ignores(board_id: str) -> None:
    written = [b.strip("'") for b in is_blank_bytes()]
    assert sorted(written) == sorted(BLANK_NAMES), "is_blank changed: update BLANK_NAMES"
    text = " ".join(readme(board_id).split())
    m = re.search(r"An empty line, or one of only ([^,]+(?:, [^,]+)*?), gets no answer", text)
    assert m, "the README's blank-line sentence is gone"
    named = re.split(r", | or ", m[1])
    assert sorted(named) == sorted(BLANK_NAMES.values())


def rx_overflow_row(text: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith('| `{"error":"rx_overflow"}`')]
    assert len(rows) == 1, rows
    return rows[0]


def test_the_esp32_rx_overflow_row_says_the_buffer_goes_and_to_resend() -> None:
    row = rx_overflow_row(readme("esp32"))
    assert "receive buffer (up to about 2.3 KB)" in row  # kRxRingBytes + stash + FIFO
    assert "the line in progress, up to its end" in row
    assert "resend from the first line that got no answer" in row
    assert "wait a quarter of a second" in row  # kQuietWait at the slowest baud fits


def test_the_stm32_rx_overflow_row_is_its_own() -> None:
    # The STM32 glue feeds every byte from before a loss first and buffers none after
    # it, so no waiting line is flushed: the ESP32 wording must not leak into its row.
    row = rx_overflow_row(readme("stm32h7"))
    assert "the line in progress is dropped" in row
    assert "receive buffer" not in row
