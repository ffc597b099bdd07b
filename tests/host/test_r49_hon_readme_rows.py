"""Round 49 test-honesty audit: README statements round 48 added to the generated
projects that no test read (each could go back with only the golden byte diff failing):

- both boards' text READMEs and the keyword READMEs: other C/C++ sources in ``src/`` are
  built (0c730ec, 0b872a9), and on the ESP32 only, PlatformIO configures again only when
  the project's or ``src/``'s ``CMakeLists.txt`` or an sdkconfig file changes, so a file
  added later needs one ``pio run -t clean`` (0b872a9, 0ed2bf1, 275845e);
- the text boards' rx_error row names the ``parity`` reason both firmwares print
  (b460d5e), and the STM32H7's says an rx_error right after an rx_overflow is the same
  drop, resync once (cc96b82; the firmware says such a byte after the gap's line, 993ed97);
- the ESP32 ``serial_init_failed`` row: the UART driver could not be installed or set up
  (b460d5e; uart_param_config and uart_enable_intr_mask fail into it too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_r48_hon_readme_rows import _keyword, _readme, _row, _text

RX_ERROR = '| `{"error":"rx_error","reason":"framing"}` |'
SERIAL_INIT = '| `{"error":"serial_init_failed","reason":"uart driver"}` |'
OTHER_SOURCES = (
    "every other `.c`, `.cc` or `.cpp` file you put in `src/` (or a folder in it) is built\n"
    "too, and regenerating keeps it"
)
RECONFIGURE = (
    "(PlatformIO configures the\nESP-IDF build again only when the project's or `src/`'s"
    " `CMakeLists.txt` or an sdkconfig\nfile changes: after adding a file, run"
    " `pio run -t clean` once)."
)


def _project(kind: str, board: str, tmp_path: Path) -> Path:
    return (_text if kind == "text" else _keyword)(board, tmp_path)


@pytest.mark.parametrize("kind", ["text", "keyword"])
@pytest.mark.parametrize("board", ["esp32", "stm32h7"])
def test_the_readme_says_other_sources_in_src_are_built(
    tmp_path: Path, kind: str, board: str
) -> None:
    project = _project(kind, board, tmp_path)
    readme = _readme(project)
    assert OTHER_SOURCES in readme, (kind, board)
    if board == "esp32":
        assert RECONFIGURE in readme, (kind, board)
        cmake = (project / "src" / "CMakeLists.txt").read_text(encoding="utf-8")
        assert "file(GLOB_RECURSE tinyslm_other_sources" in cmake  # what the README says
    else:
        assert "pio run -t clean" not in readme, (kind, board)


@pytest.mark.parametrize("board", ["esp32", "stm32h7"])
def test_the_text_rx_error_row_names_the_parity_reason(tmp_path: Path, board: str) -> None:
    project = _text(board, tmp_path)
    row = _row(_readme(project), RX_ERROR)
    assert (
        "`parity`: a parity error, only from a UART set to check parity, which the board's 8N1"
        " is not" in row
    ), row
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    assert 'return "parity";' in main  # the firmware can say it


def test_the_stm32h7_rx_error_row_says_the_pair_is_one_drop(tmp_path: Path) -> None:
    project = _text("stm32h7", tmp_path)
    row = _row(_readme(project), RX_ERROR)
    assert (
        "Right after an `rx_overflow`, with no line between, it is the same drop (a wrong byte"
        " that came while the board wrote the `rx_overflow`): resync once for both |"
    ) in row, row
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    assert "tinyslm_app_rx_error(&app, rx_error_reason(gap_flagged));" in main
    esp32 = _row(_readme(_text("esp32", tmp_path / "esp32")), RX_ERROR)
    assert "same drop" not in esp32, esp32  # the ESP32 says no such pair


@pytest.mark.parametrize("kind", ["text", "keyword"])
def test_the_esp32_serial_init_failed_row_says_installed_or_set_up(
    tmp_path: Path, kind: str
) -> None:
    project = _project(kind, "esp32", tmp_path)
    row = _row(_readme(project), SERIAL_INIT)
    assert "start-up: the UART driver could not be installed or set up (repeated every 3 s)" in (
        row
    ), row
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    assert "uart_param_config(kUart, &cfg)" in main  # set up: its failure is said too
