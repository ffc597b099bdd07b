"""Round 47: a byte the STM32H7's USART flags (framing, noise or parity error) is a lost byte.

The UART interrupt handler cleared FE, NE and PE and stored the byte in RDR as data, so
a phrase with a byte a loose wire, a baud mismatch or a host opening the port mid-byte
had corrupted was classified (and its action run). The handler now counts such a byte
into a gap, as a byte the ring had no room for: the line it was in is dropped up to the
next line end, as after ``{"error":"rx_overflow"}``, and the host is told
``{"error":"rx_error","reason":"framing"}`` (``noise``, ``parity``); it resyncs the same
way (stop, one empty line, resend). The flags are cleared before RDR is read, as
``HAL_UART_IRQHandler`` does: cleared after, they could be the next byte's too.

Run in test_stm32_rx_ring's harness (the generated main.cc's USART handler and loop
body, a fake USART whose byte can come flagged, a stand-in core with tinyslm_core.c's
drop), and the glue's drop with the real core: the broken line is not classified, one
error line is written, the next whole line is answered.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers
from test_r47_hon_stm32_repeats import _text_main
from test_stm32_rx_ring import Ring, _block, build_ring, run_ring

from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

SENT = "turn on the kitchen light"
REASONS = {"fe": "framing", "ne": "noise", "pe": "parity"}


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Ring:
    return build_ring(tmp_path_factory.mktemp("r47_ring"))


@pytest.mark.parametrize("flag", sorted(REASONS))
@pytest.mark.parametrize("at", [0, 9, len(SENT)], ids=["first", "mid", "line_end"])
def test_a_flagged_byte_drops_its_line_with_one_rx_error(ring: Ring, flag: str, at: int) -> None:
    # The line with the flagged byte reaches the core neither whole nor broken; one report
    # says why; the host's empty line and the 5 lines it resends are all answered.
    c = run_ring(ring.exe, "flagged", str(at), "empty", flag)
    assert (c.broken, c.reports, c.errors, c.reason) == (0, 1, 1, REASONS[flag])
    assert (c.whole, c.resent) == (5, 5)


def test_after_a_flagged_byte_mid_line_the_next_line_is_answered_without_the_empty_line(
    ring: Ring,
) -> None:
    # The interrupt read (and dropped) the rest of the line, its line end last: the drop
    # ends there, so even a host that skips the empty line gets its next line answered.
    c = run_ring(ring.exe, "flagged", "9")
    assert (c.broken, c.errors, c.whole, c.resent) == (0, 1, 5, 5)


def test_a_flagged_line_end_costs_the_first_resent_line_without_the_empty_line(
    ring: Ring,
) -> None:
    # A flagged byte may have been a line end: the drop runs to the next one the host
    # sends, as after an overrun (why the README asks for the empty line).
    c = run_ring(ring.exe, "flagged", str(len(SENT)))
    assert (c.broken, c.errors, c.whole, c.resent) == (0, 1, 4, 4)


def test_a_flagged_byte_in_lines_sent_back_to_back_breaks_no_other_line(ring: Ring) -> None:
    c = run_ring(ring.exe, "flagged_burst", "9")
    assert (c.broken, c.reports, c.errors, c.reason) == (0, 1, 1, "framing")
    assert c.whole >= 17  # of 20: the flagged line, and what its error line's time cost


# The glue's rx_error_reason, cut from main.cc, with the real core's tinyslm_app_rx_error.
CORE_HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyslm_core.h"
#include "tinyslm_settings.h"

constexpr uint32_t USART_ISR_PE = 1u << 0, USART_ISR_FE = 1u << 1, USART_ISR_NE = 1u << 2;

namespace {
void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  fwrite(data, 1, len, stdout);
}
int infer(const int32_t *ids, int8_t *scores, void *ctx) {
  (void)ids;
  (void)ctx;
  for (uint32_t i = 0; i < TINYSLM_NUM_LABELS; ++i) scores[i] = -128;
  scores[0] = 127;
  return 0;
}
uint8_t line_buf[TINYSLM_MAX_LINE];
int32_t ids_buf[TINYSLM_SEQ_LEN];
int8_t scores_buf[TINYSLM_NUM_LABELS];
tinyslm_app_t app;

{functions}

void feed(const char *s) {
  tinyslm_app_feed(&app, reinterpret_cast<const uint8_t *>(s), strlen(s));
}
}  // namespace

// The loop body's call for a gap with flagged bytes (argv[1]: the ISR flags, decimal)
// cut into the host's line "turn on the ki|tchen light", then a whole line.
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  if (tinyslm_app_setup(&app, &tinyslm_model_info, infer, serial_write, nullptr, line_buf,
                        sizeof(line_buf), ids_buf, scores_buf) != 0) {
    return 3;
  }
  feed("turn on the ki");
  const uint32_t flagged = static_cast<uint32_t>(strtoul(argv[1], nullptr, 10));
  tinyslm_app_rx_error(&app, rx_error_reason(flagged));
  feed("tchen light\nturn on the kitchen light\n");
  return 0;
}
"""


@pytest.fixture(scope="module")
def glue_drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The harness built with the generated stm32h7 project's core and glue functions."""
    require_host_compilers()
    root = tmp_path_factory.mktemp("r47_drop")
    src, main = _text_main(root)
    heads = ("const char *rx_error_reason(uint32_t flagged) {",)
    for head in heads:
        assert head in main, f"the stm32h7 text glue has no {head}"
    functions = "\n".join(head + _block(main, head) + "}" for head in heads)
    harness = root / "harness.cc"
    harness.write_text(CORE_HARNESS.replace("{functions}", functions), encoding="utf-8")
    sources = ["tinyslm_core.c", "tinyslm_tokenizer.c", "tinyslm_gate.c", "tinyslm_json.c",
               "tinyslm_settings.c"]  # fmt: skip
    return ccompile.compile_executable(
        [*(src / s for s in sources), harness],
        root / "drop",
        include_dirs=[src],
        cflags=["-std=c99", "-O1"],
        cxxflags=["-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror"],
    )


@pytest.mark.parametrize(
    ("flags", "reason"),
    [(2, "framing"), (4, "noise"), (1, "parity"), (6, "framing"), (5, "parity")],
)
def test_the_glue_drop_with_the_real_core_answers_only_the_whole_line(
    glue_drop: Path, flags: int, reason: str
) -> None:
    out = subprocess.run(
        [str(glue_drop), str(flags)], check=True, capture_output=True, text=True, timeout=60
    ).stdout.splitlines()
    assert out[0] == f'{{"error":"rx_error","reason":"{reason}"}}'
    assert len(out) == 2, out  # the fragment "tchen light" is not classified
    assert '"intent"' in out[1] and '"text":"tchen light"' not in out[1]


def test_a_flag_that_lands_while_the_handler_runs_is_not_cleared_with_the_last(
    ring: Ring,
) -> None:
    # The handler cleared the flags it saw after reading RDR: a wrong byte landing in
    # RDR between the two lost its framing error with the byte before's, was taken for
    # the line end it read as, and ended the drop mid-line: the rest of the line, after
    # the host's pause, was classified.
    c = run_ring(ring.exe, "flag_race")
    assert (c.broken, c.reports, c.errors, c.whole) == (0, 1, 1, 2)
