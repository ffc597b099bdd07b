/*
 * Host board glue for `tinyslm emulate --native` on a keyword project: the
 * project's keyword app (listening loop, front end, detector, frame parser),
 * settings, model and TFLM adapter compiled with real TFLM for x86, with stdin
 * as the serial RX line (the framed PCM that `tinyslm monitor --wav` sends a
 * board) and stdout as TX. It stands in for the board's main.cc and is never
 * copied into a board project. A text project gets native_main.c instead: the
 * builder picks the main by the project's modality, so neither main carries the
 * other's app.
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

#include "tinyslm_json.h"
#include "tinyslm_kws_app.h"
#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

/* The feature window, front end and frame buffer: static, as on the board. */
static tinyslm_kws_app_t app;

static void serial_write(const char *data, size_t len, void *ctx) {
  (void)ctx;
  fwrite(data, 1, len, stdout);
  /* One flush per finished line, so a reader on a pipe sees detections as they come. */
  if (len > 0 && data[len - 1] == '\n') fflush(stdout);
}

static uint32_t clock_us(void *ctx) {
  (void)ctx;
#if defined(__unix__) || defined(__APPLE__)
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
#else
  return 0;
#endif
}

/* The listening loop's infer callback: the model's int8 window through the adapter. */
static int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  (void)ctx;
  return tinyslm_tflm_invoke(features, n * sizeof(int8_t), scores);
}

int main(void) {
  uint8_t chunk[4096];
  ssize_t n;

  if (tinyslm_tflm_init() != 0) {
    tinyslm_write_error(serial_write, NULL, "tflm_init_failed", tinyslm_tflm_last_error());
    return 2;
  }
  if (tinyslm_kws_app_setup(&app, &tinyslm_kws_model_info, infer, serial_write, clock_us) != 0) {
    tinyslm_write_error(serial_write, NULL, "app_init_failed", "bad configuration");
    return 2;
  }
  /* read(), not fread(): feed whatever arrived, as a UART interrupt would. */
  while ((n = read(0, chunk, sizeof chunk)) > 0) tinyslm_kws_app_feed(&app, chunk, (size_t)n);
  fflush(stdout);
  return 0;
}
