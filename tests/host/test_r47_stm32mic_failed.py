"""The STM32H7 keyword board's microphone failures are said, and tried again (round 47).

Two gaps in ``mic_poll`` (templates/stm32-audio/src/main.cc.j2):

- a SAI DMA that stalls without an error (no half completes, the SAI still ``BUSY_RX``)
  was silent: no line ever said the microphone had stopped, and the board stayed deaf
  for good. Now no half for 4 halves' time (256 ms) is a stall: the SAI is stopped
  (``HAL_SAI_DMAStop``) and started again as after an error, and
  ``{"error":"mic_failed","reason":"SAI DMA stalled"}`` says so;
- ``{"error":"mic_failed","reason":"SAI DMA restart failed"}`` was said once, never
  again (``mic_init_failed`` is said every 3 s so that a host that connects later sees
  it), and the restart never tried again. Now a ``mic_failed`` is said at once and every
  3 s while it lasts (at most that often), not while a serial stream is open (said as
  soon as it closes, as ``mic_init_failed`` is), and a failed restart is tried again
  every 3 s.

test_r47_stm32kw_clock's harness (main.cc's declarations, functions and loop on a
simulated clock, the HAL pieces as stand-ins state for state), with a stand-in of
``HAL_SAI_DMAStop`` (checked against the HAL's source below), counts of the SAI's
starts and stops and of the microphone samples fed to the listening loop, a restart
that ends a stall, and a failed restart that works again from a given time.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from esp32_fakes import require_host_compilers, run_firmware
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from shared_paths import require_path, sdk_path
from test_stm32_rx_ring import _block

from tinyslm.audio.frames import encode_stream
from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

HALF_US = 64_000  # kMicHalf (1024) samples at 16 kHz
TIMEOUT = '{"error":"stream_timeout"}'
STALLED = '{"error":"mic_failed","reason":"SAI DMA stalled"}'
FAILED = '{"error":"mic_failed","reason":"SAI DMA restart failed"}'
OVERRUN = '{"error":"mic_overrun","reason":"microphone audio was dropped"}'

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
// The microphone's samples the listening loop got, counted.
uint64_t mic_fed = 0;
#define tinyslm_kws_app_feed_samples(a, s, n) (mic_fed += (n), 0)

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
// A failed restart works again from this time on (0: never); a restart ends the stall.
uint64_t restart_fails_until_us;
bool stall_ends_on_restart;
int starts = 0, stops = 0;
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
  printf("S time_us %llu lost %u starts %d stops %d fed %llu code 0\n",
         static_cast<unsigned long long>(now), static_cast<unsigned>(mic_lost), starts, stops,
         static_cast<unsigned long long>(mic_fed));
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
// HAL_SAI_DMAStop (test_r45's sources check): the SAI disabled; a BUSY_RX SAI's stream
// aborted (HAL_ERROR unless that answers NO_XFER); the SAI READY whatever it answers.
HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h) {
  ++stops;
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
  ++starts;
  h->State = HAL_SAI_STATE_BUSY_RX;
  // HAL_DMA_Start_IT refused: the SAI left BUSY_RX.
  if (restart_fails && (restart_fails_until_us == 0 || now < restart_fails_until_us)) {
    return HAL_ERROR;
  }
  if (stall_ends_on_restart) stall_from_us = 0;
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

// stm32_mic END_US STREAM
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  end_us = strtoull(argv[1], nullptr, 10);
  host = slurp(argv[2]);
  stall_from_us = env("TINYSLM_TEST_STALL_FROM_US", 0);
  sai_error_at_us = env("TINYSLM_TEST_SAI_ERROR_AT_US", 0);
  storm_us = env("TINYSLM_TEST_STORM_US", 0);
  restart_fails = env("TINYSLM_TEST_RESTART_FAILS", 0) != 0;
  restart_fails_until_us = env("TINYSLM_TEST_RESTART_FAILS_UNTIL_US", 0);
  stall_ends_on_restart = env("TINYSLM_TEST_STALL_ENDS_ON_RESTART", 0) != 0;
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
    root = tmp_path_factory.mktemp("r47_stm32mic")
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    declarations, functions = stm32_main_parts(main)
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    assert "mic_poll();" in loop, "the main loop moved"
    harness = (
        HARNESS.replace("{declarations}", declarations)
        .replace("{functions}", functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, harness, root, "stm32_mic")


@dataclass(frozen=True)
class Line:
    us: int
    text: str


@dataclass(frozen=True)
class Run:
    lines: list[Line]
    stats: dict[str, int]

    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def at(self, text: str) -> list[int]:
        return [line.us for line in self.lines if line.text == text]


def _run(firmware: Path, end_us: float, stream: Path, monkeypatch: pytest.MonkeyPatch,
         **env: int) -> Run:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(f"TINYSLM_TEST_{name}", str(value))
    lines, stats = run_firmware([str(firmware), str(int(end_us)), str(stream)])
    written = [Line(int(t), text) for t, _, text in (w.partition(" ") for w in lines.get("W", []))]
    return Run(written, stats)


def _quiet(tmp_path: Path) -> Path:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    return path


def _open_stream(tmp_path: Path, seconds: float) -> Path:
    """``seconds`` of quiet audio framed as the host sends it, without END (the stream
    stays open until its timeout, 2 s after its last frame)."""
    rng = np.random.default_rng(0)
    samples = rng.integers(-200, 200, size=int(16000 * seconds), dtype=np.int16)
    path = tmp_path / "stream.bin"
    path.write_bytes(b"".join(list(encode_stream(samples))[:-1]))
    return path


def _every_3_s(said: list[int]) -> None:
    gaps = [b - a for a, b in pairwise(said)]
    # 3 s apart, counted in HAL_GetTick's whole milliseconds.
    assert gaps and all(2_999_000 <= g <= 3_001_000 for g in gaps), gaps


# ---------------------------------------------------------------------------------------
# Gap 1: a DMA that stalls without an error.


def test_a_stalled_dma_is_said_and_restarted(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No half from 1 s on (the last at 0.96 s); the restart ends the stall: said once,
    4 halves' time after the last half, and the microphone heard again."""
    run = _run(firmware, 5_000_000, _quiet(tmp_path), monkeypatch, STALL_FROM_US=1_000_000,
               STALL_ENDS_ON_RESTART=1)  # fmt: skip
    assert run.texts() == [STALLED], run.lines
    last_half = 15 * HALF_US
    assert last_half + 4 * HALF_US <= run.lines[0].us <= last_half + 4 * HALF_US + 2_000
    assert (run.stats["stops"], run.stats["starts"]) == (1, 1)
    # Every half after the restart (at about 1.216 s) reaches the listening loop.
    after = (5_000_000 - run.lines[0].us) // HALF_US
    assert run.stats["fed"] >= (15 + after - 1) * 1024, run.stats


def test_a_dma_that_stalls_after_each_restart_is_said_every_3_s(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restarted each 4 halves' time, said at most every 3 s while it lasts."""
    run = _run(firmware, 10_500_000, _quiet(tmp_path), monkeypatch, STALL_FROM_US=1_000_000)
    assert set(run.texts()) == {STALLED} and len(run.lines) == 4, run.lines
    _every_3_s(run.at(STALLED))
    assert 30 <= run.stats["starts"] == run.stats["stops"] <= 40, run.stats


def test_a_stall_is_not_said_during_a_stream_but_as_it_closes(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream (1 s of audio from 0.1 s, its END lost) owns the line until it times
    out; the stall from 0.5 s is said right after, then every 3 s."""
    run = _run(firmware, 12_000_000, _open_stream(tmp_path, 1.0), monkeypatch,
               STALL_FROM_US=500_000)  # fmt: skip
    texts = run.texts()
    assert texts[:2] == [TIMEOUT, STALLED] and set(texts[2:]) == {STALLED}, run.lines
    assert run.lines[1].us - run.lines[0].us < 5_000
    _every_3_s(run.at(STALLED))


@pytest.mark.parametrize("pass_us", [300_000, 1_000_000])
def test_long_loop_passes_are_not_taken_for_a_stall(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pass_us: int
) -> None:
    """Each pass from 1 s on takes longer than the stall's 256 ms (an inference on a
    slow board): the halves came meanwhile, so audio is dropped (mic_overrun), but the
    DMA is not restarted nor said to have stalled."""
    run = _run(firmware, 8_000_000, _quiet(tmp_path), monkeypatch, SLOW_FROM_US=1_000_000,
               SLOW_PASS_US=pass_us)  # fmt: skip
    assert set(run.texts()) == {OVERRUN}, run.lines
    assert (run.stats["starts"], run.stats["stops"]) == (0, 0)


def test_a_working_microphone_says_nothing(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(firmware, 5_000_000, _quiet(tmp_path), monkeypatch)
    assert run.texts() == [] and (run.stats["starts"], run.stats["stops"]) == (0, 0)


# ---------------------------------------------------------------------------------------
# Gap 2: a failed restart, said once and never tried again.


def test_a_failed_restart_is_said_every_3_s_and_tried_again(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SAI error at 1 s, the restart failing: said at once and every 3 s, tried again
    as often (the SAI, left BUSY_RX by the failed start, stopped first)."""
    run = _run(firmware, 10_500_000, _quiet(tmp_path), monkeypatch,
               SAI_ERROR_AT_US=1_000_000, RESTART_FAILS=1)  # fmt: skip
    # The SAI error itself lost audio: one mic_overrun.
    assert sorted(run.texts()) == sorted([FAILED] * 4 + [OVERRUN]), run.lines
    said = run.at(FAILED)
    assert 1_000_000 <= said[0] <= 1_001_000
    _every_3_s(said)
    assert run.stats["starts"] == 4 and run.stats["stops"] == 3, run.stats


def test_a_restart_that_works_again_brings_the_microphone_back(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restart fails until 5 s: tried at 1, 4 and 7 s; the third works, the lines
    stop and the halves reach the listening loop again."""
    run = _run(firmware, 12_000_000, _quiet(tmp_path), monkeypatch,
               SAI_ERROR_AT_US=1_000_000, RESTART_FAILS=1,
               RESTART_FAILS_UNTIL_US=5_000_000)  # fmt: skip
    assert sorted(run.texts()) == sorted([FAILED] * 2 + [OVERRUN]), run.lines
    assert run.stats["starts"] == 3
    # Before the error 15 halves, after the restart at 7 s about 78.
    assert run.stats["fed"] >= (15 + 75) * 1024, run.stats


def test_a_failed_restart_is_not_said_during_a_stream_but_as_it_closes(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restart fails at 0.5 s, while a stream is open (until its timeout, about
    4.9 s): said right after the timeout, then every 3 s."""
    run = _run(firmware, 11_000_000, _open_stream(tmp_path, 1.0), monkeypatch,
               SAI_ERROR_AT_US=500_000, RESTART_FAILS=1)  # fmt: skip
    texts = run.texts()
    # (The SAI error's mic_overrun is not said: a stream was open.)
    assert texts[:2] == [TIMEOUT, FAILED] and set(texts[2:]) == {FAILED}, run.lines
    assert run.lines[1].us - run.lines[0].us < 5_000
    _every_3_s(run.at(FAILED))


# ---------------------------------------------------------------------------------------
# The new stand-in against the HAL the board builds with; main.cc's margin.


def test_the_dma_stop_stand_in_follows_the_hal_source() -> None:
    root = require_path(sdk_path("stm32cubeh7"), "STM32CubeH7 framework tree")
    sai = (root / "Drivers" / "STM32H7xx_HAL_Driver" / "Src" / "stm32h7xx_hal_sai.c").read_text(
        encoding="utf-8", errors="replace"
    )
    start = sai.index("HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *hsai)\n{")
    body = " ".join(sai[start : sai.index("\n}\n", start)].split())
    parts = ["SAI_Disable(hsai)",
             "if ((hsai->State == HAL_SAI_STATE_BUSY_RX) && (hsai->hdmarx != NULL))",
             "if (HAL_DMA_Abort(hsai->hdmarx) != HAL_OK)",
             "if (hsai->hdmarx->ErrorCode != HAL_DMA_ERROR_NO_XFER)", "status = HAL_ERROR;",
             "hsai->State = HAL_SAI_STATE_READY;", "return status;"]  # fmt: skip
    at = 0
    for part in parts:
        at = body.find(part, at)
        assert at >= 0, part


def test_the_stall_margin_is_4_halves(tmp_path: Path) -> None:
    """No compiler needed: 4 halves' time, from the DMA's start (mic_init) on."""
    project = write_kws_project(load_board("stm32h7"), tmp_path / "p", without_tflm=True)
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    assert "constexpr uint32_t kMicStallHalves = 4;" in main
    assert "mic_seen_ms = HAL_GetTick();" in _block(main, "const char *mic_init() {")
