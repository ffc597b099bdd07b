/*
 * Board glue for `tinyslm emulate --qemu`: the generated project's core, settings,
 * model and TFLM adapter (Cortex-M7 build, CMSIS-NN kernels) on QEMU's mps2-an500.
 * It stands in for the board's main.cc (which needs the STM32Cube HAL) and is never
 * copied into a board project.
 *
 * - TX is CMSDK APB UART0 (0x40004000), QEMU's first -serial.
 * - RX: when the semihosting command line names a host file (second word), its
 *   bytes are fed in chunks, as a UART interrupt would, then a final "\n" (as
 *   native_main.c does at EOF) and the run ends with SYS_EXIT_EXTENDED. Without a
 *   file, bytes come from UART0 RX forever (interactive, -serial stdio).
 * - "us" comes from SysTick on the CPU clock. tinyslm runs QEMU with -icount shift=0,
 *   so virtual time advances exactly 1 ns per guest instruction and one SysTick tick
 *   (25 MHz) is 40 instructions: "us" is instructions / 1000, not board latency.
 * - A third word on the semihosting command line asks for measurements on UART1
 *   (QEMU's second -serial), one JSON line per answered phrase, in SysTick ticks:
 *   "phases" writes {"tokenize":T,"inference":T,"decision":T}; "ops" also installs a
 *   TFLM MicroProfiler and adds "ops":[["MEAN",T],...] (its own calls cost a few
 *   instructions per op, so take phase figures from a "phases" run). Both start with
 *   {"calibration":{"instructions":N,"ticks":T}} from a loop of known length.
 *
 * Exit status: 0 done, 2 TFLM init failed (an {"error":...} line first, as in
 * native_main.c), 3 a fault (an {"error":"fault",...} line first).
 */
#include <stddef.h>
#include <stdint.h>

#include "mps2_an500_board.h"
#include "tinyslm_core.h"
#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

enum measure_mode { MEASURE_NONE, MEASURE_PHASES, MEASURE_OPS };

/* profiler.cc: the MicroProfiler behind "ops" measurements. */
void tinyslm_qemu_profiler_install(void);
void tinyslm_qemu_profiler_reset(void);
void tinyslm_qemu_profiler_write(void (*put)(const char *s));

static uint8_t line_buf[TINYSLM_MAX_LINE];
static int32_t ids_buf[TINYSLM_SEQ_LEN];
static int8_t scores_buf[TINYSLM_NUM_LABELS];
static tinyslm_app_t app;
static enum measure_mode measure = MEASURE_NONE;
/* Tick stamps of the phrase being answered: the core's first clock call, then the
 * adapter call around Invoke. infer_done says the next clock call ends the phrase. */
static uint64_t t_start, t_infer, t_infer_end;
static int infer_done;

static void write_phases(uint64_t t_end) {
  tinyslm_qemu_uart1_puts("{\"tokenize\":");
  tinyslm_qemu_put_u64(t_infer - t_start);
  tinyslm_qemu_uart1_puts(",\"inference\":");
  tinyslm_qemu_put_u64(t_infer_end - t_infer);
  tinyslm_qemu_uart1_puts(",\"decision\":");
  tinyslm_qemu_put_u64(t_end - t_infer_end);
  if (measure == MEASURE_OPS) tinyslm_qemu_profiler_write(tinyslm_qemu_uart1_puts);
  tinyslm_qemu_uart1_puts("}\n");
}

/* The core calls this at the start of a phrase and, after a successful inference,
 * at its end. The measurement line is written after the end stamp is taken, so it
 * is outside every timed window. */
static uint32_t clock_us(void *ctx) {
  const uint64_t now = tinyslm_qemu_ticks();
  (void)ctx;
  if (measure != MEASURE_NONE) {
    if (infer_done) {
      infer_done = 0;
      write_phases(now);
    } else {
      t_start = now;
    }
  }
  return (uint32_t)(now / (TINYSLM_QEMU_CPU_HZ / 1000000u));
}

static int timed_infer(const int32_t *ids, int8_t *scores, void *ctx) {
  int rc;
  if (measure == MEASURE_NONE) return tinyslm_tflm_infer(ids, scores, ctx);
  if (measure == MEASURE_OPS) tinyslm_qemu_profiler_reset();
  t_infer = tinyslm_qemu_ticks();
  rc = tinyslm_tflm_infer(ids, scores, ctx);
  t_infer_end = tinyslm_qemu_ticks();
  infer_done = rc == 0;
  return rc;
}

static void feed_file(int handle) {
  static uint8_t chunk[256];
  uint32_t got;
  while ((got = tinyslm_qemu_read(handle, chunk, sizeof chunk)) > 0) {
    tinyslm_app_feed(&app, chunk, got);
  }
  tinyslm_qemu_close(handle);
  /* A last line without a terminator still gets its answer. */
  tinyslm_app_feed(&app, (const uint8_t *)"\n", 1);
}

int main(void) {
  const char *mode;
  int input;

  tinyslm_qemu_board_init(TINYSLM_BAUD_RATE);
  /* first: "ops" must install the profiler before TFLM starts */
  input = tinyslm_qemu_open_input(&mode);
  if (tinyslm_qemu_word_is(mode, "phases")) measure = MEASURE_PHASES;
  if (tinyslm_qemu_word_is(mode, "ops")) measure = MEASURE_OPS;
  if (measure == MEASURE_OPS) tinyslm_qemu_profiler_install();
  if (tinyslm_tflm_init() != 0) {
    tinyslm_write_error(tinyslm_qemu_serial_write, NULL, "tflm_init_failed",
                        tinyslm_tflm_last_error());
    return 2;
  }
  if (tinyslm_app_setup(&app, &tinyslm_model_info, timed_infer, tinyslm_qemu_serial_write,
                        clock_us, line_buf, sizeof line_buf, ids_buf, scores_buf) != 0) {
    tinyslm_write_error(tinyslm_qemu_serial_write, NULL, "app_init_failed", "bad configuration");
    return 2;
  }
  if (measure != MEASURE_NONE) {
    tinyslm_qemu_uart1_init(TINYSLM_BAUD_RATE);
    tinyslm_qemu_write_calibration();
  }
  if (input >= 0) {
    feed_file(input);
    return 0;
  }
  for (;;) { /* interactive: one byte at a time from UART0 RX */
    const uint8_t byte = tinyslm_qemu_getc();
    tinyslm_app_feed(&app, &byte, 1);
  }
}
