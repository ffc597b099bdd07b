/*
 * Host board glue for `tinyslm emulate --native`: the generated project's
 * core, settings, model and TFLM adapter, compiled with real TFLM for x86,
 * with stdin as the serial RX line and stdout as TX. It stands in for the
 * board's main.cc and is never copied into a board project.
 *
 * Like the boards, a failed TFLM init prints one {"error":...} line; unlike
 * them it then exits (status 2) instead of repeating it forever.
 */
#define _POSIX_C_SOURCE 199309L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "tinyslm_core.h"
#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

static uint8_t line_buf[TINYSLM_MAX_LINE];
static int32_t ids_buf[TINYSLM_SEQ_LEN];
static int8_t scores_buf[TINYSLM_NUM_LABELS];
static tinyslm_app_t app;

static void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  fwrite(data, 1, len, stdout);
  /* One flush per finished line, so a reader on a pipe sees answers as they come. */
  if (len > 0 && data[len - 1] == '\n') fflush(stdout);
}

static uint32_t clock_us(void *ctx) {
  (void)ctx;
#if defined(__unix__) || defined(__APPLE__)
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
#else /* e.g. newlib under an Arm simulator: no clock, so "us" is 0 as the protocol allows */
  return 0;
#endif
}

int main(void) {
  uint8_t chunk[256];
  ssize_t n;

  if (tinyslm_tflm_init() != 0) {
    tinyslm_write_error(serial_write, NULL, "tflm_init_failed", tinyslm_tflm_last_error());
    return 2;
  }
  if (tinyslm_app_setup(&app, &tinyslm_model_info, tinyslm_tflm_infer, serial_write, clock_us,
                        line_buf, sizeof line_buf, ids_buf, scores_buf) != 0) {
    tinyslm_write_error(serial_write, NULL, "app_init_failed", "bad configuration");
    return 2;
  }
  /* read(), not fread(): feed whatever arrived, as a UART interrupt would, so an
   * interactive pipe gets each answer without waiting for a full buffer. */
  while ((n = read(0, chunk, sizeof chunk)) > 0) tinyslm_app_feed(&app, chunk, (size_t)n);
  /* A last line without a terminator still gets its answer, as a terminal's EOF would send. */
  tinyslm_app_feed(&app, (const uint8_t *)"\n", 1);
  fflush(stdout);
  return 0;
}
