"""The generated project's README against the firmware it describes (round 46).

- The blank-line sentence names the bytes ``is_blank`` in ``firmware/text/tinyslm_core.c``
  ignores: it said "only spaces and tabs", but a line of vertical tabs or form feeds gets
  no answer either.
- On an ESP32 the ``rx_overflow`` row says what goes: the glue flushes the driver's whole
  receive buffer (every line waiting in it, not just the line in progress), and says
  what a host should do. Both boards' rows give the same instruction: send one empty
  line, whose line end ends the core's drop (the glue never ends it on a pause, which
  had the rest of a cut line classified), then resend from the first unanswered line.
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


# What a host does after {"error":"rx_overflow"}, in each board's row, in this order.
HOST_STEPS = (
    "Stop sending at the end of the line you are writing (never in the middle of one)",
    "send one empty line (`\\n`: it gets no answer, and it ends the drop with a line end"
    " you sent, so no fragment is ever taken for a line)",
    # Round 47: only those, not a line answered after the error (its action ran).
    "then resend the lines that got no answer (not those answered after this error",
    "`tinyslm monitor` does this by itself",
)


def assert_host_steps(row: str) -> None:
    at = [row.find(step) for step in HOST_STEPS]
    assert -1 not in at, row
    assert at == sorted(at), "the host's steps are out of order"
    # The glue no longer ends a drop on a pause, so no wait is asked for.
    assert "quarter of a second" not in row


@pytest.mark.parametrize("board_id", ["esp32", "stm32h7"])
def test_the_rx_overflow_row_tells_the_host_to_send_an_empty_line_then_resend(
    board_id: str,
) -> None:
    assert_host_steps(rx_overflow_row(readme(board_id)))


def test_the_esp32_rx_overflow_row_says_the_buffer_goes_and_to_resend() -> None:
    row = rx_overflow_row(readme("esp32"))
    assert "receive buffer (up to about 2.3 KB)" in row  # kRxRingBytes + stash + FIFO
    assert "the line in progress, up to the next line end the board receives" in row


def test_the_project_readme_gives_a_host_the_same_steps() -> None:
    readme_md = Path(__file__).resolve().parents[2] / "README.md"
    text = " ".join(readme_md.read_text(encoding="utf-8").split())
    at = text.index("Bytes lost on the way in")  # the serial protocol's bullet
    bullet = text[at : text.index(" - ", at)]
    assert "send one empty line (`\\n`: it gets no answer, and it ends the drop" in bullet
    assert "then resend the lines that got no answer (not those answered after" in bullet
    assert "stop sending at the end of the line it is writing" in bullet
    assert "`tinyslm monitor` does this by itself" in bullet
    assert "quarter of a second" not in bullet


def test_the_stm32_rx_overflow_row_is_its_own() -> None:
    # The STM32 glue feeds every byte from before a loss first and buffers none after
    # it, so no waiting line is flushed: the ESP32 wording must not leak into its row.
    row = rx_overflow_row(readme("stm32h7"))
    assert "the line in progress is dropped" in row
    assert "receive buffer" not in row
