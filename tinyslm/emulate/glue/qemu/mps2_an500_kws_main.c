/*
 * Board glue for `tinyslm emulate --qemu` on a keyword project: the project's
 * keyword app (listening loop, front end, detector, frame parser), settings, model
 * and TFLM adapter (Cortex-M7 build, CMSIS-NN kernels) on QEMU's mps2-an500. It
 * stands in for the board's main.cc and is never copied into a board project.
 *
 * A separate main from the text project's mps2_an500_main.c, not one main with a
 * macro: the builder swaps the file by the project's modality, so no -D has to
 * reach every object (TFLM's cached objects are keyed by their flags) and the text
 * glue's timed code stays as it was. The board I/O (UART, SysTick, semihosting,
 * faults) is both mains' mps2_an500_board.c.
 *
 * - TX is CMSDK APB UART0 (0x40004000), QEMU's first -serial.
 * - RX: the semihosting command line names a host file (second word) whose bytes
 *   are fed in chunks, as a UART interrupt would: the framed PCM that
 *   `tinyslm monitor --wav` sends a board. Then the run ends with SYS_EXIT_EXTENDED.
 *   Without a file, bytes come from UART0 RX forever (interactive).
 * - "us" comes from SysTick on the CPU clock. tinyslm runs QEMU with -icount shift=0,
 *   so one SysTick tick (25 MHz) is 40 instructions: "us" is instructions / 1000.
 * - A third word "listen" makes the file raw PCM (int16 LE, 16 kHz) fed through the
 *   microphone path, tinyslm_kws_app_feed_samples, in 10 ms blocks (a board hands
 *   larger ones: the STM32H7 a 1024-sample, 64 ms DMA half, the ESP32 20 ms reads;
 *   the loop runs the front end per 20 ms frame and infers per stride whatever the
 *   block, so the block only moves a few calls' overhead): front end + inference +
 *   detector, no frame parser. UART1 (QEMU's
 *   second -serial) then gets {"calibration":{"instructions":N,"ticks":T}} and, at
 *   the end, {"listen":{"samples":S,"inferences":I,"total":T,"inference":T}} in
 *   SysTick ticks: total in feed_samples, inference in the TFLM adapter.
 *
 * Exit status: 0 done, 2 TFLM init failed (an {"error":...} line first), 3 a fault
 * (an {"error":"fault",...} line first).
 */
#include <stddef.h>
#include <stdint.h>

#include "mps2_an500_board.h"
#include "tinyslm_json.h"
#include "tinyslm_kws_app.h"
#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

/* Microphone blocks of the "listen" mode: 10 ms at 16 kHz (not a board's DMA half). */
#define MIC_BLOCK 160u

static tinyslm_kws_app_t app;
static uint64_t infer_ticks;
static uint32_t inferences;

static uint32_t clock_us(void *ctx) {
  (void)ctx;
  return tinyslm_qemu_us();
}

static int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  const uint64_t t0 = tinyslm_qemu_ticks();
  const int rc = tinyslm_tflm_invoke(features, n * sizeof(int8_t), scores);
  (void)ctx;
  infer_ticks += tinyslm_qemu_ticks() - t0;
  inferences++;
  return rc;
}

static void feed_serial(int handle) {
  static uint8_t chunk[256];
  uint32_t got;
  while ((got = tinyslm_qemu_read(handle, chunk, sizeof chunk)) > 0) {
    tinyslm_kws_app_feed(&app, chunk, got);
  }
}

/* Raw PCM through the microphone path, timed. */
static void feed_microphone(int handle) {
  static uint8_t raw[MIC_BLOCK * 2u];
  static int16_t block[MIC_BLOCK];
  uint64_t total = 0;
  uint64_t samples = 0;
  uint32_t got;
  while ((got = tinyslm_qemu_read(handle, raw, sizeof raw)) > 0) {
    uint32_t i;
    uint64_t t0;
    const uint32_t n = got / 2u;
    for (i = 0; i < n; ++i) {
      block[i] = (int16_t)(uint16_t)((uint32_t)raw[2u * i] | ((uint32_t)raw[2u * i + 1u] << 8));
    }
    t0 = tinyslm_qemu_ticks();
    tinyslm_kws_app_feed_samples(&app, block, n);
    total += tinyslm_qemu_ticks() - t0;
    samples += n;
  }
  tinyslm_qemu_uart1_puts("{\"listen\":{\"samples\":");
  tinyslm_qemu_put_u64(samples);
  tinyslm_qemu_uart1_puts(",\"inferences\":");
  tinyslm_qemu_put_u64(inferences);
  tinyslm_qemu_uart1_puts(",\"total\":");
  tinyslm_qemu_put_u64(total);
  tinyslm_qemu_uart1_puts(",\"inference\":");
  tinyslm_qemu_put_u64(infer_ticks);
  tinyslm_qemu_uart1_puts("}}\n");
}

int main(void) {
  const char *mode;
  int input;

  tinyslm_qemu_board_init(TINYSLM_BAUD_RATE);
  input = tinyslm_qemu_open_input(&mode);
  if (tinyslm_tflm_init() != 0) {
    tinyslm_write_error(tinyslm_qemu_serial_write, NULL, "tflm_init_failed",
                        tinyslm_tflm_last_error());
    return 2;
  }
  if (tinyslm_kws_app_setup(&app, &tinyslm_kws_model_info, infer, tinyslm_qemu_serial_write,
                            clock_us) != 0) {
    tinyslm_write_error(tinyslm_qemu_serial_write, NULL, "app_init_failed", "bad configuration");
    return 2;
  }
  if (input >= 0) {
    if (tinyslm_qemu_word_is(mode, "listen")) {
      tinyslm_qemu_uart1_init(TINYSLM_BAUD_RATE);
      tinyslm_qemu_write_calibration();
      feed_microphone(input);
    } else {
      feed_serial(input);
    }
    tinyslm_qemu_close(input);
    return 0;
  }
  for (;;) { /* interactive: one byte at a time from UART0 RX */
    const uint8_t byte = tinyslm_qemu_getc();
    tinyslm_kws_app_feed(&app, &byte, 1);
  }
}
