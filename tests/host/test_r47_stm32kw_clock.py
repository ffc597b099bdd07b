"""The STM32H7 keyword glue's stream timeout when the microphone gives no audio (round 47).

An open serial stream (its END lost, the host gone) must close with
``{"error":"stream_timeout"}`` 2 s after its last frame (templates/audio/README.md.j2).
The app counts the samples it is fed or idled (``TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES``);
the glue fed it the DMA halves it read and, with no microphone running at all
(``mic_running`` false), the time passed in whole milliseconds (``mic_absent_tick``, at
most one DMA half's time, 64 ms, a pass). Measured here before round 47, from the
host's last frame (at 2.92 s) to the line:

- the SAI's DMA stalling without an error from 1 s (no half completes, the SAI still
  BUSY_RX): never (none in the 22 s run): the microphone muted, a half frame swallowing
  the next command;
- a SAI error from 1 s and again 10 ms after each restart, before any half completes
  (``HAL_SAI_IRQHandler`` aborting the DMA each time): never either;
- audio lost to overruns (each loop pass taking 100 ms from 2 s: one half fed of each
  1.56 that completed): 3.100 s;
- no microphone, each pass taking 100 ms: 3.100 s (64 ms counted a pass);
- a working microphone: 2.006 s; the DMA restart failing after the last frame: 1.986 s;
  no microphone: 1.9996 s (whole halves and whole milliseconds: tens of ms either way).

Now the glue gives an open stream the time on its clock (``clock_us``: the DWT cycle
counter, which the latencies and the old count without a microphone used), whatever
the microphone does: while a stream is open its halves are not fed (the app would drop
them), and ``stream_clock`` gives ``tinyslm_kws_app_idle`` the time since its last call
in whole samples, the fraction carried to the next call (no loss), by unsigned 32-bit
differences (``clock_us`` wraps every 71.6 min). It is called at the top of each loop
pass and after ``tinyslm_kws_app_feed`` (a frame restarts the count inside it: the time
before is given before it, its inferences' after). All the cases above: 2.0000 s (a
sample's fraction early at most; a 100 ms pass late at most). ``mic_overrun`` (at most
once a second) and ``mic_init_failed`` (every 3 s) were on ``HAL_GetTick`` already and
right; measured here with the lines' times.

The firmware: as in test_r42_mic_never_starts, the generated ``src/main.cc``'s
declarations, microphone functions and main loop body are cut out (no emulator models
the SAI or DMA1) and run on a simulated clock with stand-ins of the HAL pieces they
call, state for state as test_r45_stm32_mic_restart's (which check them against the
HAL's sources). Time moves by a loop pass (37 us, or more from a given time), by an
inference, and by a line written (``HAL_UART_Transmit`` blocks: 86.8 us a byte); the
host's bytes arrive at 115200 baud from 0.1 s and the DMA completes a half every 64 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from esp32_fakes import require_host_compilers, run_firmware
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from test_stm32_rx_ring import _block

from tinyslm.audio.frames import encode_stream
from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

STREAM_FROM_US = 100_000  # the harness's host starts sending at 0.1 s
TIMEOUT_S = 2.0  # TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES at 16 kHz
SAMPLE_S = 1 / 16000
TIMEOUT = '{"error":"stream_timeout"}'
FAILED = '{"error":"mic_failed","reason":"SAI DMA restart failed"}'
OVERRUN = '{"error":"mic_overrun","reason":"microphone audio was dropped"}'
NO_MIC = '{"error":"mic_init_failed","reason":"SAI init failed"}'

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
    // HAL_SAI_IRQHandler on a frame sync or clock error: HAL_DMA_Abort_IT, the SAI READY.
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
// HAL_SAI_DMAStop (mic_poll stops a stalled SAI first; as test_r47_stm32mic_failed's).
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

// stm32_clock END_US STREAM
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
    mic_error = "SAI init failed";
    mic_error_say();
  }
  uint8_t chunk[64];
  for (;;) {
    advance(slow_from_us != 0 && now >= slow_from_us ? slow_pass_us : kPassUs);
{loop_body}
  }
}
"""


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("r47_stm32kw")
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    declarations, functions = stm32_main_parts(main)
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    assert "mic_poll();" in loop and "tinyslm_kws_app_feed(" in loop, "the main loop moved"
    harness = (
        HARNESS.replace("{declarations}", declarations)
        .replace("{functions}", functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, harness, root, "stm32_clock")


@dataclass(frozen=True)
class Line:
    us: int
    text: str


@dataclass(frozen=True)
class Run:
    lines: list[Line]
    last_feed_us: int
    lost: int

    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def timeout_after_last_frame(self) -> float:
        """Seconds from the stream's last frame to its stream_timeout line (inf: none)."""
        at = [line.us for line in self.lines if line.text == TIMEOUT]
        assert len(at) <= 1, self.lines
        return (at[0] - self.last_feed_us) / 1e6 if at else float("inf")


def _run(firmware: Path, end_us: float, stream: Path) -> Run:
    lines, stats = run_firmware([str(firmware), str(int(end_us)), str(stream)])
    written = [Line(int(t), text) for t, _, text in (w.partition(" ") for w in lines.get("W", []))]
    return Run(written, int(lines["F"][0]), stats["lost"])


def _open_stream(tmp_path: Path, seconds: float) -> Path:
    """``seconds`` of quiet audio framed as the host sends it, without END."""
    rng = np.random.default_rng(0)
    samples = rng.integers(-200, 200, size=int(16000 * seconds), dtype=np.int16)
    path = tmp_path / "stream.bin"
    path.write_bytes(b"".join(list(encode_stream(samples))[:-1]))
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    return path


# ---------------------------------------------------------------------------------------
# The stream's timeout, whatever the microphone does. 1 s of audio from 0.1 s (its last
# frame at about 3 s), without END.

SCENARIOS = {
    # The DMA completes no half from 1 s on, the SAI still BUSY_RX: no error at all.
    "dma-stalls": {"TINYSLM_TEST_STALL_FROM_US": "1000000"},
    # A SAI error at 1 s, and again 10 ms after each restart: never a half.
    "errors-after-each-restart": {
        "TINYSLM_TEST_SAI_ERROR_AT_US": "1000000",
        "TINYSLM_TEST_STORM_US": "10000",
    },
    # A SAI error at 3.1 s, after the last frame, and a restart that fails.
    "restart-fails": {
        "TINYSLM_TEST_SAI_ERROR_AT_US": "3100000",
        "TINYSLM_TEST_RESTART_FAILS": "1",
    },
    # From 2 s on each pass takes 100 ms (1.56 halves): halves lost to overruns.
    "overruns": {"TINYSLM_TEST_SLOW_FROM_US": "2000000", "TINYSLM_TEST_SLOW_PASS_US": "100000"},
    # Each inference takes 30 ms: the frames' own inferences.
    "slow-inferences": {"TINYSLM_TEST_INFER_US": "30000"},
    "working": {},
    # clock_us wraps (2^32 us) 1 s after the last frame.
    "clock-wraps": {"TINYSLM_TEST_CLOCK_FROM_US": str(2**32 - 4_000_000)},
    "no-microphone": {"TINYSLM_TEST_NO_MIC": "1"},
    # No microphone, and from 2 s on each pass takes 100 ms.
    "no-microphone-slow-passes": {
        "TINYSLM_TEST_NO_MIC": "1",
        "TINYSLM_TEST_SLOW_FROM_US": "2000000",
        "TINYSLM_TEST_SLOW_PASS_US": "100000",
    },
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_an_open_stream_closes_2_s_after_its_last_frame_whatever_the_microphone_does(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    for name, value in SCENARIOS[scenario].items():
        monkeypatch.setenv(name, value)
    run = _run(firmware, 25_000_000, _open_stream(tmp_path, 1.0))
    after = run.timeout_after_last_frame()
    # 2 s: early by a sample's fraction at most (the part carried over from before the
    # frame); late by a loop pass at most (100 ms in the slow one) and a line written.
    late = 0.11 if "TINYSLM_TEST_SLOW_PASS_US" in SCENARIOS[scenario] else 0.01
    assert TIMEOUT_S - SAMPLE_S <= after <= TIMEOUT_S + late, (after, run.lines[:5])


def test_a_stream_that_keeps_coming_is_not_timed_out_by_a_stalled_microphone(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock counts from the last frame only: 2 s of audio take about 5.8 s of line,
    the DMA stalled from 0.5 s: no timeout while the frames come, nor 1.9 s after."""
    monkeypatch.setenv("TINYSLM_TEST_STALL_FROM_US", "500000")
    stream = _open_stream(tmp_path, 2.0)
    last_feed_us = _run(firmware, 10_000_000, stream).last_feed_us
    assert last_feed_us > 5_000_000
    run = _run(firmware, last_feed_us + 1_900_000, stream)
    assert run.texts() == [], run.lines


# ---------------------------------------------------------------------------------------
# The other time-based lines, measured with their times (on HAL_GetTick already).


def test_mic_overrun_is_said_at_most_once_a_second_and_not_during_a_stream(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From 1 s each loop pass takes 100 ms: halves lost all along; said once the stream
    closed (not before), then once a second."""
    monkeypatch.setenv("TINYSLM_TEST_SLOW_FROM_US", "1000000")
    monkeypatch.setenv("TINYSLM_TEST_SLOW_PASS_US", "100000")
    stream = _open_stream(tmp_path, 0.2)
    run = _run(firmware, 30_000_000, stream)
    texts = run.texts()
    assert texts[0] == TIMEOUT and set(texts[1:]) == {OVERRUN}, texts
    said = [line.us for line in run.lines[1:]]
    assert said[0] - run.lines[0].us <= 110_000  # the next pass after the stream closed
    gaps = [b - a for a, b in pairwise(said)]
    # Once a second: a HAL_GetTick second, the pass that found it due (100 ms) at most.
    assert len(gaps) >= 5 and all(1_000_000 <= g <= 1_110_000 for g in gaps), gaps


def test_mic_init_failed_is_said_every_3_s_around_a_stream(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 0 s (main), then every 3 s, not while the stream is open (0.1 s to 2 s after its
    last frame), said right after it closes."""
    monkeypatch.setenv("TINYSLM_TEST_NO_MIC", "1")
    run = _run(firmware, 16_000_000, _open_stream(tmp_path, 1.0))
    texts = run.texts()
    assert texts[:3] == [NO_MIC, TIMEOUT, NO_MIC] and set(texts[3:]) == {NO_MIC}, texts
    said = [line.us for line in run.lines if line.text == NO_MIC]
    assert said[0] == 0 and said[1] - run.lines[1].us < 5_000
    gaps = [b - a for a, b in pairwise(said[1:])]
    # 3 s apart, counted in HAL_GetTick's whole milliseconds.
    assert len(gaps) >= 2 and all(2_999_000 <= g <= 3_001_000 for g in gaps), gaps
