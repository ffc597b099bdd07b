"""Round 46: a fault or TFLM's abort on the STM32H7 says so and resets the board.

Before, the startup file's weak ``HardFault_Handler`` (its ``Default_Handler``: a branch
to itself) and the glue's ``abort`` (interrupts off, a loop) left the board silent and
dark until someone pressed reset: a bug in the project's own ``tinyslm_on_answer``, a
bad pointer or a TFLM internal error all ended there. Both boards' ``main.cc`` now define
the four fault handlers and ``abort`` to write one fixed JSON line with polled UART
register writes (no HAL call, no interrupt; every wait bounded), then call
``NVIC_SystemReset``.

The handlers and the writer are cut from the generated ``main.cc`` of both STM32
projects (text and keyword) and compiled with a stand-in USART whose registers record
what the handler does; ``test_stm32_image.py`` and ``test_kws_glue_stm32.py`` link them
against the real CMSIS headers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers
from kws_glue_fixture import write_kws_project
from test_stm32_rx_ring import FIXTURE_MODEL, _block

from tinyslm.boards import load_board
from tinyslm.pipeline import run_generate
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

HARNESS = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

const char *scenario = "";
static bool is(const char *name) { return strcmp(scenario, name) == 0; }
bool irq_off = false, written_with_irq_on = false;
uint32_t polls = 0;
std::string sent;

// USART registers: ISR reads count the polls and say the transmitter is empty (or, in
// "stuck", never); TDR writes record the byte.
constexpr uint32_t USART_ISR_TXE_TXFNF = 1u << 7, USART_ISR_TC = 1u << 6;
constexpr uint32_t USART_CR1_UE = 1u << 0, USART_CR1_TE = 1u << 3;
struct IsrReg {
  operator uint32_t() const {
    ++polls;
    return is("stuck") ? 0u : USART_ISR_TXE_TXFNF | USART_ISR_TC;
  }
};
struct TdrReg {
  TdrReg &operator=(uint32_t byte) {
    if (!irq_off) written_with_irq_on = true;
    sent += static_cast<char>(byte);
    return *this;
  }
};
struct USART_TypeDef {
  uint32_t CR1;
  IsrReg ISR;
  TdrReg TDR;
};
USART_TypeDef usart3;
#define {uart} (&usart3)
enum { HAL_UART_STATE_READY = 0x20, HAL_UART_STATE_BUSY_TX = 0x21 };
struct UART_HandleTypeDef { uint32_t gState; };

void __disable_irq(void) { irq_off = true; }
[[noreturn]] void NVIC_SystemReset(void) {
  std::string shown;
  for (char c : sent) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
  printf("SENT %s\nS polls %u irq_on %d\n", shown.c_str(), polls, written_with_irq_on ? 1 : 0);
  fflush(stdout);
  exit(0);
}

namespace {
UART_HandleTypeDef huart;

{writer}
}  // namespace

extern "C" {
{handlers}
}

// fault HANDLER SCENARIO: the UART as serial_init leaves it ("on"), mid-line ("busy"),
// never set up ("off") or never empty ("stuck"); then the handler.
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  scenario = argv[2];
  usart3.CR1 = is("off") ? 0u : USART_CR1_UE | USART_CR1_TE;
  huart.gState = is("busy") ? HAL_UART_STATE_BUSY_TX : HAL_UART_STATE_READY;
  const char *handler = argv[1];
  if (strcmp(handler, "abort") == 0) glue_abort();
  if (strcmp(handler, "hard_fault") == 0) HardFault_Handler();
  if (strcmp(handler, "mem_manage") == 0) MemManage_Handler();
  if (strcmp(handler, "bus_fault") == 0) BusFault_Handler();
  if (strcmp(handler, "usage_fault") == 0) UsageFault_Handler();
  puts("S returned");  // a handler that came back: the fault was not handled
  return 0;
}
"""

HANDLERS = {
    "abort": "[[noreturn]] void abort(void)",
    "hard_fault": "void HardFault_Handler(void)",
    "mem_manage": "void MemManage_Handler(void)",
    "bus_fault": "void BusFault_Handler(void)",
    "usage_fault": "void UsageFault_Handler(void)",
}


def _harness(main: str, uart: str) -> str:
    """The harness around ``main.cc``'s fault writer and its handlers."""
    writer_from = main.index("constexpr uint32_t kFaultPolls")
    writer_to = main.index("}  // namespace", writer_from)
    handlers = [head + " {" + _block(main, head) + "}" for head in HANDLERS.values()]
    text = "\n\n".join(handlers).replace("void abort(void)", "void glue_abort(void)")
    return (
        HARNESS.replace("{uart}", uart)
        .replace("{writer}", main[writer_from:writer_to])
        .replace("{handlers}", text)
    )


@pytest.fixture(scope="module", params=["text", "keywords"])
def fault(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp(f"stm32_fault_{request.param}")
    project = root / "p"
    board = load_board("stm32h7")
    if request.param == "text":
        run_generate("stm32h7", project, model_dir=FIXTURE_MODEL)
    else:
        write_kws_project(board, project, without_tflm=True)
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    (root / "harness.cc").write_text(_harness(main, board.serial.uart), encoding="utf-8")
    return ccompile.compile_executable(
        [root / "harness.cc"], root / "fault",
        cxxflags=["-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function"],
    )  # fmt: skip


def _run(exe: Path, handler: str, scenario: str) -> tuple[str | None, dict[str, int]]:
    """What the handler sent (None: it returned, no reset) and the run's counts."""
    proc = subprocess.run(
        [str(exe), handler, scenario], capture_output=True, text=True, timeout=20, check=True
    )
    lines = proc.stdout.splitlines()
    if lines[-1] == "S returned":
        return None, {}
    sent = next(ln[len("SENT ") :] for ln in lines if ln.startswith("SENT "))
    last = lines[-1].split()
    return sent, {k: int(v) for k, v in zip(last[1::2], last[2::2], strict=True)}


@pytest.mark.parametrize("handler", list(HANDLERS))
def test_a_fault_is_said_in_one_line_then_the_board_resets(fault: Path, handler: str) -> None:
    sent, counts = _run(fault, handler, "on")
    # One fixed JSON line, whole, written with the interrupts off; then NVIC_SystemReset.
    assert sent == f'{{"error":"fault","reason":"{handler}"}}\\n'
    assert counts["irq_on"] == 0


def test_a_line_cut_off_by_the_fault_is_ended_first(fault: Path) -> None:
    sent, _ = _run(fault, "hard_fault", "busy")
    assert sent == '\\n{"error":"fault","reason":"hard_fault"}\\n'


def test_a_uart_never_set_up_is_not_written_and_the_board_still_resets(fault: Path) -> None:
    sent, counts = _run(fault, "hard_fault", "off")
    assert sent == "" and counts["polls"] == 0


def test_a_uart_that_never_empties_cannot_hold_off_the_reset(fault: Path) -> None:
    sent, counts = _run(fault, "abort", "stuck")
    # One bounded wait for the first byte, then one for the end: no byte, and a reset.
    assert sent == "" and 0 < counts["polls"] <= 2_000_000
