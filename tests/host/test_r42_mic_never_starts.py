"""A serial stream left open on a board whose microphone never starts must still time out.

The keyword app closes a stream whose frames stopped (its END lost, or the host gone)
after ``TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES`` (2 s) of microphone samples. Before round
42 only ``tinyslm_kws_app_feed_samples`` advanced that count, so on a board whose
microphone did not start (ESP32: ``mic_init`` failed and the loop only slept; STM32: the
same, or "SAI DMA restart failed", after which ``mic_poll`` returned at once) such a
stream stayed open for good: the microphone muted until a reboot, and the bytes of a
half-received frame swallowing a later ``:info``. ``tinyslm_kws_app_idle`` gives the app
the time passed without audio, and both boards' glue calls it while no microphone runs.

- the app function itself, on the host (a driver below, with the app's C sources);
- the ESP32 glue: the generated ``src/main.cc`` compiled whole against the stand-in
  ESP-IDF headers with test_esp32_kws_loop's harness (simulated clock, the host's bytes
  at 115200 baud), its ``i2s_new_channel`` refusing;
- the STM32 glue: the generated ``src/main.cc``'s declarations, microphone functions and
  main loop body cut out (as test_stm32_rx_ring does: no emulator models the SAI) and
  run with stand-in HAL pieces on a simulated clock, with a microphone that never
  starts and with one whose DMA restart fails half way through the stream.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from esp32_fakes import build_firmware, require_host_compilers, run_firmware
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from test_esp32_kws_loop import APP_SOURCES, HARNESS
from test_stm32_rx_ring import _block

from tinyslm.audio.frames import FRAME_AUDIO, FRAME_START, encode_frame, encode_stream
from tinyslm.boards import load_board
from tinyslm.pipeline import run_generate
from tinyslm.toolchain import ccompile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
COMMON = REPO / "firmware" / "common"
TIMEOUT = '{"error":"stream_timeout"}'
BYTE_US = 86.8  # 115200 baud, 8N1
STREAM_FROM_US = 100_000  # both harnesses: the host starts sending at 0.1 s
TIMEOUT_US = 2_000_000  # TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES at 16 kHz

# ---------------------------------------------------------------------------------------
# The app function.

APP_DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyslm_kws_app.h"

static void write_out(const char *data, size_t len, void *ctx) {
  (void)ctx;
  fputs("W ", stdout);
  fwrite(data, 1, len, stdout);
}

static int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  (void)features;
  (void)n;
  (void)ctx;
  memset(scores, -128, 3);
  return 0;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  while (s[0] != 0 && s[1] != 0 && n < cap) {
    char pair[3] = {s[0], s[1], 0};
    out[n++] = (uint8_t)strtoul(pair, 0, 16);
    s += 2;
  }
  return n;
}

int main(int argc, char **argv) {
  static tinyslm_kws_app_t app, never_ready;
  static uint8_t bytes[4096];
  static int16_t quiet[4096];
  static const char *const labels[] = {"_silence_", "_unknown_", "yes"};
  tinyslm_kws_model_info_t info;
  int i;

  memset(&info, 0, sizeof(info));
  info.labels = labels;
  info.num_labels = 3;
  info.detector.num_labels = 3;
  info.detector.window = 3;
  info.detector.threshold_q = 51;
  info.detector.suppression_ms = 1000;
  info.detector.non_keyword_mask = 3;
  info.stride_frames = 2;
  info.threshold_milli = 699;
  info.model_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  info.ops = "CONV_2D";
  info.board = "host";
  info.version = "0.1.0";
  /* Before init, and on an app whose init was refused: nothing, whatever n. */
  tinyslm_kws_app_idle(0, 40000u);
  tinyslm_kws_app_idle(&never_ready, (size_t)-1);
  if (tinyslm_kws_app_setup(&app, &info, infer, write_out, 0) != 0) {
    puts("X");
    return 0;
  }
  for (i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (a[0] == 's') {
      tinyslm_kws_app_feed(&app, bytes, unhex(a + 2, bytes, sizeof(bytes)));
    } else if (a[0] == 'i') {
      tinyslm_kws_app_idle(&app, strcmp(a + 2, "max") == 0 ? (size_t)-1
                                                          : (size_t)strtoul(a + 2, 0, 10));
    } else if (a[0] == 'm') {
      (void)tinyslm_kws_app_feed_samples(&app, quiet, (size_t)strtoul(a + 2, 0, 10));
    } else if (a[0] == 'p') {
      printf("S open %u idle %lu frames %lu\n", (unsigned)app.serial_stream,
             (unsigned long)app.stream_idle, (unsigned long)app.listen.frames);
    } else {
      return 2;
    }
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def app_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("kws_app_idle")
    (root / "driver.c").write_text(APP_DRIVER, encoding="utf-8")
    sources = [
        AUDIO / f"{n}.c"
        for n in ("tinyslm_kws_app", "tinyslm_listen", "tinyslm_audio_frontend",
                  "tinyslm_kws_detector", "tinyslm_audio_frames")
    ] + [COMMON / "tinyslm_json.c", root / "driver.c"]  # fmt: skip
    return ccompile.compile_executable(
        sources, root / "driver", include_dirs=[AUDIO, COMMON],
        cflags=["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic"],
    )  # fmt: skip


def _drive(exe: Path, *ops: str | bytes) -> list[str]:
    args = [f"s:{op.hex()}" if isinstance(op, bytes) else op for op in ops]
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


START = encode_frame(FRAME_START, 0)
AUDIO_FRAME = encode_frame(FRAME_AUDIO, 1, bytes(200))
NEXT_AUDIO_FRAME = encode_frame(FRAME_AUDIO, 2, bytes(200))


def test_idle_time_closes_an_open_stream_at_its_exact_timeout(app_driver: Path) -> None:
    out = _drive(
        app_driver,
        "i:40000", "p",  # no stream open: nothing to advance
        START, AUDIO_FRAME, "i:31999", "p",  # one sample short
        NEXT_AUDIO_FRAME, "i:31999", "p",  # a frame starts the wait again
        "i:1", "p",  # the 32,000th sample's time: closed
        "i:40000", "p",  # and nothing more
    )  # fmt: skip
    assert out == [
        "S open 0 idle 0 frames 0",
        "S open 1 idle 31999 frames 0",
        "S open 1 idle 31999 frames 0",
        f"W {TIMEOUT}",
        "S open 0 idle 0 frames 0",
        "S open 0 idle 0 frames 0",
    ]


def test_idle_time_and_dropped_microphone_samples_count_together(app_driver: Path) -> None:
    out = _drive(app_driver, START, "m:16000", "i:15999", "p", "m:1", "p")
    assert out == ["S open 1 idle 31999 frames 0", f"W {TIMEOUT}", "S open 0 idle 0 frames 0"]


def test_any_idle_count_is_handled_and_hears_no_audio(app_driver: Path) -> None:
    # SIZE_MAX: the count cannot overflow; the listening loop was given no samples.
    out = _drive(app_driver, START, "i:max", "p", "i:max", "p")
    assert out == [f"W {TIMEOUT}", "S open 0 idle 0 frames 0", "S open 0 idle 0 frames 0"]


def test_a_half_frame_no_longer_swallows_a_command_after_the_timeout(app_driver: Path) -> None:
    out = _drive(app_driver, START + AUDIO_FRAME[:40], "i:32000", b":info\n")
    assert out[0] == f"W {TIMEOUT}"
    assert len(out) == 2 and out[1].startswith('W {"info":{"version":"0.1.0","board":"host"')


# ---------------------------------------------------------------------------------------
# The ESP32 glue: test_esp32_kws_loop's harness, with i2s_new_channel refusing.

NO_I2S = '  if (getenv("TINYSLM_TEST_NO_I2S") != nullptr) return ESP_ERR_NOT_FOUND;\n'
NEW_CHANNEL = "  if (channel_taken || tx != nullptr || rx == nullptr"


def _lost_end_stream(tmp_path: Path, seconds: float) -> tuple[Path, float]:
    """``seconds`` of quiet audio framed as the host sends it, its END lost and the last
    AUDIO frame cut off half way; and when the last whole frame's last byte arrives (us),
    from which the stream's timeout counts."""
    rng = np.random.default_rng(0)
    samples = rng.integers(-200, 200, size=int(16000 * seconds), dtype=np.int16)
    frames = list(encode_stream(samples))[:-1]
    frames[-1] = frames[-1][: len(frames[-1]) // 2]
    data = b"".join(frames)
    path = tmp_path / "stream.bin"
    path.write_bytes(data)
    return path, STREAM_FROM_US + (len(data) - len(frames[-1])) * BYTE_US


@pytest.fixture(scope="module")
def esp32_no_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("esp32_no_mic")
    project = root / "p"
    run_generate("esp32", project, model_dir=keyword_model_dir(root / "model"))
    assert NEW_CHANNEL in HARNESS, "test_esp32_kws_loop's i2s_new_channel changed"
    harness = HARNESS.replace(NEW_CHANNEL, NO_I2S + NEW_CHANNEL, 1)
    needles = ("mic_init_failed", "vTaskDelay(pdMS_TO_TICKS(10))")
    return build_firmware(root, project / "src", list(APP_SOURCES), harness, "kws_no_mic", needles)


def _esp32_run(exe: Path, end_us: float, stream: Path) -> tuple[list[str], dict[str, int]]:
    lines, stats = run_firmware([str(exe), str(int(end_us)), "0", str(stream)])
    return lines.get("W", []), stats


def test_esp32_without_a_microphone_a_stream_left_open_times_out(
    esp32_no_mic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYSLM_TEST_NO_I2S", "1")
    stream, frame_us = _lost_end_stream(tmp_path, 1.0)
    failed = '{"error":"mic_init_failed","reason":"I2S port taken or no memory for it"}'
    # Not before its 2 s (10 ms sleeps and the loop's own time: within 30 ms of it) ...
    early, stats = _esp32_run(esp32_no_mic, frame_us + TIMEOUT_US - 30_000, stream)
    assert early == [failed] and stats["serial_lost"] == 0
    # ... and then, once, with the loop still letting the idle task run (the microphone
    # said again after it, every 3 s: test_r46_esp32_kws_mic).
    written, stats = _esp32_run(esp32_no_mic, frame_us + TIMEOUT_US + 30_000, stream)
    assert written[:2] == [failed, TIMEOUT] and set(written[2:]) <= {failed}
    written, stats = _esp32_run(esp32_no_mic, frame_us + 10_000_000, stream)
    assert written[:2] == [failed, TIMEOUT] and set(written[2:]) == {failed}
    assert stats["wdt"] == 0


# ---------------------------------------------------------------------------------------
# The STM32 glue: main.cc's pieces on stand-in HAL pieces.

STM32_HARNESS = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tinyslm_audio_config.h"
#include "tinyslm_json.h"
#include "tinyslm_kws_app.h"
#include "tinyslm_settings.h"

// The HAL pieces the cut-out code uses.
typedef enum { HAL_OK = 0, HAL_ERROR = 1 } HAL_StatusTypeDef;
typedef enum {
  HAL_SAI_STATE_RESET, HAL_SAI_STATE_READY, HAL_SAI_STATE_BUSY_RX
} HAL_SAI_StateTypeDef;
struct UART_HandleTypeDef { int unused; };
struct SAI_HandleTypeDef { int unused; };
struct DMA_HandleTypeDef { int unused; };
uint32_t HAL_GetTick(void);
HAL_SAI_StateTypeDef HAL_SAI_GetState(SAI_HandleTypeDef *h);
HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *h, uint8_t *data, uint16_t size);
// mic_poll stops the DMA stream before a restart (a DMA error leaves it running).
#define HAL_DMA_ERROR_NO_XFER 0x00000080U
HAL_StatusTypeDef HAL_DMA_Abort(DMA_HandleTypeDef *h) { (void)h; return HAL_OK; }
uint32_t HAL_DMA_GetError(DMA_HandleTypeDef *h) { (void)h; return 0; }
HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h);  // a stalled SAI (none here)
void SCB_InvalidateDCache_by_Addr(void *addr, int32_t size) { (void)addr; (void)size; }

namespace {
void serial_write(const char *data, size_t len, void *ctx);
uint32_t clock_us(void *ctx);

{declarations}

{functions}

int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  (void)features;
  (void)n;
  (void)ctx;
  for (uint32_t i = 0; i < TINYSLM_NUM_LABELS; ++i) scores[i] = -128;
  return 0;
}

constexpr uint64_t kPassUs = 37;  // one pass of the main loop
uint64_t now = 0, end_us = 0, mic_from_us = 0, mic_fails_us = 0, halves_due = 0;
bool sai_aborted = false;
std::vector<uint8_t> host;
size_t host_at = 0;
uint64_t later_at_us = 0;
std::vector<uint8_t> later;
size_t later_at = 0;
std::string written;

void finish() {
  size_t from = 0;
  for (size_t nl; (nl = written.find('\n', from)) != std::string::npos; from = nl + 1) {
    printf("W %s\n", written.substr(from, nl - from).c_str());
  }
  printf("S time_us %llu code 0\n", static_cast<unsigned long long>(now));
  fflush(stdout);
  exit(0);
}

void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  // Each line with the time it went out: "<us> <line>".
  if (written.empty() || written.back() == '\n') written += std::to_string(now) + " ";
  written.append(data, len);
}

// Bytes of `src` the line has delivered by now (115200 8N1: 86.8 us each) into the ring.
void deliver(const std::vector<uint8_t> &src, size_t &at, uint64_t from_us) {
  if (now < from_us) return;
  const size_t arrived = std::min(src.size(), static_cast<size_t>((now - from_us) * 10 / 868));
  while (at < arrived) {
    const uint32_t next = (rx_head + 1u) & (kRxRing - 1u);
    if (next == rx_tail) break;  // full: the host waits (only the pace matters here)
    rx_ring[rx_head] = src[at++];
    rx_head = next;
  }
}

// The simulated clock; called once a pass (and by the listening loop): time moves, the
// line and the DMA deliver, the run ends.
uint32_t clock_us(void *ctx) {
  (void)ctx;
  now += kPassUs;
  if (now >= end_us) finish();
  deliver(host, host_at, 100000);
  if (host_at == host.size()) deliver(later, later_at, later_at_us);
  if (mic_running && !sai_aborted) {
    const uint64_t half_us = uint64_t{kMicHalf} * 1000000u / TINYSLM_AUDIO_SAMPLE_RATE;
    while (mic_from_us + (halves_due + 1) * half_us <= now) {
      ++halves_due;
      mic_halves = mic_halves + 1u;
    }
    if (mic_fails_us != 0 && now >= mic_fails_us) sai_aborted = true;  // a SAI error
  }
  return static_cast<uint32_t>(now);
}

}  // namespace

uint32_t HAL_GetTick(void) { return static_cast<uint32_t>(now / 1000); }
HAL_SAI_StateTypeDef HAL_SAI_GetState(SAI_HandleTypeDef *h) {
  (void)h;
  return sai_aborted ? HAL_SAI_STATE_READY : HAL_SAI_STATE_BUSY_RX;
}
HAL_StatusTypeDef HAL_SAI_Receive_DMA(SAI_HandleTypeDef *h, uint8_t *data, uint16_t size) {
  (void)h;
  (void)data;
  (void)size;
  return HAL_ERROR;  // the restart fails
}
HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h) {
  (void)h;
  sai_aborted = true;  // READY
  return HAL_OK;
}

static std::vector<uint8_t> slurp(const char *path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// stm32_no_mic END_US MIC_FAILS_US(0: never starts) STREAM LATER LATER_AT_US
int main(int argc, char **argv) {
  if (argc != 6) return 2;
  end_us = strtoull(argv[1], nullptr, 10);
  mic_fails_us = strtoull(argv[2], nullptr, 10);
  host = slurp(argv[3]);
  later = slurp(argv[4]);
  later_at_us = strtoull(argv[5], nullptr, 10);
  mic_running = mic_fails_us != 0;  // mic_init's result
  if (tinyslm_kws_app_setup(&app, &tinyslm_kws_model_info, infer, serial_write, clock_us) != 0) {
    return 3;
  }
  uint8_t chunk[64];
  for (;;) {
{loop_body}
  }
}
"""


@pytest.fixture(scope="module")
def stm32_no_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("stm32_no_mic")
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    declarations, functions = stm32_main_parts(main)
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    assert "mic_poll();" in loop and "tinyslm_kws_app_feed(" in loop, "the main loop moved"
    harness = (
        STM32_HARNESS.replace("{declarations}", declarations)
        .replace("{functions}", functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, harness, root, "stm32_no_mic")


@pytest.mark.parametrize("mic_fails_us", [0, 500_000], ids=["never-starts", "restart-fails"])
def test_stm32_without_a_microphone_a_stream_left_open_times_out(
    stm32_no_mic: Path, tmp_path: Path, mic_fails_us: int
) -> None:
    """The host streams 1 s of audio, its END lost and its last frame cut off half way;
    3 s after its last byte it asks ``:info``. The stream must close 2 s after its last
    frame (the loop counts whole milliseconds: within a few of it), and the command
    after it must be answered, not taken as the half frame's bytes."""
    stream, frame_us = _lost_end_stream(tmp_path, 1.0)
    info = tmp_path / "info.bin"
    info.write_bytes(b":info\n")
    info_at = frame_us + 3_000_000
    args = [str(stm32_no_mic), str(int(info_at + 500_000)), str(mic_fails_us), str(stream),
            str(info), str(int(info_at))]  # fmt: skip
    lines, _ = run_firmware(args)
    written = [(int(t), line) for t, _, line in (w.partition(" ") for w in lines.get("W", []))]
    if mic_fails_us:
        # Not while the stream is open (round 47): said as it closes, right after its
        # timeout; tried again and said again every 3 s, the next after the run's end.
        failed = '{"error":"mic_failed","reason":"SAI DMA restart failed"}'
        assert [line for _, line in written].count(failed) == 1, written
        at = [line for _, line in written].index(failed)
        assert at == 1 and written[1][0] - written[0][0] < 5_000, written
        written = written[:1] + written[2:]
    assert [line for _, line in written][:1] == [TIMEOUT], written
    assert frame_us + TIMEOUT_US - 2_000 <= written[0][0] <= frame_us + TIMEOUT_US + 5_000
    assert len(written) == 2 and written[1][1].startswith('{"info":{"version":')
    assert written[1][0] >= info_at
