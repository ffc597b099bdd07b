"""The STM32H7 text project's serial receive path, run on the host.

No emulator here models the STM32 USART, so the UART interrupt handler and the main
loop's body are cut out of the ``src/main.cc`` that ``generate`` writes (the bytes a
user flashes) and compiled against a fake USART whose ``RDR`` read clears ``RXNE``, as
the hardware's does, and a stand-in core that discards up to the next line end after
``tinyslm_app_rx_overflow``, as ``tinyslm_core.c`` does (and after
``tinyslm_app_rx_error``, for a gap with a byte the USART flagged: round 47's
test_r47_rxerr_stm32 has the host's bytes land flagged). A host sends lines back to
back while every answer takes longer to go out than a phrase takes to come in, so the
1 KB ring overflows again and again. Every line the core is given whole must be a line
the host sent (the gap is where the loss was), and after each overflow the ring must
store bytes again: before round 37's review a stale loss count reported each gap over
and over, and a host that kept sending never got another byte stored.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
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
#include <stdlib.h>
#include <string.h>
#include <string>

constexpr uint32_t USART_ISR_PE = 1u << 0, USART_ISR_FE = 1u << 1, USART_ISR_NE = 1u << 2,
                   USART_ISR_ORE = 1u << 3, USART_ISR_RXNE_RXFNE = 1u << 5;
constexpr uint32_t USART_ICR_PECF = 1u << 0, USART_ICR_FECF = 1u << 1,
                   USART_ICR_NECF = 1u << 2, USART_ICR_ORECF = 1u << 3;

static uint32_t isr_bits;
static uint8_t rdr_byte;
static std::string host;
static size_t host_at = 0;
// Right after RDR gives the host's byte at this index, the next one lands in RDR with a
// framing error, reading as a '\n' (between the handler's RDR read and what follows).
static long land_after = -1;
struct Rdr {  // reading RDR takes the byte and clears RXNE, as on the chip
  operator uint32_t() const {
    isr_bits &= ~USART_ISR_RXNE_RXFNE;
    const uint8_t got = rdr_byte;
    if (land_after >= 0 && static_cast<long>(host_at) == land_after + 1) {
      land_after = -1;
      rdr_byte = '\n';
      isr_bits |= USART_ISR_RXNE_RXFNE | USART_ISR_FE;
      ++host_at;
    }
    return got;
  }
};
struct Icr {  // writing ICR clears the flags it names
  Icr &operator=(uint32_t v) { isr_bits &= ~v; return *this; }
};
// The HAL tick, from a clock that a byte-time (86.8 us at 115200 8N1) moves at a time.
static uint64_t now_ns = 0;
constexpr uint64_t kByteNs = 86806;
static uint32_t HAL_GetTick() { return static_cast<uint32_t>(now_ns / 1000000u); }
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
      if (!discarding && !line.empty()) {  // an empty line gets no answer (is_blank)
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
// The glue's drop for a gap with a byte the UART flagged (FE/NE/PE): a report too, with
// the reason it names, and the same drop.
static int errors = 0;
static std::string reason = "-";
static void tinyslm_app_rx_error(tinyslm_app_t *, const char *why) {
  if (reports++ == 0) whole_at_report = whole;
  ++errors;
  reason = why;
  discarding = 1;
  line.clear();
  arrive(41);  // {"error":"rx_error","reason":"framing"}
}
// The host's byte at this index arrives with these ISR flags (and a wrong value).
static long flag_at = -1;
static uint32_t flag_bits = 0;
static uint32_t clock_us(void *) { return 0; }

{declarations}

extern "C" {
{handler}
}

// PRIMASK: an interrupt raised while the loop holds interrupts off runs when it lets
// them on again, as the core's pending interrupt does.
static int irq_masked = 0, irq_pending = 0;
static void __disable_irq() { irq_masked = 1; }
static void __enable_irq() {
  irq_masked = 0;
  if (irq_pending) {
    irq_pending = 0;
    {uart_irq}();
  }
}

static void arrive(int n) {
  for (int k = 0; k < n; ++k) {
    now_ns += kByteNs;  // the time passes whether the host sends or not
    if (host_at == host.size()) continue;
    rdr_byte = static_cast<uint8_t>(host[host_at++]);
    if (isr_bits & USART_ISR_RXNE_RXFNE) {
      isr_bits |= USART_ISR_ORE;
    } else if (static_cast<long>(host_at) - 1 == flag_at) {
      isr_bits |= flag_bits;
      rdr_byte = static_cast<uint8_t>(rdr_byte ^ 0x20u);  // a bit read wrong
    }
    isr_bits |= USART_ISR_RXNE_RXFNE;
    if (irq_masked) irq_pending = 1; else {uart_irq}();
  }
}

static void loop_pass() {
  uint8_t chunk[64];
  for (int once = 0; once < 1; ++once) {
    {loop_body}
  }
}

// Byte-time by byte-time, a pass of the loop each, until the host has sent everything
// and the loop has fed or reported all of it.
static void run() {
  for (long spin = 0;
       spin < 10000000 && (host_at < host.size() || rx_head != rx_tail || rx_lost != rx_reported);
       ++spin) {
    arrive(1);
    loop_pass();
  }
}

// The host sends nothing for ms milliseconds; the loop keeps running.
static void pause_ms(int ms) {
  const uint64_t until = now_ns + static_cast<uint64_t>(ms) * 1000000u;
  while (now_ns < until) {
    arrive(1);
    loop_pass();
  }
}

// The interrupt is held off (a user's action with interrupts off, say): the next byte
// waits in RDR and the `lost` bytes after it overrun; then the handler runs.
static void hold_off(size_t lost) {
  rdr_byte = static_cast<uint8_t>(host[host_at++]);
  isr_bits |= USART_ISR_RXNE_RXFNE;
  for (size_t k = 0; k < lost && host_at < host.size(); ++k, ++host_at) {
    isr_bits |= USART_ISR_ORE;
    now_ns += kByteNs;
  }
  now_ns += kByteNs;
  {uart_irq}();
}

// The host, after a pause, sends 5 whole lines, each once the one before is answered:
// how many the core got whole. With `empty_first` it first sends one empty line, as the
// README tells a host to after {"error":"rx_overflow"}: its line end ends any drop.
static int resend_five(bool empty_first) {
  const int before = whole;
  if (empty_first) {
    host += "\n";
    run();
  }
  for (int i = 0; i < 5; ++i) {
    host += sent_line + "\n";
    run();
  }
  return whole - before;
}

// Up to the first `bytes` bytes of host, then the loop runs them (no line end among
// them: its answer would take the host's next bytes in while it goes out).
static void send_up_to(size_t bytes) {
  while (host_at < bytes) {
    arrive(1);
    loop_pass();
  }
}

int main(int argc, char **argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const int count = argc > 2 ? atoi(argv[2]) : 0;
  const bool empty_first = argc > 3 && std::string(argv[3]) == "empty";
  int resent = -1;
  const size_t len = sent_line.size() + 1;  // a line and its '\n'
  if (mode == "overrun") {
    // An overrun: the interrupt is held off while the first line's '\n' waits in RDR,
    // and the next line's first 3 bytes arrive. RDR keeps the '\n' (RM0433, "Overrun
    // error"): the first line is whole, the second broken.
    for (int i = 0; i < 20; ++i) host += sent_line + "\n";
    send_up_to(sent_line.size());
    hold_off(3);
  } else if (mode == "late") {
    // A framing error on a byte of the second line, and while the handler runs, after
    // it has read ISR, the next byte overruns: that overrun must be counted, not cleared
    // with the framing error's flag.
    for (int i = 0; i < 20; ++i) host += sent_line + "\n";
    send_up_to(sent_line.size() + 6);
    rdr_byte = static_cast<uint8_t>(host[host_at++]);
    isr_bits |= USART_ISR_RXNE_RXFNE | USART_ISR_FE;
    late_overrun = 1;
    {uart_irq}();
  } else if (mode == "flagged") {
    // One line whose byte `count` comes flagged (argv[4]: fe, ne or pe); the host
    // stops for 250 ms and resends (after one empty line, when asked: README).
    host = sent_line + "\n";
    flag_at = count;
    const std::string kind = argc > 4 ? argv[4] : "fe";
    flag_bits = kind == "ne" ? USART_ISR_NE : kind == "pe" ? USART_ISR_PE : USART_ISR_FE;
    run();
    pause_ms(250);
    resent = resend_five(empty_first);
  } else if (mode == "flag_race") {
    // The host pauses in its first line after byte 10 (as in "midline"). Byte 9 lands
    // with a framing error, and byte 10, also wrong and reading as a '\n', lands right
    // after the handler read byte 9: its flag must not be cleared with byte 9's, or it
    // is taken for the line end that ended the gap, and the rest of the line, after the
    // pause, for a line of its own.
    const std::string all = sent_line + "\n" + sent_line + "\n" + sent_line + "\n";
    host = all.substr(0, 11);
    flag_at = 9;
    flag_bits = USART_ISR_FE;
    land_after = 9;
    run();
    pause_ms(100);
    host += all.substr(11);
  } else if (mode == "flagged_burst") {
    // 20 lines back to back, byte `count` of the first one flagged (a framing error).
    for (int i = 0; i < 20; ++i) host += sent_line + "\n";
    flag_at = count;
    flag_bits = USART_ISR_FE;
  } else if (mode == "burst") {
    // count lines back to back, more than the ring holds while the answers go out; the
    // host stops for 250 ms and resends (after one empty line, when asked: README).
    for (int i = 0; i < count; ++i) host += sent_line + "\n";
    run();
    pause_ms(250);
    resent = resend_five(empty_first);
  } else if (mode == "tail") {
    // An overrun takes the last count bytes of the host's line, its '\n' included (RDR
    // keeps the byte before them); the host stops for 250 ms and resends (after one
    // empty line, when asked: README).
    host = sent_line + "\n";
    send_up_to(len - count - 1);
    hold_off(static_cast<size_t>(count));
    run();
    pause_ms(250);
    resent = resend_five(empty_first);
  } else if (mode == "midline") {
    // An overrun takes 3 bytes in the middle of the first line, the last the host sent
    // before it paused count ms in that line (a person typing, a bridge sending a line
    // in packets): the rest of the line, when it comes, is still dropped, however long
    // the pause, and the next lines answered.
    const std::string all = sent_line + "\n" + sent_line + "\n" + sent_line + "\n";
    const size_t paused_at = 9;
    host = all.substr(0, paused_at);
    send_up_to(paused_at - 4);
    hold_off(3);
    run();
    pause_ms(count);
    host += all.substr(paused_at);
  } else {
    for (int i = 0; i < 2000; ++i) host += sent_line + "\n";
  }
  run();
  printf("whole %d broken %d reports %d first %d resent %d errors %d reason %s\n", whole,
         broken, reports, whole_at_report, resent, errors, reason.c_str());
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


@dataclass(frozen=True)
class Ring:
    """The harness built, and the generated main.cc it was cut from."""

    exe: Path
    main: str


@dataclass(frozen=True)
class Counts:
    """What a run of the harness printed: lines given whole, lines given with a gap,
    reports (rx_overflow or rx_error), the lines given whole before the first report, of
    the 5 lines a host resent after a pause, how many were given whole (-1 where the
    scenario has none), the rx_error reports and the reason the last one gave ("-": none)."""

    whole: int
    broken: int
    reports: int
    first: int
    resent: int
    errors: int
    reason: str


def build_ring(tmp_path: Path, interrupt_after: str | None = None) -> Ring:
    """The harness built in ``tmp_path`` with the handler and the loop body of a freshly
    generated stm32h7 project; ``interrupt_after``: a statement of the loop body after
    which one byte of the host's arrives (its interrupt raised there), once."""
    require_tool("g++")
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
    reason_fn = "const char *rx_error_reason(uint32_t flagged)"
    if reason_fn in main:  # the glue's own, where it has one (the harness has no stand-in)
        declarations += f"static {reason_fn} {{{_block(main, reason_fn)}}}\n"
    loop = _block(main, "  for (;;) {\n    (void)clock_us")
    if interrupt_after is not None:
        assert interrupt_after in loop, f"the loop no longer has {interrupt_after!r}"
        raise_once = (
            " if (interrupt_once && host_at < host.size()) { interrupt_once = 0; arrive(1); }"
        )
        loop = loop.replace(interrupt_after, interrupt_after + raise_once)
        declarations = "static int interrupt_once = 1;\n" + declarations
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
    return Ring(exe, main)


def run_ring(exe: Path, *args: str) -> Counts:
    """Runs the harness's scenario ``args`` (none: 2000 lines back to back)."""
    out = subprocess.run([str(exe), *args], check=True, capture_output=True, text=True).stdout
    m = re.match(
        r"whole (\d+) broken (\d+) reports (\d+) first (-?\d+) resent (-?\d+) "
        r"errors (\d+) reason (\S+)",
        out,
    )
    assert m is not None, out
    *counts, reason = m.groups()
    return Counts(*(int(g) for g in counts), reason)


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The harness built with the generated project's handler and loop body."""
    return build_ring(tmp_path_factory.mktemp("rx_ring")).exe


def test_the_ring_drops_only_broken_lines_and_stores_again_after_each_overflow(
    ring: Path,
) -> None:
    c = run_ring(ring)
    print(f"\nwhole {c.whole} broken {c.broken} reports {c.reports}")
    assert c.broken == 0  # no line with a gap in it reached the core
    assert c.reports >= 1  # the scenario does overflow the ring
    # Storing resumes after each gap: one report per gap, many whole lines between.
    assert c.whole >= 5 * c.reports, (c.whole, c.reports)


def test_an_overrun_loses_only_the_bytes_after_the_last_one_received(ring: Path) -> None:
    # The handler counted the loss before reading RDR, so the '\n' RDR kept was dropped
    # as part of the gap and the whole line before it went with the broken one.
    c = run_ring(ring, "overrun")
    assert (c.first, c.broken, c.reports) == (1, 0, 1)
    assert c.whole > c.first  # and lines after the gap are stored again


def test_an_overrun_after_the_handler_read_isr_is_counted(ring: Path) -> None:
    # The handler cleared all four error flags whenever it saw one (here a framing error),
    # so an overrun that came after its ISR read was cleared uncounted: the second line
    # reached the core with a byte missing.
    c = run_ring(ring, "late")
    assert (c.broken, c.reports) == (0, 1)
    assert c.whole > c.first >= 1
