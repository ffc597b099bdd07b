"""The STM32H7 text project's serial receive path, run on the host.

No emulator here models the STM32 USART, so the UART interrupt handler and the main
loop's body are cut out of the ``src/main.cc`` that ``generate`` writes (the bytes a
user flashes) and compiled against a fake USART whose ``RDR`` read clears ``RXNE``, as
the hardware's does, and a stand-in core that discards up to the next line end after
``tinyslm_app_rx_overflow``, as ``tinyslm_core.c`` does. A host sends lines back to
back while every answer takes longer to go out than a phrase takes to come in, so the
1 KB ring overflows again and again. Every line the core is given whole must be a line
the host sent (the gap is where the loss was), and after each overflow the ring must
store bytes again: before round 37's review a stale loss count reported each gap over
and over, and a host that kept sending never got another byte stored.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from shared_paths import require_tool

from tinyslm.pipeline import run_generate

pytestmark = pytest.mark.toolchain

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"

HARNESS = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <string>

constexpr uint32_t USART_ISR_PE = 1u << 0, USART_ISR_FE = 1u << 1, USART_ISR_NE = 1u << 2,
                   USART_ISR_ORE = 1u << 3, USART_ISR_RXNE_RXFNE = 1u << 5;
constexpr uint32_t USART_ICR_PECF = 1u << 0, USART_ICR_FECF = 1u << 1,
                   USART_ICR_NECF = 1u << 2, USART_ICR_ORECF = 1u << 3;

static uint32_t isr_bits;
static uint8_t rdr_byte;
struct Rdr {  // reading RDR takes the byte and clears RXNE, as on the chip
  operator uint32_t() const { isr_bits &= ~USART_ISR_RXNE_RXFNE; return rdr_byte; }
};
struct Icr {  // writing ICR clears the flags it names
  Icr &operator=(uint32_t v) { isr_bits &= ~v; return *this; }
};
static std::string host;
static size_t host_at = 0;
static int late_overrun = 0;  // the next ISR read sees the flags, then a byte overruns
struct IsrReg {
  operator uint32_t() const {
    const uint32_t seen = isr_bits;
    if (late_overrun && (seen & USART_ISR_RXNE_RXFNE)) {
      late_overrun = 0;
      isr_bits |= USART_ISR_ORE;  // after the snapshot: RDR keeps its byte, this one is lost
      ++host_at;
    }
    return seen;
  }
};
struct USART_TypeDef { IsrReg ISR; Icr ICR; Rdr RDR; };
static USART_TypeDef fake_uart;
#define {uart} (&fake_uart)

struct tinyslm_app_t { int unused; };
static tinyslm_app_t app;
static void arrive(int n);  // n byte-times of the host's line

// The stand-in core: lines as the real core frames them, and its overflow rule.
static std::string line, sent_line = "turn on the kitchen light";
static int whole = 0, broken = 0, reports = 0, discarding = 0, whole_at_report = -1;
static void tinyslm_app_feed(tinyslm_app_t *, const uint8_t *d, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (d[i] == '\n') {
      if (!discarding) {
        if (line == sent_line) ++whole; else ++broken;
        arrive(80);  // the answer line goes out at the same baud rate, blocking
      }
      discarding = 0;
      line.clear();
    } else if (!discarding) {
      line += static_cast<char>(d[i]);
    }
  }
}
static void tinyslm_app_rx_overflow(tinyslm_app_t *) {
  if (reports++ == 0) whole_at_report = whole;
  discarding = 1;
  line.clear();
  arrive(24);  // {"error":"rx_overflow"}
}
static uint32_t clock_us(void *) { return 0; }

{declarations}

extern "C" {
{handler}
}

static void arrive(int n) {
  for (int k = 0; k < n && host_at < host.size(); ++k) {
    rdr_byte = static_cast<uint8_t>(host[host_at++]);
    if (isr_bits & USART_ISR_RXNE_RXFNE) isr_bits |= USART_ISR_ORE;
    isr_bits |= USART_ISR_RXNE_RXFNE;
    {uart_irq}();
  }
}

static void loop_pass() {
  uint8_t chunk[64];
  for (int once = 0; once < 1; ++once) {
    {loop_body}
  }
}

int main(int argc, char **) {
  if (argc == 2) {
    // An overrun: the interrupt is held off while the first line's '\n' waits in RDR,
    // and the next line's first 3 bytes arrive. RDR keeps the '\n' (RM0433, "Overrun
    // error"): the first line is whole, the second broken.
    for (int i = 0; i < 20; ++i) host += sent_line + "\n";
    while (host_at < sent_line.size()) {
      arrive(1);
      loop_pass();
    }
    rdr_byte = static_cast<uint8_t>(host[host_at++]);
    isr_bits |= USART_ISR_RXNE_RXFNE;
    for (int k = 0; k < 3; ++k, ++host_at) isr_bits |= USART_ISR_ORE;
    {uart_irq}();
  } else if (argc > 2) {
    // A framing error on a byte of the second line, and while the handler runs, after
    // it has read ISR, the next byte overruns: that overrun must be counted, not cleared
    // with the framing error's flag.
    for (int i = 0; i < 20; ++i) host += sent_line + "\n";
    while (host_at < sent_line.size() + 6) {
      arrive(1);
      loop_pass();
    }
    rdr_byte = static_cast<uint8_t>(host[host_at++]);
    isr_bits |= USART_ISR_RXNE_RXFNE | USART_ISR_FE;
    late_overrun = 1;
    {uart_irq}();
  } else {
    for (int i = 0; i < 2000; ++i) host += sent_line + "\n";
  }
  for (long spin = 0;
       spin < 10000000 && (host_at < host.size() || rx_head != rx_tail || rx_lost != rx_reported);
       ++spin) {
    arrive(1);  // a byte-time passes each pass of the loop
    loop_pass();
  }
  printf("whole %d broken %d reports %d first %d\n", whole, broken, reports, whole_at_report);
  return 0;
}
"""


def _block(text: str, start: str) -> str:
    """The text of the brace block that opens on the line starting with ``start``."""
    at = text.index(start)
    depth, i = 0, text.index("{", at)
    begin = i
    while True:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[begin + 1 : i]
        i += 1


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The harness built with the generated project's handler and loop body."""
    require_tool("g++")
    tmp_path = tmp_path_factory.mktemp("rx_ring")
    cxx = "g++"
    project = tmp_path / "p"
    run_generate("stm32h7", project, model_dir=FIXTURE_MODEL)
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    handler_name = re.search(r"void (\w+_IRQHandler)\(void\) \{\n  USART_TypeDef", main)
    assert handler_name is not None, "the UART interrupt handler moved"
    irq = handler_name.group(1)
    uart = re.search(r"USART_TypeDef \*const uart = (\w+);", main)
    assert uart is not None
    decl_from = main.index("constexpr uint32_t kRxRing")
    decl_to = main.index("uint8_t line_buf[")
    declarations = main[decl_from:decl_to].replace("UART_HandleTypeDef huart;", "")
    handler = f"void {irq}(void) {{{_block(main, f'void {irq}(void)')}}}"
    loop = _block(main, "  for (;;) {\n    (void)clock_us")
    source = (
        HARNESS.replace("{uart}", uart.group(1))
        .replace("{uart_irq}", irq)
        .replace("{declarations}", declarations)
        .replace("{handler}", handler)
        .replace("{loop_body}", loop)
    )
    (tmp_path / "ring.cc").write_text(source)
    exe = tmp_path / "ring"
    subprocess.run(
        [cxx, "-std=c++17", "-O1", "-Wall", "-Wno-unused-function", "-o", str(exe),
         str(tmp_path / "ring.cc")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return exe


def _counts(exe: Path, *args: str) -> tuple[int, int, int, int]:
    """Lines given whole, lines given with a gap, overflow reports, and the lines given
    whole before the first report."""
    out = subprocess.run([str(exe), *args], check=True, capture_output=True, text=True).stdout
    m = re.match(r"whole (\d+) broken (\d+) reports (\d+) first (-?\d+)", out)
    assert m is not None, out
    whole, broken, reports, first = (int(g) for g in m.groups())
    return whole, broken, reports, first


def test_the_ring_drops_only_broken_lines_and_stores_again_after_each_overflow(
    ring: Path,
) -> None:
    whole, broken, reports, _ = _counts(ring)
    print(f"\nwhole {whole} broken {broken} reports {reports}")
    assert broken == 0  # no line with a gap in it reached the core
    assert reports >= 1  # the scenario does overflow the ring
    # Storing resumes after each gap: one report per gap, many whole lines between.
    assert whole >= 5 * reports, (whole, reports)


def test_an_overrun_loses_only_the_bytes_after_the_last_one_received(ring: Path) -> None:
    # The handler counted the loss before reading RDR, so the '\n' RDR kept was dropped
    # as part of the gap and the whole line before it went with the broken one.
    whole, broken, reports, first = _counts(ring, "overrun")
    assert (first, broken, reports) == (1, 0, 1)
    assert whole > first  # and lines after the gap are stored again


def test_an_overrun_after_the_handler_read_isr_is_counted(ring: Path) -> None:
    # The handler cleared all four error flags whenever it saw one (here a framing error),
    # so an overrun that came after its ISR read was cleared uncounted: the second line
    # reached the core with a byte missing.
    whole, broken, reports, first = _counts(ring, "late", "overrun")
    assert (broken, reports) == (0, 1)
    assert whole > first >= 1
