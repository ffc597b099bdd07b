"""Round 48: the ESP32 text glue's wrong-byte events, each with its own reason, and a
start-up whose framing-error interrupt cannot be turned on.

test_r47_rxerr_esp32 delivers ``UART_FRAME_ERR`` and ``UART_BREAK``; nothing delivered a
``UART_PARITY_ERR``, so dropping it from the glue's switch (its byte then classified as
data) passed every test. Here its harness (the generated main.cc whole, the real core,
test_esp32_rx_events' model of ESP-IDF 5.3.1's driver) is given a byte that lands with
a parity error: the driver posts ``UART_PARITY_ERR`` after the break and framing checks
(``uart_rx_intr_handler_default``), its interrupt on from ``uart_driver_install``. The
firmware runs 8N1 (``UART_PARITY_DISABLE``), so the UART never checks parity on a real
board: this is the defensive branch, kept as the driver's other wrong-byte events are.

Each event's reason is what the STM32H7 boards say for the same fault: ``framing`` for
a framing error and for a break (a frame whose stop bit is low: the STM32H7 flags it
FE), ``parity`` for a parity error.

``uart_enable_intr_mask`` (the framing-error interrupt, after ``uart_driver_install``)
fails in 5.3.1 only for a port that does not exist; the glue then takes the serial port
for unusable, as when the driver does not install: it never reads or answers, and says
``{"error":"serial_init_failed","reason":"uart driver"}`` through stdout (the console
UART, the same pins) every 3 s, rather than run with wrong bytes classified unannounced.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import test_esp32_rx_events as rx
import test_r47_rxerr_esp32 as r47
from esp32_fakes import build_generated, require_host_compilers, run_firmware
from esp32_sim import CORE_SOURCES, FIXTURE_MODEL

pytestmark = pytest.mark.toolchain

FRAME, BREAK, PARITY = r47.FRAME, r47.BREAK, 2
REASONS = {FRAME: "framing", BREAK: "framing", PARITY: "parity"}
SERIAL_INIT_FAILED = '{"error":"serial_init_failed","reason":"uart driver"}'
ERROR_REPEAT_TICKS = 300  # 3 s at CONFIG_FREERTOS_HZ 100


def _harness() -> str:
    """test_r47_rxerr_esp32's harness with a third kind of flagged byte (2: a parity
    error) and an ``uart_enable_intr_mask`` that fails when asked to (argv[4])."""
    edit = r47._edit
    h = edit(
        r47._harness(),
        "bool fram_raw = false, brk_raw = false;",
        "bool par_raw = false;  // PARITY_ERR's raw status\n"
        "bool intr_mask_fails = false;  // uart_enable_intr_mask returns ESP_FAIL\n"
        "long reads = 0;  // uart_read_bytes calls\n"
        "bool fram_raw = false, brk_raw = false;",
    )
    h = edit(
        h,
        "        if (flag_kind == 1) {\n",
        "        if (flag_kind == 2) {\n"
        "          b ^= 0x01;  // one bit read wrong: the parity bit disagrees\n"
        "          par_raw = true;\n"
        "        } else if (flag_kind == 1) {\n",
    )
    # After the framing-error branch, as uart_rx_intr_handler_default checks them.
    h = edit(
        h,
        "      post(UART_FRAME_ERR, 0, false);\n    } else {\n",
        "      post(UART_FRAME_ERR, 0, false);\n"
        "    } else if (par_raw) {  // PARITY_ERR: on from uart_driver_install\n"
        "      par_raw = false;\n"
        "      post(UART_PARITY_ERR, 0, false);\n"
        "    } else {\n",
    )
    h = edit(
        h,
        '  printf("E frame_err %ld break %ld\\n", posted[UART_FRAME_ERR], posted[UART_BREAK]);\n',
        '  printf("E frame_err %ld break %ld parity_err %ld\\n", posted[UART_FRAME_ERR],\n'
        "         posted[UART_BREAK], posted[UART_PARITY_ERR]);\n",
    )
    # A failed uart_enable_intr_mask: app_main's printf loop ends the run after three
    # repeats, each of its waits said ("D ticks"), and what the loop never did is counted.
    h = edit(
        h,
        "esp_err_t uart_enable_intr_mask(uart_port_t, uint32_t enable_mask) {\n",
        "esp_err_t uart_enable_intr_mask(uart_port_t, uint32_t enable_mask) {\n"
        "  if (intr_mask_fails) return ESP_FAIL;\n",
    )
    h = edit(
        h,
        "  if (++delays > 100) finish(4);",
        "  if (intr_mask_fails) {\n"
        '    printf("D %lu\\n", static_cast<unsigned long>(ticks));\n'
        "    if (++delays == 3) finish(0);\n"
        "    return;\n"
        "  }\n"
        "  if (++delays > 100) finish(4);",
    )
    read = (
        "int uart_read_bytes(uart_port_t, void *buf, uint32_t length, TickType_t ticks_to_wait) {\n"
    )
    h = edit(h, read, read + "  ++reads;\n")
    h = edit(
        h,
        '  printf("E frame_err',
        '  printf("R reads %ld infers %ld\\n", reads, infers);\n  printf("E frame_err',
    )
    return edit(
        h,
        "  if (argc != 2 && argc != 4) return 2;\n",
        "  if (argc != 2 && argc != 4 && argc != 5) return 2;\n"
        "  intr_mask_fails = argc == 5 && atoi(argv[4]) == 1;\n",
    )


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("r48_esp32_rx")
    needles = ("uart_enable_intr_mask(", "UART_PARITY_ERR", "xQueueReceive(uart_events")
    return build_generated(root, FIXTURE_MODEL, CORE_SOURCES, _harness(), "rx_r48", needles)


def _script_with_resync() -> rx.Script:
    """Lines at a pace the board keeps up with; the host stops at the error, sends one
    empty line (line 4) and resends (README)."""
    script = rx.Script()
    script.send(4, gap=150)
    script.pause(5000)
    script.empty_line(gap=150)
    script.send(5, gap=150)
    return script


@pytest.mark.parametrize(
    "kind", [FRAME, BREAK, PARITY], ids=["framing_error", "break", "parity_error"]
)
def test_each_wrong_byte_says_its_own_reason_and_drops_its_line(
    firmware: Path, tmp_path: Path, kind: int
) -> None:
    script = _script_with_resync()
    r, events = r47._run(firmware, script, tmp_path, r47._first_byte(script, 3) + 6, kind)
    posted = {FRAME: "frame_err 1 break 0 parity_err 0", BREAK: "frame_err 0 break 1 parity_err 0"}
    assert events == posted.get(kind, "frame_err 0 break 0 parity_err 1")  # the case
    assert r.broken == [], f"a phrase with a wrong byte was classified: {r.broken}"
    errors = [w for w in r.written if w.startswith('{"error"')]
    assert errors == [f'{{"error":"rx_error","reason":"{REASONS[kind]}"}}']
    assert 3 not in r.answered() and r.answered()[:2] == [0, 1]
    assert r.answered()[-5:] == [5, 6, 7, 8, 9]  # every line after the empty one


def test_a_parity_error_in_lines_sent_back_to_back_breaks_no_line(
    firmware: Path, tmp_path: Path
) -> None:
    script = rx.Script()
    script.send(30, gap=0)
    script.pause(5000)
    script.empty_line(gap=150)
    script.send(3, gap=150)
    r, events = r47._run(firmware, script, tmp_path, r47._first_byte(script, 10) + 4, PARITY)
    assert events == "frame_err 0 break 0 parity_err 1"
    assert r.broken == []
    assert r.written.count('{"error":"rx_error","reason":"parity"}') == 1
    assert 10 not in r.answered()
    assert r.answered()[-3:] == [31, 32, 33]  # line 30 is the empty one


def test_no_wrong_byte_no_error(firmware: Path, tmp_path: Path) -> None:
    """The harness's fourth argument alone changes nothing: the same lines all answered."""
    script = _script_with_resync()
    path = tmp_path / "script.txt"
    path.write_text(script.render(), encoding="utf-8")
    lines, _ = run_firmware([str(firmware), str(path), "-1", "0", "0"])
    assert not [w for w in lines.get("W", []) if w.startswith('{"error"')]
    assert len(lines.get("A", [])) == 9  # the empty line gets no answer


def test_a_framing_interrupt_that_cannot_be_enabled_is_said_every_3_s(
    firmware: Path, tmp_path: Path
) -> None:
    script = _script_with_resync()
    path = tmp_path / "script.txt"
    path.write_text(script.render(), encoding="utf-8")
    proc = subprocess.run(
        [str(firmware), str(path), "-1", "0", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    out = proc.stdout.splitlines()
    # Said, then 3 s, three times over: never silent, and repeated for a late host.
    said = [ln for ln in out if ln.startswith("{") or ln.startswith("D ")]
    assert said == [SERIAL_INIT_FAILED, f"D {ERROR_REPEAT_TICKS}"] * 3
    # The port is never used: no read, no phrase classified, nothing written to it.
    assert "R reads 0 infers 0" in out
    assert not [ln for ln in out if ln.startswith(("A ", "W "))]
