"""The STM32H7 microphone restarts after a DMA direct-mode error (round 45).

``HAL_DMA_Start_IT`` arms ``DMA_IT_DME`` and the glue runs its stream in direct mode. On
a direct-mode error ``HAL_DMA_IRQHandler`` only records ``HAL_DMA_ERROR_DME``
(stm32h7xx_hal_dma.c, V1.11.3: the stream is disabled for a transfer error only), so the
stream stays enabled and its handle ``BUSY``; ``SAI_DMAError`` then disables the SAI
and sets it ``READY`` without touching the DMA (stm32h7xx_hal_sai.c). ``mic_poll`` saw
``READY`` and called ``HAL_SAI_Receive_DMA``, whose ``HAL_DMA_Start_IT`` refuses a
handle that is not ``READY`` (``HAL_DMA_ERROR_BUSY``): ``mic_failed``, the microphone off
until a reset. It now stops the stream first (``HAL_DMA_Abort``, thread context).

No emulator models the SAI or DMA1, and the HAL's own sources drive registers at fixed
Cortex-M addresses, so, as test_r42_mic_never_starts does, the generated ``main.cc``'s
declarations and microphone functions are cut out and run on the host against stand-ins
of the HAL calls they make. The stand-ins follow the HAL's sources state for state
(each cites its function); the generated file is also compiled and linked against the
real HAL by test_kws_glue_stm32.py (``-Wall -Wextra -Werror``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from shared_paths import require_path, sdk_path

from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

HARNESS = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>

#include "tinyslm_audio_config.h"
#include "tinyslm_json.h"
#include "tinyslm_kws_app.h"
#include "tinyslm_settings.h"

// Stand-ins of the HAL (STM32CubeH7 V1.11.3) for what mic_poll calls, state for state.
typedef enum { HAL_OK = 0, HAL_ERROR = 1, HAL_BUSY = 2, HAL_TIMEOUT = 3 } HAL_StatusTypeDef;
typedef enum {
  HAL_SAI_STATE_RESET, HAL_SAI_STATE_READY, HAL_SAI_STATE_BUSY, HAL_SAI_STATE_BUSY_TX,
  HAL_SAI_STATE_BUSY_RX
} HAL_SAI_StateTypeDef;
typedef enum {
  HAL_DMA_STATE_RESET, HAL_DMA_STATE_READY, HAL_DMA_STATE_BUSY, HAL_DMA_STATE_ERROR,
  HAL_DMA_STATE_ABORT
} HAL_DMA_StateTypeDef;
#define HAL_DMA_ERROR_NONE 0x00000000U
#define HAL_DMA_ERROR_DME 0x00000004U
#define HAL_DMA_ERROR_TIMEOUT 0x00000020U
#define HAL_DMA_ERROR_NO_XFER 0x00000080U
#define HAL_DMA_ERROR_BUSY 0x00000800U
struct UART_HandleTypeDef { int unused; };
struct DMA_HandleTypeDef {
  HAL_DMA_StateTypeDef State;
  uint32_t ErrorCode;
  bool enabled;  // the stream's EN bit
  bool stuck;    // EN never clears (HAL_DMA_Abort's 5 ms timeout)
};
struct SAI_HandleTypeDef {
  HAL_SAI_StateTypeDef State;
  DMA_HandleTypeDef *hdmarx;
  bool enabled;  // SAIEN
};
uint32_t HAL_GetTick(void) { return 0; }
HAL_SAI_StateTypeDef HAL_SAI_GetState(SAI_HandleTypeDef *h);
HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *h, uint8_t *data, uint16_t size);
HAL_StatusTypeDef HAL_DMA_Abort(DMA_HandleTypeDef *h);
uint32_t HAL_DMA_GetError(DMA_HandleTypeDef *h);
HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h);
void SCB_InvalidateDCache_by_Addr(void *addr, int32_t size) { (void)addr; (void)size; }

namespace {
void serial_write(const char *data, size_t len, void *ctx);
uint32_t clock_us(void *ctx);

{declarations}

{functions}

std::string written;
int aborts = 0, starts = 0;

void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  written.append(data, len);
}
uint32_t clock_us(void *ctx) {
  (void)ctx;
  return 0;
}
int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  (void)features;
  (void)n;
  (void)ctx;
  for (uint32_t i = 0; i < TINYSLM_NUM_LABELS; ++i) scores[i] = -128;
  return 0;
}

// HAL_DMA_Start_IT: only a READY handle starts (BUSY, error code cleared, EN set);
// any other gets HAL_DMA_ERROR_BUSY and answers HAL_ERROR, its state unchanged.
HAL_StatusTypeDef dma_start_it(DMA_HandleTypeDef *h) {
  ++starts;
  if (h->State != HAL_DMA_STATE_READY) {
    h->ErrorCode = HAL_DMA_ERROR_BUSY;
    return HAL_ERROR;
  }
  h->State = HAL_DMA_STATE_BUSY;
  h->ErrorCode = HAL_DMA_ERROR_NONE;
  h->enabled = true;
  return HAL_OK;
}

// HAL_DMA_IRQHandler on DMEIF: the error code only (the stream runs on, BUSY), then
// the XferErrorCallback HAL_SAI_Receive_DMA set, SAI_DMAError: not a FIFO error, so the
// SAI's DMA request and the SAI are disabled and the SAI is READY; the DMA is left.
void direct_mode_error() {
  hdma_sai.ErrorCode |= HAL_DMA_ERROR_DME;
  hsai.enabled = false;
  hsai.State = HAL_SAI_STATE_READY;
}

// HAL_SAI_IRQHandler on AFSDET/LFSDET/WCKCFG: HAL_DMA_Abort_IT (stream disabled, ABORT),
// the IRQ handler's transfer-complete branch in ABORT (READY), then SAI_DMAAbort (READY).
void sai_error() {
  hdma_sai.enabled = false;
  hdma_sai.State = HAL_DMA_STATE_READY;
  hsai.enabled = false;
  hsai.State = HAL_SAI_STATE_READY;
}

}  // namespace

HAL_SAI_StateTypeDef HAL_SAI_GetState(SAI_HandleTypeDef *h) { return h->State; }

// HAL_SAI_Receive_DMA: HAL_BUSY unless READY; BUSY_RX before HAL_DMA_Start_IT, which
// failing answers HAL_ERROR with the SAI left BUSY_RX; else the SAI enabled.
HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *h, uint8_t *data, uint16_t size) {
  if (data == nullptr || size == 0u) return HAL_ERROR;
  if (h->State != HAL_SAI_STATE_READY) return HAL_BUSY;
  h->State = HAL_SAI_STATE_BUSY_RX;
  if (dma_start_it(h->hdmarx) != HAL_OK) return HAL_ERROR;
  h->enabled = true;
  return HAL_OK;
}

// HAL_DMA_Abort: a handle not BUSY gets HAL_DMA_ERROR_NO_XFER and HAL_ERROR, nothing
// else changed; a stream whose EN does not clear in 5 ms is ERROR (TIMEOUT); else it is
// disabled, its flags cleared and READY.
HAL_StatusTypeDef HAL_DMA_Abort(DMA_HandleTypeDef *h) {
  ++aborts;
  if (h->State != HAL_DMA_STATE_BUSY) {
    h->ErrorCode = HAL_DMA_ERROR_NO_XFER;
    return HAL_ERROR;
  }
  if (h->stuck) {
    h->ErrorCode = HAL_DMA_ERROR_TIMEOUT;
    h->State = HAL_DMA_STATE_ERROR;
    return HAL_ERROR;
  }
  h->enabled = false;
  h->State = HAL_DMA_STATE_READY;
  return HAL_OK;
}

uint32_t HAL_DMA_GetError(DMA_HandleTypeDef *h) { return h->ErrorCode; }

// HAL_SAI_DMAStop (round 47: mic_poll stops a SAI that is not READY first; test_r47_stm32mic_failed
// checks it against the source): the SAI disabled, a BUSY_RX SAI's stream aborted (HAL_ERROR
// unless that answers NO_XFER), the SAI READY whatever it answers.
HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h) {
  HAL_StatusTypeDef status = HAL_OK;
  h->enabled = false;
  if (h->State == HAL_SAI_STATE_BUSY_RX && HAL_DMA_Abort(h->hdmarx) != HAL_OK &&
      h->hdmarx->ErrorCode != HAL_DMA_ERROR_NO_XFER) {
    status = HAL_ERROR;
  }
  h->State = HAL_SAI_STATE_READY;
  return status;
}

// mic_restart dme|sai|stuck: the microphone running, then that error, then two passes
// of mic_poll; then a DMA half completes and one more pass takes it.
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  if (tinyslm_kws_app_setup(&app, &tinyslm_kws_model_info, infer, serial_write, clock_us) != 0) {
    return 3;
  }
  // As mic_init leaves them.
  hsai.hdmarx = &hdma_sai;
  hdma_sai.State = HAL_DMA_STATE_READY;
  hsai.State = HAL_SAI_STATE_READY;
  if (HAL_SAI_Receive_DMA(&hsai, reinterpret_cast<uint8_t *>(tinyslm_mic_dma), 2) != HAL_OK) {
    return 4;
  }
  mic_running = true;
  mic_halves = 3;  // some audio heard
  mic_taken = 3;
  starts = 0;
  if (strcmp(argv[1], "sai") == 0) {
    sai_error();
  } else {
    hdma_sai.stuck = strcmp(argv[1], "stuck") == 0;
    direct_mode_error();
  }
  mic_poll();
  mic_poll();
  const uint32_t frames = app.listen.frames;
  if (mic_running && hsai.State == HAL_SAI_STATE_BUSY_RX) mic_halves = mic_halves + 1u;
  mic_poll();
  size_t from = 0;
  for (size_t nl; (nl = written.find('\n', from)) != std::string::npos; from = nl + 1) {
    printf("W %s\n", written.substr(from, nl - from).c_str());
  }
  printf("S running %d sai_busy_rx %d sai_on %d dma %d dma_on %d starts %d aborts %d "
         "fed %d\n",
         mic_running ? 1 : 0, hsai.State == HAL_SAI_STATE_BUSY_RX ? 1 : 0, hsai.enabled ? 1 : 0,
         static_cast<int>(hdma_sai.State), hdma_sai.enabled ? 1 : 0, starts, aborts,
         app.listen.frames > frames ? 1 : 0);
  return 0;
}
"""

DMA_BUSY, DMA_READY, DMA_ERROR = 2, 1, 3
FAILED = '{"error":"mic_failed","reason":"SAI DMA restart failed"}'


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("stm32_mic_restart")
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    declarations, functions = stm32_main_parts(main)
    assert "void mic_poll()" in functions, "mic_poll moved"
    code = HARNESS.replace("{declarations}", declarations).replace("{functions}", functions)
    return compile_stm32_harness(src, code, root, "mic_restart")


def _run(exe: Path, case: str) -> tuple[list[str], dict[str, int]]:
    proc = subprocess.run([str(exe), case], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    written = [line[2:] for line in proc.stdout.splitlines() if line.startswith("W ")]
    stats_line = [line for line in proc.stdout.splitlines() if line.startswith("S ")][-1]
    words = stats_line.split()[1:]
    return written, {k: int(v) for k, v in zip(words[::2], words[1::2], strict=True)}


def test_a_direct_mode_error_restarts_the_microphone(harness: Path) -> None:
    """The stream left BUSY is stopped, the SAI and DMA start again, audio flows."""
    written, stats = _run(harness, "dme")
    assert FAILED not in written, written
    assert stats["running"] == 1
    assert (stats["sai_busy_rx"], stats["sai_on"]) == (1, 1)
    assert (stats["dma"], stats["dma_on"]) == (DMA_BUSY, 1)
    assert stats["starts"] == 1  # once: the second pass found it running
    assert stats["fed"] == 1  # the next completed half reaches the listening loop


def test_a_sai_error_still_restarts_though_its_dma_is_already_stopped(harness: Path) -> None:
    """HAL_DMA_Abort's HAL_ERROR (NO_XFER) on a stopped stream is not a failure."""
    written, stats = _run(harness, "sai")
    assert FAILED not in written, written
    assert (stats["running"], stats["sai_busy_rx"], stats["dma"]) == (1, 1, DMA_BUSY)
    assert stats["starts"] == 1 and stats["fed"] == 1


def test_a_stream_that_does_not_stop_is_reported_once_and_not_restarted(harness: Path) -> None:
    """HAL_DMA_Abort timing out (ERROR): mic_failed once, no start on a stream still on."""
    written, stats = _run(harness, "stuck")
    assert written == [FAILED]
    assert (stats["running"], stats["starts"], stats["dma"]) == (0, 0, DMA_ERROR)


# ---------------------------------------------------------------------------------------
# The stand-ins against the HAL sources the board builds with.


def _body(source: str, signature: str) -> str:
    """A C function's definition (its signature, then ``{`` on the next line: not the
    prototype) to its closing brace at column 0, whitespace runs made single spaces."""
    start = source.index(signature + "\n{")
    return " ".join(source[start : source.index("\n}\n", start)].split())


def _in_order(text: str, *parts: str) -> bool:
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
    return True


def test_the_stand_ins_follow_the_hal_sources() -> None:
    """What the harness models, read in the STM32CubeH7 HAL the board compiles: a change
    of HAL version that moves any of it fails here rather than passing on stale fakes."""
    root = require_path(sdk_path("stm32cubeh7"), "STM32CubeH7 framework tree")
    src = root / "Drivers" / "STM32H7xx_HAL_Driver" / "Src"
    dma = (src / "stm32h7xx_hal_dma.c").read_text(encoding="utf-8", errors="replace")
    sai = (src / "stm32h7xx_hal_sai.c").read_text(encoding="utf-8", errors="replace")

    abort = _body(dma, "HAL_StatusTypeDef HAL_DMA_Abort(DMA_HandleTypeDef *hdma)")
    assert _in_order(abort, "if(hdma->State != HAL_DMA_STATE_BUSY)",
                     "hdma->ErrorCode = HAL_DMA_ERROR_NO_XFER;", "return HAL_ERROR;")  # fmt: skip
    assert _in_order(abort, "HAL_TIMEOUT_DMA_ABORT", "hdma->ErrorCode = HAL_DMA_ERROR_TIMEOUT;",
                     "hdma->State = HAL_DMA_STATE_ERROR;", "return HAL_ERROR;",
                     "hdma->State = HAL_DMA_STATE_READY;", "return HAL_OK;")  # fmt: skip

    start = _body(
        dma,
        "HAL_StatusTypeDef HAL_DMA_Start_IT(DMA_HandleTypeDef *hdma, uint32_t SrcAddress, "
        "uint32_t DstAddress, uint32_t DataLength)",
    )
    assert _in_order(start, "if(HAL_DMA_STATE_READY == hdma->State)",
                     "hdma->State = HAL_DMA_STATE_BUSY;", "else",
                     "hdma->ErrorCode = HAL_DMA_ERROR_BUSY;", "status = HAL_ERROR;")  # fmt: skip

    # On DMEIF the handler only records the error; the stream is stopped for TE alone.
    irq = _body(dma, "void HAL_DMA_IRQHandler(DMA_HandleTypeDef *hdma)")
    assert "hdma->ErrorCode |= HAL_DMA_ERROR_DME;" in irq
    assert _in_order(irq, "if((hdma->ErrorCode & HAL_DMA_ERROR_TE) != 0U)",
                     "__HAL_DMA_DISABLE(hdma);", "hdma->XferErrorCallback(hdma);")  # fmt: skip
    assert irq.count("__HAL_DMA_DISABLE(hdma);") == 1

    error = _body(sai, "static void SAI_DMAError(DMA_HandleTypeDef *hdma)")
    assert _in_order(error, "if (HAL_DMA_GetError(hdma) != HAL_DMA_ERROR_FE)",
                     "(void) SAI_Disable(hsai);", "hsai->State = HAL_SAI_STATE_READY;")  # fmt: skip
    assert "HAL_DMA_Abort" not in error and "hdma->State" not in error

    receive = _body(
        sai,
        "HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *hsai, uint8_t *pData, "
        "uint16_t Size)",
    )
    assert _in_order(receive, "if (hsai->State == HAL_SAI_STATE_READY)",
                     "hsai->State = HAL_SAI_STATE_BUSY_RX;",
                     "if (HAL_DMA_Start_IT(hsai->hdmarx,", "return HAL_ERROR;",
                     "return HAL_OK;", "return HAL_BUSY;")  # fmt: skip
