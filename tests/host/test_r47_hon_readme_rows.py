"""Round 47 test-honesty audit (F4): the STM32H7 project READMEs' clock_init_failed and
fault rows say what the firmware does.

037a215 made both STM32H7 projects repeat ``clock_init_failed`` (the keyword board from
its loop every 3 s, not while a serial stream is open; the text board after an answer,
at most every 3 s) and say ``{"error":"fault",...}`` before a reset, and added those rows
to the projects' READMEs. Only the text README was held, and only by the golden snapshot
(regenerated with ``UPDATE_GOLDEN=1``); the keyword README's rows could go back to "said
once" and lose the fault row with every test passing. What the firmware does is tested
in test_r43_stm32_start_up, test_r47_hon_stm32_repeats and test_r46_stm32_fault.
"""

from __future__ import annotations

from pathlib import Path

from kws_glue_fixture import write_kws_project
from test_stm32_rx_ring import FIXTURE_MODEL

from tinyslm.boards import load_board
from tinyslm.pipeline import run_generate

CLOCK = '| `{"error":"clock_init_failed","reason":"running on the 64 MHz HSI"}` |'
FAULT = '| `{"error":"fault","reason":"hard_fault"}` |'


def _row(readme: str, head: str) -> str:
    rows = [line for line in readme.splitlines() if line.startswith(head)]
    assert len(rows) == 1, f"{head} rows: {rows}"
    return rows[0]


def _clock_clause(row: str) -> str:
    """The row's parenthesis on when the line is said (after "not <N> MHz")."""
    return row.split(" MHz (", 1)[1]


def test_the_keyword_readme_says_clock_init_failed_is_repeated(tmp_path: Path) -> None:
    project = write_kws_project(load_board("stm32h7"), tmp_path / "p", without_tflm=True)
    readme = (project / "README.md").read_text(encoding="utf-8")
    clause = _clock_clause(_row(readme, CLOCK))
    assert clause.startswith(
        "said again every 3 s while it lasts, not while a serial stream is open"
    ), clause
    assert "said once" not in clause


def test_the_text_readme_says_clock_init_failed_is_repeated_after_answers(tmp_path: Path) -> None:
    project = tmp_path / "p"
    run_generate("stm32h7", project, model_dir=FIXTURE_MODEL)
    readme = (project / "README.md").read_text(encoding="utf-8")
    clause = _clock_clause(_row(readme, CLOCK))
    assert clause.startswith("said at start-up, then again after an answer, at most every 3 s")
    assert "said once" not in clause


def test_both_stm32h7_readmes_list_the_fault_line(tmp_path: Path) -> None:
    keyword = write_kws_project(load_board("stm32h7"), tmp_path / "k", without_tflm=True)
    text = tmp_path / "t"
    run_generate("stm32h7", text, model_dir=FIXTURE_MODEL)
    for project in (keyword, text):
        row = _row((project / "README.md").read_text(encoding="utf-8"), FAULT)
        # Said once, then a reset: the board starts again, and says so at each.
        assert "said once, then the board resets and starts again" in row, row
        for reason in ("hard_fault", "mem_manage", "bus_fault", "usage_fault", "abort"):
            assert f"`{reason}`" in row, (reason, row)
