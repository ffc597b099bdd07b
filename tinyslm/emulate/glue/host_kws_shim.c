/*
 * Host shim for `tinyslm emulate` on a keyword project: wraps the project's own
 * keyword app (tinyslm_kws_app.c with the listening loop, front end, detector,
 * frame parser and JSON writer) and its generated settings and model array in a
 * flat C API that Python loads with ctypes. Inference, serial output and the
 * clock are callbacks into Python, so the app runs exactly the code a board runs
 * while TFLM's Python runtime stands in for the TFLM adapter.
 */
#include <stddef.h>
#include <stdint.h>

#include "tinyslm_kws_app.h"
#include "tinyslm_model_data.h"
#include "tinyslm_settings.h"

/* The app holds the feature window, the front end and the frame buffer: static, as
 * on the board, not on the caller's stack. */
static tinyslm_kws_app_t app;
static int ready;
static uint32_t heard;     /* keyword hook calls */
static uint32_t bad_heard; /* of those, calls whose index and name disagree */

/* The hook the board glue registers for src/tinyslm_actions.c, counted here so that
 * Python can hold it to the detection lines (a user's actions are board code, not run). */
static void emu_on_keyword(const tinyslm_keyword_t *kw, void *ctx) {
  (void)ctx;
  heard++;
  if (kw->index >= tinyslm_kws_model_info.num_labels ||
      kw->keyword != tinyslm_kws_model_info.labels[kw->index]) {
    bad_heard++;
  }
}

/* Returns 0, or -1 when the app refuses the generated model info. */
int tinyslm_kws_emu_init(tinyslm_listen_infer_fn infer, tinyslm_write_fn write,
                         tinyslm_listen_clock_fn clock) {
  ready = tinyslm_kws_app_setup(&app, &tinyslm_kws_model_info, infer, write, clock) == 0;
  if (ready) tinyslm_kws_app_on_keyword(&app, emu_on_keyword, 0);
  return ready ? 0 : -1;
}

/* Keyword hook calls so far, and how many of them had values that disagree. */
uint32_t tinyslm_kws_emu_heard(void) { return heard; }
uint32_t tinyslm_kws_emu_bad_heard(void) { return bad_heard; }

/* Raw serial bytes (audio frames and ':' commands), as the board's UART loop feeds them. */
void tinyslm_kws_emu_feed(const uint8_t *data, size_t len) {
  if (ready) tinyslm_kws_app_feed(&app, data, len);
}

/* Settings that are macros (no symbol to read from Python). */
uint32_t tinyslm_kws_emu_features(void) { return TINYSLM_KWS_FEATURES; }
uint32_t tinyslm_kws_emu_frames(void) { return TINYSLM_KWS_FRAMES; }
uint32_t tinyslm_kws_emu_num_labels(void) { return TINYSLM_NUM_LABELS; }
const char *tinyslm_kws_emu_model_sha256(void) { return tinyslm_kws_model_info.model_sha256; }

/* The level label i must reach to fire (its own, or threshold_q); i == num_labels: the
 * detector's threshold_q, as the detector reads tinyslm_kws_model_info. Checked against
 * the manifest so that a hand-edited tinyslm_settings.{h,c} is named, not run. */
int32_t tinyslm_kws_emu_threshold_q(uint32_t i) {
  const tinyslm_kws_detector_config_t *d = &tinyslm_kws_model_info.detector;
#ifndef TINYSLM_EMU_NO_LABEL_LEVELS /* a project from before label thresholds has none */
  if (d->label_threshold_q != NULL && i < tinyslm_kws_model_info.num_labels) {
    return d->label_threshold_q[i];
  }
#else
  (void)i;
#endif
  return d->threshold_q;
}

/* The rest of the streaming rule and the threshold :info prints, as compiled: checked
 * against the manifest too (an edited threshold_milli made :info report 0.500 while the
 * detector ran at 0.699; an edited TINYSLM_KWS_AVERAGE surfaced only as a parity
 * difference that named no file). */
uint32_t tinyslm_kws_emu_threshold_milli(void) { return tinyslm_kws_model_info.threshold_milli; }
uint32_t tinyslm_kws_emu_average(void) { return tinyslm_kws_model_info.detector.window; }
uint32_t tinyslm_kws_emu_stride_frames(void) { return tinyslm_kws_model_info.stride_frames; }
uint32_t tinyslm_kws_emu_suppression_ms(void) {
  return tinyslm_kws_model_info.detector.suppression_ms;
}
uint32_t tinyslm_kws_emu_non_keyword_mask(void) {
  return (uint32_t)tinyslm_kws_model_info.detector.non_keyword_mask;
}
