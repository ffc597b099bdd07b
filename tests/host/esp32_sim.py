"""The simulation pieces the host harnesses of the generated ESP32 ``src/main.cc`` share.

``test_r43_esp32_text_idle.py`` (the text project's loop) and ``test_esp32_kws_loop.py``
(the keyword project's loop) run the firmware on a simulated microsecond clock with
ESP-IDF 5.3.1's task watchdog watching CPU0's idle task; ``test_esp32_rx_events.py`` runs
the text project's receive path one byte-time at a time. Each harness is C++ that its
module puts together from the pieces here and its own (the drivers it models), compiled
against ``esp32_fakes.py``'s stand-in headers:

- ``HEAD`` first, then the module's own includes;
- inside one ``namespace {``: ``CLOCK`` (the microsecond clock, the idle task and the
  watchdog; the module defines ``finish`` and ``on_block``) where the module runs on that
  clock, ``WRITTEN`` (what the firmware wrote to UART0), then the module's state and
  functions;
- at global scope: ``TEXT_STUBS`` in a text project's harness, the module's ESP-IDF
  functions, ``CLOCK_API`` with ``CLOCK``, ``STUBS`` and the module's ``main``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The committed text fixture model and the C core a text project is generated with;
# tinyslm_actions.c is the user's file (TEXT_STUBS and the harness stand in for it), the TFLM
# adapter is replaced by the harness's fake.
FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
CORE_SOURCES = (
    "tinyslm_core.c",
    "tinyslm_tokenizer.c",
    "tinyslm_gate.c",
    "tinyslm_json.c",
    "tinyslm_settings.c",
)

HEAD = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <string>
#include <vector>

#include "driver/uart.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

extern "C" void app_main(void);
// The UART interrupts the firmware turned on beyond the driver's own (STUBS).
extern uint32_t uart_intr_enabled;
"""

# Inside the harness's namespace: the simulated clock (us), the idle task and the task
# watchdog. The module defines finish() (its figures, then exit) and on_block() (its own
# counts of a block, taken before the clock moves on).
CLOCK = r"""
constexpr int64_t kTickUs = 1000000 / configTICK_RATE_HZ;
constexpr int64_t kWatchdogUs = 5000000;  // ESP_TASK_WDT_TIMEOUT_S 5

int64_t now = 0, end_us = 0, infer_us = 0;
// The idle task: when it last ran, and what the watchdog saw; vTaskDelay's calls and time.
int64_t idle_last = 0, max_gap = 0, delay_us = 0;
long idle_runs = 0, wdt = 0, delays = 0, infers = 0;

void finish(int code);
void on_block(int64_t until);

void check_end() {
  if (now >= end_us) finish(0);
}

// The watchdog fires every 5 s the idle task does not run; finish() calls this too, as
// the watchdog runs on to the end.
void watch_idle_gap() {
  const int64_t gap = now - idle_last;
  max_gap = std::max(max_gap, gap);
  wdt += gap / kWatchdogUs;
}

// The loop blocks until `until`: the idle task runs (feeding the watchdog) meanwhile.
void block_until(int64_t until) {
  if (until <= now) return;
  watch_idle_gap();
  ++idle_runs;
  on_block(until);
  now = until;
  idle_last = now;
}
"""

# At global scope, with CLOCK: FreeRTOS's delay and the ESP-IDF timer on that clock.
CLOCK_API = r"""
void vTaskDelay(TickType_t ticks) {
  ++delays;
  if (ticks == 0) return;  // a yield: the idle task (priority 0) does not run
  const int64_t wake = (now / kTickUs + ticks) * kTickUs;  // the ticks-th next tick
  delay_us += wake - now;
  block_until(wake);
  check_end();
}

int64_t esp_timer_get_time(void) { return now; }
"""

# Inside the harness's namespace: the bytes the firmware wrote to UART0 and their lines,
# printed "W <line>" each (finish() calls print_written).
WRITTEN = r"""
std::string written;

void print_written() {
  size_t from = 0;
  for (size_t nl; (nl = written.find('\n', from)) != std::string::npos; from = nl + 1) {
    printf("W %s\n", written.substr(from, nl - from).c_str());
  }
}
"""

# At global scope, before a text project's ESP-IDF functions: the event queue's handle,
# the fake inference's scores (the first label, surely) and the user's actions (none).
TEXT_STUBS = r"""
namespace {

struct FakeQueueObj { int unused; } queue_obj;

void score_first_label(int8_t *scores) {
  for (int i = 0; i < TINYSLM_NUM_LABELS; ++i) scores[i] = -128;
  scores[0] = 127;
}

}  // namespace

extern "C" void tinyslm_actions_init(void) {}
"""

# At global scope: what every harness stubs the same way.
STUBS = r"""
esp_err_t uart_param_config(uart_port_t, const uart_config_t *) { return ESP_OK; }
uint32_t uart_intr_enabled = 0;
esp_err_t uart_enable_intr_mask(uart_port_t, uint32_t enable_mask) {
  uart_intr_enabled |= enable_mask;
  return ESP_OK;
}

extern "C" int tinyslm_tflm_init(void) { return 0; }
extern "C" const char *tinyslm_tflm_last_error(void) { return ""; }
"""


@dataclass(frozen=True)
class ClockRun:
    """A run of a harness on ``CLOCK``: its ``S`` statistics and ``W`` lines."""

    stats: dict[str, int]
    written: list[str]

    @property
    def seconds(self) -> float:
        return self.stats["time_us"] / 1e6

    @property
    def delay_share(self) -> float:
        """The share of the time the loop spent in vTaskDelay."""
        return self.stats["delay_us"] / self.stats["time_us"]
