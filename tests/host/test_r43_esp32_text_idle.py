"""The ESP32 text project's main loop and ESP-IDF's task watchdog, run on the host.

ESP-IDF 5.3.1's task watchdog watches CPU0's idle task by default
(``ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0``, ``ESP_TASK_WDT_TIMEOUT_S`` 5; the generated
``sdkconfig.defaults`` changes neither): when the idle task has not run for 5 s it logs
``task_wdt: Task watchdog got triggered ...`` at error level on UART0, the port the host
parses JSON on, and again every 5 s. ``app_main`` runs on CPU0 at priority 1, above the
idle task, so the idle task runs only while the loop blocks: in ``uart_read_bytes``
(``components/esp_driver_uart/src/uart.c``: it loops ``xRingbufferReceiveUpTo`` until
it has ``length`` bytes, so it waits only when fewer are buffered) or in
``uart_write_bytes`` (no TX ring: it waits only for room in the 128-byte TX FIFO). A
host that keeps a 64-byte chunk ahead of a loop slower than the line (lines sent before
the last is answered, to a big model) blocks neither.

The ``src/main.cc`` that ``generate`` writes for the fixture model is compiled whole,
unchanged, against the stand-in headers of ``esp32_fakes.py`` and linked with the
project's C core and the harness below, on a simulated microsecond clock:

- ``uart_read_bytes``: a *flood* host always has ``length`` bytes in the ring (the read
  takes 10 us and never waits), or a *paced* host sends a line every ``period`` at 115200
  baud (86.8 us a byte) whose bytes reach the ring as the driver's RX interrupt moves
  them (at 120 bytes in the FIFO, or 10 idle byte-times after the last); a read waits
  up to ``ticks_to_wait`` for each next batch, as ``xRingbufferReceiveUpTo`` does;
- ``uart_write_bytes`` waits for room in a 128-byte TX FIFO draining at the line rate;
- ``tinyslm_tflm_infer`` takes a configurable time;
- ``vTaskDelay(n)`` blocks until the n-th next tick (100 Hz).

Whenever the loop blocks the idle task runs and feeds the watchdog; the harness counts
the watchdog's triggers (one per full 5 s without an idle run), the longest gap between
two idle runs and the calls to ``vTaskDelay`` and the time spent in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from esp32_fakes import build_generated, require_host_compilers, run_firmware
from esp32_sim import (
    CLOCK,
    CLOCK_API,
    CORE_SOURCES,
    FIXTURE_MODEL,
    HEAD,
    STUBS,
    TEXT_STUBS,
    WRITTEN,
    ClockRun,
)

pytestmark = pytest.mark.toolchain

SECONDS = 20
RX_RING = 2048  # the template's kRxRingBytes
TICK_US = 10_000  # CONFIG_FREERTOS_HZ 100
# Every phrase is at least 20 bytes with its newline, so one 64-byte read holds at most
# 4 line ends: 4 inferences in one pass of the loop.
PASS_LINES = 4

HARNESS = (
    HEAD
    + r"""
#include <string.h>

#include "freertos/queue.h"
#include "tinyslm_actions.h"

namespace {
"""
    + CLOCK
    + WRITTEN
    + r"""
constexpr int64_t kCopyUs = 10;           // a read of bytes already in the ring
constexpr size_t kFifoLen = 128;          // SOC_UART_FIFO_LEN (TX)
constexpr size_t kFullThresh = 120;       // UART_FULL_THRESH_DEFAULT
constexpr size_t kEmptyThresh = 10;       // UART_EMPTY_THRESH_DEFAULT
constexpr int64_t kToutBytes = 10;        // UART_TOUT_THRESH_DEFAULT: idle byte-times
const char *const kPhrases[] = {
    "turn on the kitchen light", "set an alarm for seven", "what is the weather like",
    "pause the music please", "lock the front door now", "add milk to the shopping list",
};

int64_t byte_us(int64_t bytes) { return bytes * 868 / 10; }  // 115200 8N1

int64_t period_us = 0;
bool flood = false;
std::string text;                  // the host's lines, one after another
std::vector<int64_t> ready;        // paced: when each byte can be read from the ring
size_t host_at = 0;
int64_t tx_level = 0, tx_at = 0;   // TX FIFO bytes as of tx_at

long answers = 0, reads = 0;
long read_blocks = 0, write_blocks = 0;
size_t max_backlog = 0;  // paced: bytes in the ring not yet read, at most

void finish(int code) {
  watch_idle_gap();
  print_written();
  printf("S time_us %lld idle_runs %ld max_gap_us %lld wdt %ld delays %ld delay_us %lld "
         "infers %ld answers %ld reads %ld read_blocks %ld write_blocks %ld max_backlog %zu "
         "code %d\n",
         static_cast<long long>(now), idle_runs, static_cast<long long>(max_gap), wdt, delays,
         static_cast<long long>(delay_us), infers, answers, reads, read_blocks, write_blocks,
         max_backlog, code);
  fflush(stdout);
  exit(code);
}

void on_block(int64_t) {}  // nothing of its own to count

// Paced: line i starts at i * period_us (back to back when the line takes longer); its
// bytes reach the ring in the RX interrupt's batches.
void paced_host() {
  int64_t start = 0, last_end = 0;
  std::vector<int64_t> arrival;
  for (size_t i = 0; start < end_us + 1000000; ++i) {
    const std::string line = std::string(kPhrases[i % 6]) + "\n";
    start = std::max<int64_t>(static_cast<int64_t>(i) * period_us, last_end);
    for (size_t k = 0; k < line.size(); ++k) arrival.push_back(start + byte_us(k + 1));
    text += line;
    last_end = start + byte_us(line.size());
  }
  ready.resize(arrival.size());
  size_t batch = 0;
  for (size_t j = 0; j < arrival.size(); ++j) {
    const bool burst_ends = j + 1 == arrival.size() || arrival[j + 1] - arrival[j] > byte_us(1) + 1;
    if (j + 1 - batch == kFullThresh || burst_ends) {
      const int64_t at = burst_ends ? arrival[j] + byte_us(kToutBytes) : arrival[j];
      for (size_t k = batch; k <= j; ++k) ready[k] = at;
      batch = j + 1;
    }
  }
}

}  // namespace
"""
    + TEXT_STUBS
    + r"""
esp_err_t uart_driver_install(uart_port_t, int, int tx_buffer_size, int,
                              QueueHandle_t *uart_queue, int) {
  if (uart_queue != nullptr) *uart_queue = reinterpret_cast<QueueHandle_t>(&queue_obj);
  return tx_buffer_size == 0 ? ESP_OK : ESP_FAIL;  // the TX model is the no-TX-ring one
}
int uart_read_bytes(uart_port_t, void *buf, uint32_t length, TickType_t ticks_to_wait) {
  ++reads;
  uint8_t *out = static_cast<uint8_t *>(buf);
  uint32_t copied = 0;
  if (!flood) {
    const size_t in_ring = static_cast<size_t>(
        std::upper_bound(ready.begin(), ready.end(), now) - ready.begin());
    max_backlog = std::max(max_backlog, in_ring - host_at);
  }
  while (copied < length) {
    if (flood) {  // always a chunk's worth in the ring
      out[copied++] = static_cast<uint8_t>(text[host_at++ % text.size()]);
      continue;
    }
    if (ready[host_at] <= now) {
      out[copied++] = static_cast<uint8_t>(text[host_at++]);
      continue;
    }
    // xRingbufferReceiveUpTo(ticks_to_wait): the task blocks for the next batch.
    ++read_blocks;
    const int64_t deadline = now + int64_t{ticks_to_wait} * kTickUs;
    block_until(std::min(deadline, ready[host_at]));
    check_end();
    if (ready[host_at] > now) break;
  }
  now += kCopyUs;
  check_end();
  return static_cast<int>(copied);
}

int uart_write_bytes(uart_port_t, const void *src, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    tx_level = std::max<int64_t>(0, tx_level - (now - tx_at) * 10 / 868);
    tx_at = now;
    if (tx_level >= static_cast<int64_t>(kFifoLen)) {  // waits for TXFIFO_EMPTY
      ++write_blocks;
      block_until(now + byte_us(tx_level - static_cast<int64_t>(kEmptyThresh)));
      tx_level = kEmptyThresh;
      tx_at = now;
    }
    ++tx_level;
  }
  written.append(static_cast<const char *>(src), size);
  check_end();
  return static_cast<int>(size);
}

esp_err_t uart_flush_input(uart_port_t) {
  finish(6);  // no byte is lost in these scenarios
  return ESP_OK;
}
esp_err_t uart_get_buffered_data_len(uart_port_t, size_t *size) {
  *size = 0;
  return ESP_OK;
}
BaseType_t xQueueReceive(QueueHandle_t, void *, TickType_t ticks) {
  if (ticks != 0) finish(7);  // the loop only polls the event queue
  return pdFALSE;               // no event: nothing overflowed
}
UBaseType_t uxQueueSpacesAvailable(QueueHandle_t) { return 1; }
UBaseType_t uxQueueMessagesWaiting(QueueHandle_t) { return 0; }

extern "C" int tinyslm_tflm_infer(const int32_t *, int8_t *scores, void *) {
  ++infers;
  now += infer_us;
  score_first_label(scores);
  check_end();
  return 0;
}

extern "C" void tinyslm_on_answer(const tinyslm_answer_t *, void *) { ++answers; }
"""
    + CLOCK_API
    + STUBS
    + r"""
int main(int argc, char **argv) {
  if (argc != 4) return 2;
  end_us = atoll(argv[1]);
  infer_us = atoll(argv[2]);
  period_us = atoll(argv[3]);  // 0: flood
  flood = period_us == 0;
  if (flood) {
    for (const char *p : kPhrases) text += std::string(p) + "\n";
  } else {
    paced_host();
  }
  app_main();
  return 1;
}
"""
)


@dataclass(frozen=True)
class Run(ClockRun):
    def figures(self) -> str:
        s = self.stats
        return (
            f"{s['infers']} inferences, {s['answers']} answers, {s['reads']} reads "
            f"({s['read_blocks']} waits), {s['write_blocks']} write waits | idle task "
            f"ran {s['idle_runs']} times, longest gap {s['max_gap_us'] / 1e6:.2f} s, "
            f"watchdog triggers {s['wdt']} | vTaskDelay {s['delays']} calls, "
            f"{100 * self.delay_share:.2f} % of the time"
        )


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("esp32_text_idle")
    # A loop paced by something else than these fails rather than passing.
    needles = ("uart_read_bytes(", "tinyslm_app_feed(")
    return build_generated(root, FIXTURE_MODEL, CORE_SOURCES, HARNESS, "text_idle", needles)


def run(firmware: Path, infer_ms: int, period_ms: int) -> Run:
    """``SECONDS`` of the loop, each inference taking ``infer_ms``; the host sends a line
    every ``period_ms`` (0: always a chunk's worth of bytes waiting)."""
    args = [str(firmware), str(SECONDS * 1_000_000), str(infer_ms * 1000), str(period_ms * 1000)]
    lines, stats = run_firmware(args)
    result = Run(stats, lines.get("W", []))
    print(f"\n{result.figures()}")
    return result


def assert_answers_only(r: Run) -> None:
    """UART0 carries the protocol only: an answer per line (the run may end between an
    inference and its answer line), nothing else."""
    s = r.stats
    assert s["infers"] - 1 <= len(r.written) <= s["infers"], r.figures()
    assert all(w.startswith('{"intent":') for w in r.written), r.written[:3]


@pytest.mark.parametrize("infer_ms", [30, 300])
def test_lines_always_waiting_still_let_the_idle_task_run(firmware: Path, infer_ms: int) -> None:
    # A host that keeps lines ahead of a model slower than the line (30 ms per line, a
    # 26-byte line taking 2.3 ms; or 300 ms): every read finds a full chunk in the ring
    # and every answer finds room in the TX FIFO, so nothing blocks.
    r = run(firmware, infer_ms, 0)
    s = r.stats
    assert s["infers"] > 0
    assert s["read_blocks"] == 0 and s["write_blocks"] == 0, r.figures()  # the case
    assert s["wdt"] == 0, r.figures()
    # A tick's sleep once a second at least: a second, plus one pass of the loop, plus
    # the tick itself, between two idle runs.
    pass_us = PASS_LINES * infer_ms * 1000
    assert s["max_gap_us"] <= 1_000_000 + pass_us + TICK_US, r.figures()
    assert s["delays"] >= int(r.seconds / ((1_000_000 + pass_us + TICK_US) / 1e6)), r.figures()
    assert r.delay_share <= 0.015, r.figures()  # one tick (<= 10 ms) a second at most
    assert_answers_only(r)


@pytest.mark.parametrize(("infer_ms", "period_ms"), [(30, 100), (5, 50), (1, 6)])
def test_a_loop_that_waits_for_lines_never_sleeps_for_the_watchdog(
    firmware: Path, infer_ms: int, period_ms: int
) -> None:
    # The host sends a line every 100 ms, 50 ms or 6 ms (about as fast as the answers,
    # longer than the lines, go out) to a model that keeps up: reads wait for the next
    # bytes.
    r = run(firmware, infer_ms, period_ms)
    s = r.stats
    assert s["infers"] > 0 and s["read_blocks"] > 0, r.figures()  # the case
    assert s["wdt"] == 0 and s["max_gap_us"] <= 100_000, r.figures()
    assert s["delays"] == 0, r.figures()  # the fix costs a loop that keeps up nothing
    assert s["max_backlog"] < RX_RING, r.figures()  # no byte would have been lost
    assert_answers_only(r)
