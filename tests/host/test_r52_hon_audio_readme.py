"""Two round-51 changes to the keyword README template that no test pinned (round 52 audit).

- Round 51 (6ba847b) added to both README templates the paragraph on ``sdkconfig.<env>``:
ESP-IDF applies ``sdkconfig.defaults`` only to the options the kept configuration lacks,
  so a regenerate's new defaults may not reach the build. The text template's copy is
  pinned by the ESP32 golden README; the keyword template's copy was pinned by nothing
  (the hunk reverted, every targeted test passed). It belongs to ESP32 projects only: an
  STM32H7 build has no sdkconfig.
- The ``unknown_command`` row (c32e5d4, 9232202): a ``:`` line near a broken frame spelt
  as a typed command is answered, and after a stray byte a line end goes before ``:info``
  (``\0:info\r`` gets no answer). The old row told the user to send ``:info`` first,
  "always answered", which the firmware no longer does; reverting the row failed no test.
"""

from __future__ import annotations

import pytest
from kws_glue_fixture import keyword_model

from tinyslm.boards import load_board
from tinyslm.emit import render_project


def keyword_readme(board_id: str) -> str:
    """The keyword project's README.md for ``board_id``, its whitespace runs as one space."""
    manifest, model = keyword_model()
    plan = render_project(load_board(board_id), manifest, model)
    return " ".join(plan.as_mapping()["README.md"].decode("utf-8").split())


def test_an_esp32_keyword_readme_says_regenerating_keeps_the_builds_sdkconfig() -> None:
    text = keyword_readme("esp32")
    assert (
        "Regenerating keeps `sdkconfig.esp32`, the build's configuration (with your "
        "menuconfig choices), and ESP-IDF applies `sdkconfig.defaults` only to the options "
        "it does not hold" in text
    )
    assert "deleting `sdkconfig.esp32` applies the defaults." in text


def test_an_stm32h7_keyword_readme_names_no_sdkconfig() -> None:
    assert "sdkconfig" not in keyword_readme("stm32h7")


def unknown_command_row(text: str) -> str:
    start = text.index('| `{"error":"unknown_command"}` |')
    return text[start : text.index(" | `{", start + 1)]


@pytest.mark.parametrize("board_id", ["esp32", "stm32h7"])
def test_the_unknown_command_row_says_a_typed_command_is_answered_after_a_line_end(
    board_id: str,
) -> None:
    row = unknown_command_row(keyword_readme(board_id))
    assert "unless it is spelt as a typed command (`:`, a lowercase letter, then printable" in row
    assert "send a line end, then `:info`: a command starts only at the start of a line" in row
    # The advice the firmware stopped honouring: ":info" right after the stray byte.
    assert "send `:info` first: it is always answered" not in row
