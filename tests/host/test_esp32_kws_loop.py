"""The ESP32 keyword project's main loop and ESP-IDF's task watchdog, run on the host.

ESP-IDF 5.3.1's task watchdog watches CPU0's idle task by default
(``ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0``, ``ESP_TASK_WDT_TIMEOUT_S`` 5; the generated
``sdkconfig.defaults`` changes neither): when the idle task has not run for 5 s it
logs ``task_wdt: Task watchdog got triggered ...`` at error level on UART0, the port
the host parses JSON on, and again every 5 s. ``app_main`` runs on CPU0 at priority 1,
above the idle task, so the idle task runs only while the loop blocks. The loop blocks
in ``i2s_channel_read`` when no DMA buffer is queued; when the front end and the
inferences are slower than real time (a short ``--stride-ms``, a big model) a buffer is
always queued and the read returns at once.

The ``src/main.cc`` that ``generate`` writes for the committed keyword fixture model
(``tests/fixtures/kws.py``) is compiled whole, unchanged, against the stand-in headers
of ``esp32_fakes.py`` and linked with the project's own C sources (the keyword app,
listening loop, front end, detector, frame parser, settings and the user's starter
actions with its GPIO example on) and the harness below, on a simulated microsecond
clock:

- the I2S driver as ``components/esp_driver_i2s/i2s_common.c`` does it: the DMA fills a
  buffer of ``dma_frame_num`` frames every 20 ms into a queue of ``dma_desc_num - 1``;
  on a full queue the oldest buffer is dropped and ``on_recv_q_ovf`` called;
  ``i2s_channel_read`` copies a queued buffer at once (20 us) or blocks until the DMA
  fills the next one; on a stopped channel it fails (``ESP_ERR_INVALID_STATE``) after
  its timeout, which 5.3.1 spends waiting for the lock ``i2s_channel_disable`` keeps;
- ``tinyslm_tflm_invoke`` (the TFLM adapter; TFLM itself is not built) takes a
  configurable time and never scores a keyword;
- ``vTaskDelay(n)`` blocks until the n-th next tick (100 Hz); ``esp_timer_get_time`` is
  the simulated clock; ``uart_read_bytes`` has nothing to read, or a host's framed audio
  stream arriving at 115200 baud into the driver's RX ring (what does not fit is lost).

Whenever the loop blocks the idle task runs and feeds the watchdog; the harness counts
the watchdog's triggers (one per full 5 s without an idle run), the longest gap between
two idle runs and the time the loop spent in ``vTaskDelay``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from esp32_fakes import build_generated, require_host_compilers, run_firmware
from esp32_sim import CLOCK, CLOCK_API, HEAD, STUBS, WRITTEN, ClockRun

from tinyslm.audio.frames import stream_bytes
from tinyslm.emit.actions import with_example

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

pytestmark = pytest.mark.toolchain

# The project's C sources as generated; the TFLM adapter (tinyslm_tflm.cc) and MEAN kernel
# need TFLM and the harness stands in for the adapter.
APP_SOURCES = (
    "tinyslm_kws_app.c",
    "tinyslm_listen.c",
    "tinyslm_audio_frontend.c",
    "tinyslm_kws_detector.c",
    "tinyslm_audio_frames.c",
    "tinyslm_json.c",
    "tinyslm_settings.c",
    "tinyslm_actions.c",
)
WATCHDOG_S = 5  # ESP_TASK_WDT_TIMEOUT_S's default
SECONDS = 30

HARNESS = (
    HEAD
    + r"""
#include <string.h>

#include <deque>
#include <fstream>
#include <iterator>

#include "driver/gpio.h"
#include "driver/i2s_std.h"

struct i2s_channel_obj_t {
  i2s_chan_config_t cfg;
  i2s_event_callbacks_t callbacks;
  void *user_data;
  bool configured, enabled;
  std::deque<uint32_t> queue;  // filled DMA buffers (their sequence numbers)
  uint32_t filled;             // buffers the DMA has filled so far
  int64_t buffer_us, next_done_us;
};

namespace {
"""
    + CLOCK
    + WRITTEN
    + r"""
constexpr int64_t kCopyUs = 20;           // i2s_channel_read of a queued buffer
constexpr int64_t kWarmUpUs = 2000000;    // the listening loop's first window fills
constexpr int64_t kStreamFromUs = 100000; // the host starts sending

// From this time on every read fails, as on a channel that stopped (0: never): after its
// timeout, as ESP-IDF 5.3.1's i2s_channel_read waits that long for the channel's lock
// (xSemaphoreTake(handle->binary, timeout), which i2s_channel_disable took for good).
int64_t read_fails_from_us = 0;
i2s_channel_obj_t channel;
bool channel_taken = false;
uint32_t noise = 12345;

long late_idle_runs = 0, reads = 0;
long overflows = 0;
// The host's framed stream on the line (115200 8N1: 86.8 us a byte) into the driver's
// RX ring; bytes beyond the ring are lost (the oldest here: only the pace matters).
std::vector<uint8_t> host;
size_t host_at = 0, rx_ring = 0;
long serial_lost = 0;
int64_t blocked_us = 0;

void dma_catch_up();

void finish(int code) {
  dma_catch_up();  // buffers the DMA dropped while nothing read
  watch_idle_gap();
  print_written();
  printf("S time_us %lld idle_runs %ld late_idle_runs %ld max_gap_us %lld wdt %ld delays %ld "
         "delay_us %lld blocked_us %lld infers %ld reads %ld overflows %ld serial_lost %ld "
         "code %d\n",
         static_cast<long long>(now), idle_runs, late_idle_runs, static_cast<long long>(max_gap),
         wdt, delays, static_cast<long long>(delay_us), static_cast<long long>(blocked_us),
         infers, reads, overflows, serial_lost, code);
  fflush(stdout);
  exit(code);
}

// Idle runs once the first window has filled, and the time the loop blocked.
void on_block(int64_t until) {
  if (now >= kWarmUpUs) ++late_idle_runs;
  blocked_us += until - now;
}

// The DMA's interrupt, for every buffer filled by now (i2s_dma_rx_callback).
void dma_catch_up() {
  i2s_channel_obj_t &c = channel;
  while (c.enabled && c.next_done_us <= now) {
    if (c.queue.size() >= c.cfg.dma_desc_num - 1) {  // msg_queue: dma_desc_num - 1 deep
      c.queue.pop_front();
      ++overflows;
      i2s_event_data_t event = {nullptr, nullptr, c.cfg.dma_frame_num * sizeof(int32_t)};
      if (c.callbacks.on_recv_q_ovf != nullptr) {
        c.callbacks.on_recv_q_ovf(&c, &event, c.user_data);
      }
    }
    c.queue.push_back(c.filled++);
    c.next_done_us += c.buffer_us;
  }
}

}  // namespace

esp_err_t i2s_new_channel(const i2s_chan_config_t *cfg, i2s_chan_handle_t *tx,
                          i2s_chan_handle_t *rx) {
  if (channel_taken || tx != nullptr || rx == nullptr || cfg->dma_desc_num < 2) finish(5);
  channel_taken = true;
  channel.cfg = *cfg;
  *rx = &channel;
  return ESP_OK;
}

esp_err_t i2s_channel_init_std_mode(i2s_chan_handle_t h, const i2s_std_config_t *std) {
  if (h != &channel || std->slot_cfg.slot_mode != I2S_SLOT_MODE_MONO ||
      std->clk_cfg.sample_rate_hz != TINYSLM_AUDIO_SAMPLE_RATE) {
    finish(6);
  }
  channel.buffer_us =
      static_cast<int64_t>(channel.cfg.dma_frame_num) * 1000000 / std->clk_cfg.sample_rate_hz;
  channel.configured = true;
  return ESP_OK;
}

esp_err_t i2s_channel_register_event_callback(i2s_chan_handle_t h,
                                              const i2s_event_callbacks_t *callbacks,
                                              void *user_data) {
  if (h != &channel || channel.enabled) finish(7);
  channel.callbacks = *callbacks;
  channel.user_data = user_data;
  return ESP_OK;
}

esp_err_t i2s_channel_enable(i2s_chan_handle_t h) {
  if (h != &channel || !channel.configured) finish(8);
  channel.enabled = true;
  channel.next_done_us = now + channel.buffer_us;
  return ESP_OK;
}

esp_err_t i2s_channel_read(i2s_chan_handle_t h, void *dest, size_t size, size_t *bytes_read,
                           uint32_t timeout_ms) {
  // The model hands out whole DMA buffers: the template reads one at a time.
  if (h != &channel || !channel.enabled || size != channel.cfg.dma_frame_num * sizeof(int32_t)) {
    finish(9);
  }
  ++reads;
  *bytes_read = 0;
  if (read_fails_from_us > 0 && now >= read_fails_from_us) {
    block_until(now + int64_t{timeout_ms} * 1000);
    check_end();
    now += kCopyUs;
    check_end();
    return ESP_ERR_INVALID_STATE;
  }
  dma_catch_up();
  if (channel.queue.empty()) {  // xQueueReceive(msg_queue, timeout): the task blocks
    const int64_t deadline = now + int64_t{timeout_ms} * 1000;
    block_until(std::min(deadline, channel.next_done_us));
    check_end();
    dma_catch_up();
    if (channel.queue.empty()) return ESP_ERR_TIMEOUT;
  }
  channel.queue.pop_front();
  int32_t *words = static_cast<int32_t *>(dest);
  for (size_t i = 0; i < channel.cfg.dma_frame_num; ++i) {  // quiet noise, 24 bits at the top
    noise = noise * 1103515245u + 12345u;
    words[i] = static_cast<int32_t>(static_cast<int16_t>((noise >> 16) & 0xff) - 128) * 65536;
  }
  *bytes_read = size;
  now += kCopyUs;
  check_end();
  return ESP_OK;
}

esp_err_t uart_driver_install(uart_port_t, int rx_buffer_size, int tx_buffer_size, int,
                              QueueHandle_t *, int) {
  rx_ring = static_cast<size_t>(rx_buffer_size);
  return tx_buffer_size == 0 ? ESP_OK : ESP_FAIL;
}
int uart_read_bytes(uart_port_t, void *buf, uint32_t length, TickType_t ticks_to_wait) {
  const int64_t on_line = now < kStreamFromUs ? 0 : (now - kStreamFromUs) * 10 / 868;
  const size_t arrived = std::min(host.size(), static_cast<size_t>(on_line));
  if (arrived - host_at > rx_ring) {
    serial_lost += static_cast<long>(arrived - host_at - rx_ring);
    host_at = arrived - rx_ring;
  }
  const size_t n = std::min(static_cast<size_t>(length), arrived - host_at);
  if (n == 0) {
    block_until(now + int64_t{ticks_to_wait} * kTickUs);  // the rest: not modelled
    check_end();
    return 0;
  }
  memcpy(buf, host.data() + host_at, n);
  host_at += n;
  return static_cast<int>(n);
}
int uart_write_bytes(uart_port_t, const void *src, size_t size) {
  written.append(static_cast<const char *>(src), size);
  return static_cast<int>(size);
}

const char *esp_err_to_name(esp_err_t code) {
  return code == ESP_ERR_INVALID_STATE ? "ESP_ERR_INVALID_STATE" : "ESP_FAIL";
}

extern "C" esp_err_t gpio_reset_pin(gpio_num_t) { return ESP_OK; }
extern "C" esp_err_t gpio_set_direction(gpio_num_t, gpio_mode_t) { return ESP_OK; }
extern "C" esp_err_t gpio_set_level(gpio_num_t, uint32_t) { return ESP_OK; }

extern "C" int tinyslm_tflm_invoke(const void *, size_t, int8_t *scores) {
  ++infers;
  now += infer_us;  // the front end's share folded in
  memset(scores, -128, TINYSLM_NUM_LABELS);
  check_end();
  return 0;
}
"""
    + CLOCK_API
    + STUBS
    + r"""
int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) return 2;
  end_us = atoll(argv[1]);
  infer_us = atoll(argv[2]);
  const char *fails = getenv("TINYSLM_TEST_READ_FAILS_FROM_US");
  if (fails != nullptr) read_fails_from_us = atoll(fails);
  if (argc == 4) {
    std::ifstream in(argv[3], std::ios::binary);
    host.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  app_main();
  return 1;
}
"""
)


@dataclass(frozen=True)
class Run(ClockRun):
    infer_ms: int

    def figures(self) -> str:
        s = self.stats
        return (
            f"inference {self.infer_ms} ms per 40 ms of audio: {s['infers']} inferences, "
            f"{s['overflows']} DMA buffers dropped, {s['serial_lost']} serial bytes lost | "
            f"idle task ran {s['idle_runs'] / self.seconds:.1f} times/s "
            f"({s['late_idle_runs'] / (self.seconds - 2):.2f} after 2 s), longest gap "
            f"{s['max_gap_us'] / 1e6:.2f} s, watchdog triggers {s['wdt']} | vTaskDelay "
            f"{s['delays']} calls, {100 * self.delay_share:.2f} % of the time"
        )


def _take_example(src: Path) -> None:
    """The user's starter as a user who took its example has it (GPIO calls on)."""
    actions = src / "tinyslm_actions.c"
    actions.write_text(with_example(actions.read_text(encoding="utf-8")), encoding="utf-8")


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("esp32_kws_loop")
    model = keyword_model_dir(root / "model")
    # A loop paced by something else than these fails rather than passing.
    needles = ("i2s_channel_read(", "tinyslm_kws_app_feed_samples(", "on_recv_q_ovf")
    return build_generated(root, model, APP_SOURCES, HARNESS, "kws_loop", needles, _take_example)


def run(firmware: Path, infer_ms: int, stream: Path | None = None) -> Run:
    """``SECONDS`` of the loop, each inference taking ``infer_ms``; ``stream``: bytes the
    host sends at the line rate from 0.1 s."""
    args = [str(firmware), str(SECONDS * 1_000_000), str(infer_ms * 1000)]
    lines, stats = run_firmware(args + ([str(stream)] if stream else []))
    result = Run(stats, lines.get("W", []), infer_ms)
    print(f"\n{result.figures()}")
    return result


@pytest.mark.parametrize("infer_ms", [60, 300])
def test_a_loop_slower_than_real_time_still_lets_the_idle_task_run(
    firmware: Path, infer_ms: int
) -> None:
    # One inference per 40 ms of audio (the fixture's stride) taking 60 ms (1.5 times
    # real time) or 300 ms (a big model): the DMA always has a buffer queued.
    r = run(firmware, infer_ms)
    s = r.stats
    assert s["overflows"] > 0 and s["infers"] > 0  # the case: slower than real time
    assert s["wdt"] == 0, r.figures()
    # Well inside the watchdog's 5 s: a second, plus one pass of the loop and a tick.
    assert s["max_gap_us"] <= 1_000_000 + infer_ms * 1000 + 50_000, r.figures()
    assert r.delay_share <= 0.015, r.figures()  # one tick (<= 10 ms) a second at most
    # UART0 carries the protocol only: the microphone's overrun reports, nothing else.
    assert r.written and all(w.startswith('{"error":"mic_overrun"') for w in r.written)


@pytest.mark.parametrize("infer_ms", [10, 36])
def test_a_loop_that_keeps_up_never_sleeps_for_the_watchdog(firmware: Path, infer_ms: int) -> None:
    # 10 ms and 36 ms (90 % of real time) per 40 ms: every other read waits for the DMA.
    r = run(firmware, infer_ms)
    s = r.stats
    assert s["overflows"] == 0 and s["infers"] > 0
    assert s["wdt"] == 0 and s["max_gap_us"] <= 100_000, r.figures()
    assert s["delays"] == 0, r.figures()  # the fix costs a loop that keeps up nothing
    assert r.written == []


def test_serial_frames_faster_than_the_loop_still_let_the_idle_task_run(
    firmware: Path, tmp_path: Path
) -> None:
    # A host streams audio frames back to back (tinyslm monitor --wav) to a model that takes
    # 300 ms per 40 ms of audio: 40 ms of audio is 111 ms of line time, so the driver's RX
    # ring is never empty and the loop that drains it never ends (the microphone's reads,
    # which would block, are not reached).
    rng = np.random.default_rng(0)
    samples = rng.integers(-200, 200, size=16000 * 12, dtype=np.int16)  # > 30 s of line
    stream = tmp_path / "stream.bin"
    stream.write_bytes(stream_bytes(samples))
    r = run(firmware, 300, stream)
    s = r.stats
    assert s["serial_lost"] > 0 and s["infers"] > 0  # the case: the line outruns the loop
    assert s["wdt"] == 0, r.figures()
    assert s["max_gap_us"] <= 1_000_000 + 300_000 + 50_000, r.figures()
    assert r.delay_share <= 0.015, r.figures()
    # The bytes the line loses are reported (bad_frame), as JSON lines only.
    assert r.written and all(w.startswith("{") for w in r.written), r.written[:5]


def test_a_microphone_that_stops_is_said_once_a_second(
    firmware: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Failing reads (a channel that stopped) were ignored: the board went on silently
    # deaf.
    monkeypatch.setenv("TINYSLM_TEST_READ_FAILS_FROM_US", str(10 * 1_000_000))
    r = run(firmware, 60)
    failed = [w for w in r.written if "mic_read_failed" in w]
    assert failed and set(failed) == {
        '{"error":"mic_read_failed","reason":"ESP_ERR_INVALID_STATE"}'
    }, r.written[-5:]
    assert SECONDS - 10 - 1 <= len(failed) <= SECONDS - 10 + 1  # once a second
    assert r.stats["wdt"] == 0, r.figures()
    # Each failed read waits its 40 ms and a tick: not a spin (20 to 25 reads a second).
    assert r.stats["reads"] <= 30 * 1000 // 20 + (SECONDS - 10) * 26, r.stats
