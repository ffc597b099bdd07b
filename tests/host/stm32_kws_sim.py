"""The STM32H7 keyword glue on a simulated clock: the harness round 47's tests share.

The generated ``src/main.cc``'s declarations, microphone functions and main loop body are
cut out (no emulator models the SAI or DMA1) and run with stand-ins of the HAL pieces they
call, state for state as test_r45_stm32_mic_restart's (which check them against the HAL's
sources). Time moves by a loop pass (37 us, or more from a given time), by an inference,
and by a line written (``HAL_UART_Transmit`` blocks: 86.8 us a byte); the host's bytes
arrive at 115200 baud from 0.1 s and the DMA completes a half every 64 ms. The scenario
comes from ``TINYSLM_TEST_*`` environment variables; the harness prints each line written
with its time (``W <us> <line>``), the time of the last feed of host bytes (``F``) and its
statistics (``S``).

test_r47_stm32kw_clock runs :data:`HARNESS` as it is; test_r47_stm32mic_failed adds its
counters and scenario knobs with :func:`insert` and :func:`replace_once` (each anchor
checked to occur once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from esp32_fakes import require_host_compilers, run_firmware
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from test_stm32_rx_ring import _block

from tinyslm.audio.frames import encode_stream
from tinyslm.boards import load_board

HARNESS = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tinyslm_audio_config.h"
#include "tinyslm_json.h"
#include "tinyslm_kws_app.h"
#include "tinyslm_settings.h"

// Stand-ins of the HAL pieces the cut-out code calls (STM32CubeH7 V1.11.3, as
// test_r45_stm32_mic_restart models them).
typedef enum { HAL_OK = 0, HAL_ERROR = 1, HAL_BUSY = 2 } HAL_StatusTypeDef;
typedef enum {
  HAL_SAI_STATE_RESET, HAL_SAI_STATE_READY, HAL_SAI_STATE_BUSY_RX
} HAL_SAI_StateTypeDef;
#define HAL_DMA_ERROR_NONE 0x00000000U
#define HAL_DMA_ERROR_NO_XFER 0x00000080U
struct UART_HandleTypeDef { int unused; };
struct DMA_HandleTypeDef { bool busy; uint32_t ErrorCode; };
struct SAI_HandleTypeDef { HAL_SAI_StateTypeDef State; };
uint32_t HAL_GetTick(void);
HAL_SAI_StateTypeDef HAL_SAI_GetState(SAI_HandleTypeDef *h);
HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *h, uint8_t *data, uint16_t size);
HAL_StatusTypeDef HAL_DMA_Abort(DMA_HandleTypeDef *h);
HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h);
uint32_t HAL_DMA_GetError(DMA_HandleTypeDef *h);
void SCB_InvalidateDCache_by_Addr(void *addr, int32_t size) { (void)addr; (void)size; }

namespace {
void serial_write(const char *data, size_t len, void *ctx);
uint32_t clock_us(void *ctx);
void harness_feed(tinyslm_kws_app_t *a, const uint8_t *data, size_t n);
#define tinyslm_kws_app_feed(a, data, n) harness_feed(a, data, n)

{declarations}

{functions}

uint64_t env(const char *name, uint64_t otherwise) {
  const char *v = getenv(name);
  return v != nullptr ? strtoull(v, nullptr, 10) : otherwise;
}

const uint64_t kHalfUs = uint64_t{kMicHalf} * 1000000u / TINYSLM_AUDIO_SAMPLE_RATE;
const uint64_t kPassUs = 37;  // one pass of the main loop
uint64_t now = 0, end_us = 0, last_feed_us = 0;
// The scenario (environment): a stall, a SAI error and how its restarts go, slow passes,
// inference time, clock_us's value at time 0.
uint64_t stall_from_us, sai_error_at_us, storm_us, slow_from_us, slow_pass_us, infer_us;
uint32_t clock_from_us;
bool restart_fails;
// The microphone: the SAI running (BUSY_RX, its DMA busy) from mic_from_us on.
bool sai_on = true;
uint64_t mic_from_us = 0, halves_due = 0, next_error_us = 0;
std::vector<uint8_t> host;
size_t host_at = 0;
std::string written;

void finish() {
  size_t from = 0;
  for (size_t nl; (nl = written.find('\n', from)) != std::string::npos; from = nl + 1) {
    printf("W %s\n", written.substr(from, nl - from).c_str());
  }
  printf("F %llu\n", static_cast<unsigned long long>(last_feed_us));
  printf("S time_us %llu lost %u code 0\n", static_cast<unsigned long long>(now),
         static_cast<unsigned>(mic_lost));
  fflush(stdout);
  exit(0);
}

// Bytes the line has delivered by now (115200 8N1: 86.8 us each) into the ring.
void deliver() {
  if (now < 100000) return;
  const size_t arrived = std::min(host.size(), static_cast<size_t>((now - 100000) * 10 / 868));
  while (host_at < arrived) {
    const uint32_t next = (rx_head + 1u) & (kRxRing - 1u);
    if (next == rx_tail) break;  // full: the host waits
    rx_ring[rx_head] = host[host_at++];
    rx_head = next;
  }
}

// What the DMA and SAI interrupts do up to now.
void interrupts() {
  if (!sai_on) return;
  if (next_error_us != 0 && now >= next_error_us) {
    // HAL_SAI_IRQHandler on an error that stops the SAI (WCKCFG, a wrong clock configuration,
    // or a DMA transfer error): HAL_DMA_Abort_IT, the SAI READY.
    sai_on = false;
    hdma_sai.busy = false;
    hsai.State = HAL_SAI_STATE_READY;
    mic_sai_errors = mic_sai_errors + 1u;
    next_error_us = 0;
    return;
  }
  while (mic_from_us + (halves_due + 1) * kHalfUs <= now) {
    if (stall_from_us != 0 && mic_from_us + (halves_due + 1) * kHalfUs >= stall_from_us) break;
    ++halves_due;
    mic_halves = mic_halves + 1u;
  }
}

void advance(uint64_t us) {
  now += us;
  if (now >= end_us) finish();
  deliver();
  interrupts();
}

void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  // Each line with the time it went out: "<us> <line>".
  if (written.empty() || written.back() == '\n') written += std::to_string(now) + " ";
  written.append(data, len);
  advance(len * 868 / 10);  // HAL_UART_Transmit returns once the bytes are out
}

uint32_t clock_us(void *ctx) {
  (void)ctx;
  return static_cast<uint32_t>(now + clock_from_us);
}

int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  (void)features;
  (void)n;
  (void)ctx;
  for (uint32_t i = 0; i < TINYSLM_NUM_LABELS; ++i) scores[i] = -128;
  advance(infer_us);
  return 0;
}

void harness_feed(tinyslm_kws_app_t *a, const uint8_t *data, size_t n) {
  last_feed_us = now;  // the host's bytes are all frames: the last feed has its last frame
  (tinyslm_kws_app_feed)(a, data, n);
}

}  // namespace

uint32_t HAL_GetTick(void) { return static_cast<uint32_t>((now + clock_from_us) / 1000); }
HAL_SAI_StateTypeDef HAL_SAI_GetState(SAI_HandleTypeDef *h) { return h->State; }
// HAL_DMA_Abort: a stream the SAI error already stopped answers NO_XFER.
HAL_StatusTypeDef HAL_DMA_Abort(DMA_HandleTypeDef *h) {
  if (!h->busy) {
    h->ErrorCode = HAL_DMA_ERROR_NO_XFER;
    return HAL_ERROR;
  }
  h->busy = false;
  return HAL_OK;
}
uint32_t HAL_DMA_GetError(DMA_HandleTypeDef *h) { return h->ErrorCode; }
// HAL_SAI_DMAStop (test_r47_stm32mic_failed checks it against the HAL's source): the SAI
// disabled; a BUSY_RX SAI's stream aborted (HAL_ERROR unless that answers NO_XFER); the
// SAI READY whatever it answers.
HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h) {
  HAL_StatusTypeDef status = HAL_OK;
  sai_on = false;
  if (h->State == HAL_SAI_STATE_BUSY_RX && HAL_DMA_Abort(&hdma_sai) != HAL_OK &&
      hdma_sai.ErrorCode != HAL_DMA_ERROR_NO_XFER) {
    status = HAL_ERROR;
  }
  h->State = HAL_SAI_STATE_READY;
  return status;
}
HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *h, uint8_t *data, uint16_t size) {
  (void)data;
  (void)size;
  if (h->State != HAL_SAI_STATE_READY) return HAL_BUSY;
  h->State = HAL_SAI_STATE_BUSY_RX;
  if (restart_fails) return HAL_ERROR;  // HAL_DMA_Start_IT refused: the SAI left BUSY_RX
  hdma_sai.busy = true;
  hdma_sai.ErrorCode = HAL_DMA_ERROR_NONE;
  sai_on = true;
  mic_from_us = now;
  halves_due = 0;
  if (storm_us != 0) next_error_us = now + storm_us;  // and errs again before a half
  return HAL_OK;
}

static std::vector<uint8_t> slurp(const char *path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// <harness> END_US STREAM
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  end_us = strtoull(argv[1], nullptr, 10);
  host = slurp(argv[2]);
  stall_from_us = env("TINYSLM_TEST_STALL_FROM_US", 0);
  sai_error_at_us = env("TINYSLM_TEST_SAI_ERROR_AT_US", 0);
  storm_us = env("TINYSLM_TEST_STORM_US", 0);
  restart_fails = env("TINYSLM_TEST_RESTART_FAILS", 0) != 0;
  slow_from_us = env("TINYSLM_TEST_SLOW_FROM_US", 0);
  slow_pass_us = env("TINYSLM_TEST_SLOW_PASS_US", 0);
  infer_us = env("TINYSLM_TEST_INFER_US", 0);
  clock_from_us = static_cast<uint32_t>(env("TINYSLM_TEST_CLOCK_FROM_US", 0));
  next_error_us = sai_error_at_us;
  if (tinyslm_kws_app_setup(&app, &tinyslm_kws_model_info, infer, serial_write, clock_us) != 0) {
    return 3;
  }
  // As main leaves it: the microphone started (or, TINYSLM_TEST_NO_MIC, mic_init failed
  // and said so at time 0).
  hsai.State = HAL_SAI_STATE_BUSY_RX;
  hdma_sai.busy = true;
  mic_running = true;
  if (env("TINYSLM_TEST_NO_MIC", 0) != 0) {
    mic_running = false;
    sai_on = false;
    mic_error.reason = "SAI init failed";
    error_say(mic_error);
  }
  uint8_t chunk[64];
  for (;;) {
    advance(slow_from_us != 0 && now >= slow_from_us ? slow_pass_us : kPassUs);
{loop_body}
  }
}
"""


def replace_once(text: str, anchor: str, new: str) -> str:
    """``text`` with ``anchor``, which must occur exactly once, replaced by ``new``: a
    harness built from another fails loudly if the base moves."""
    assert text.count(anchor) == 1, f"anchor not found exactly once: {anchor!r}"
    return text.replace(anchor, new)


def insert(text: str, anchor: str, added: str) -> str:
    """``text`` with ``added`` put after ``anchor`` (which must occur exactly once)."""
    return replace_once(text, anchor, anchor + added)


def build_firmware(
    tmp_path_factory: pytest.TempPathFactory, name: str, harness: str, loop_needs: tuple[str, ...]
) -> Path:
    """``harness`` around the generated STM32H7 keyword ``main.cc``'s parts, compiled as
    ``name``; ``loop_needs``: what the main loop body must still call."""
    require_host_compilers()
    root = tmp_path_factory.mktemp(f"r47_{name}")
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    declarations, functions = stm32_main_parts(main)
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    assert all(call in loop for call in loop_needs), "the main loop moved"
    source = (
        harness.replace("<harness>", name)
        .replace("{declarations}", declarations)
        .replace("{functions}", functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, source, root, name)


@dataclass(frozen=True)
class Line:
    """A line the firmware wrote, with the time it went out."""

    us: int
    text: str


def run_harness(
    firmware: Path, end_us: float, stream: Path
) -> tuple[list[Line], dict[str, list[str]], dict[str, int]]:
    """The harness run until ``end_us`` with ``stream`` as the host's bytes: the lines
    it wrote, all its output lines by kind, and its statistics."""
    lines, stats = run_firmware([str(firmware), str(int(end_us)), str(stream)])
    written = [Line(int(t), text) for t, _, text in (w.partition(" ") for w in lines.get("W", []))]
    return written, lines, stats


def open_stream(tmp_path: Path, seconds: float) -> Path:
    """``seconds`` of quiet audio framed as the host sends it, without END (the stream
    stays open until its timeout, 2 s after its last frame)."""
    rng = np.random.default_rng(0)
    samples = rng.integers(-200, 200, size=int(16000 * seconds), dtype=np.int16)
    path = tmp_path / "stream.bin"
    path.write_bytes(b"".join(list(encode_stream(samples))[:-1]))
    return path


def no_host(tmp_path: Path) -> Path:
    """No bytes from the host at all."""
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    return path
