/*
 * Host shim for `tinyslm emulate`: wraps a generated project's portable core
 * (tinyslm_core.c + tinyslm_settings.c + tinyslm_model_data.cc) in a flat C API
 * that Python loads with ctypes. Inference, serial output and the clock are
 * callbacks into Python, so the core runs exactly the code a board runs while
 * TFLM's Python runtime stands in for the TFLM adapter.
 *
 * Buffers are sized from the generated settings, as on the board.
 */
#include <stddef.h>
#include <stdint.h>

#include "tinyslm_core.h"
#include "tinyslm_model_data.h"
#include "tinyslm_settings.h"

static uint8_t line_buf[TINYSLM_MAX_LINE];
static int32_t ids_buf[TINYSLM_SEQ_LEN];
static int8_t scores_buf[TINYSLM_NUM_LABELS];
static tinyslm_app_t app;
static int ready;
static uint32_t answers;     /* answer hook calls */
static uint32_t bad_answers; /* of those, calls whose index, name or route disagree */

/* The hook the board glue registers for src/tinyslm_actions.c, counted here so that
 * Python can hold it to the answer lines (a user's actions are board code, not run). */
static void emu_on_answer(const tinyslm_answer_t *a, void *ctx) {
  (void)ctx;
  answers++;
  if (a->index >= tinyslm_model_info.num_labels ||
      a->intent != tinyslm_model_info.labels[a->index] || a->local > 1u || a->by_host > 1u ||
      (a->by_host && !a->local)) {
    bad_answers++;
  }
}

/* Returns 0, or -1 when the core refuses the configuration. */
int tinyslm_emu_init(tinyslm_infer_fn infer, tinyslm_write_fn write, tinyslm_clock_fn clock) {
  ready = tinyslm_app_setup(&app, &tinyslm_model_info, infer, write, clock, line_buf,
                            sizeof line_buf, ids_buf, scores_buf) == 0;
  if (ready) {
    tinyslm_app_on_answer(&app, emu_on_answer, 0);
  }
  return ready ? 0 : -1;
}

/* Answer hook calls so far, and how many of them had values that disagree. */
uint32_t tinyslm_emu_answers(void) { return answers; }
uint32_t tinyslm_emu_bad_answers(void) { return bad_answers; }

/* Feeds raw serial bytes, as the board's UART loop does. */
void tinyslm_emu_feed(const uint8_t *data, size_t len) {
  if (ready) {
    tinyslm_app_feed(&app, data, len);
  }
}

/* The core's tokenizer on its own, for diagnostics; returns non-padding ids. */
size_t tinyslm_emu_tokenize(const uint8_t *text, size_t len, int32_t *ids) {
  return tinyslm_tokenize(&tinyslm_model_info.features, text, len, ids);
}

/* Settings that are macros (no symbol to read from Python). The model array,
 * its length and tinyslm_arena_size are read directly as exported symbols. */
uint32_t tinyslm_emu_seq_len(void) { return TINYSLM_SEQ_LEN; }
uint32_t tinyslm_emu_num_labels(void) { return TINYSLM_NUM_LABELS; }
uint32_t tinyslm_emu_max_line(void) { return TINYSLM_MAX_LINE; }
const char *tinyslm_emu_model_sha256(void) { return tinyslm_model_info.model_sha256; }
/* The level label i is compared with: its own (generate --label-threshold) or the
 * model's threshold_q, as the gate reads tinyslm_model_info; checked against the
 * manifest so that a hand-edited tinyslm_settings.{h,c} is named, not run. */
int32_t tinyslm_emu_threshold_q(uint32_t i) {
#ifndef TINYSLM_EMU_NO_LABEL_LEVELS /* a project from before label thresholds has none */
  if (tinyslm_model_info.label_threshold_q != NULL && i < tinyslm_model_info.num_labels) {
    return tinyslm_model_info.label_threshold_q[i];
  }
#else
  (void)i;
#endif
  return tinyslm_model_info.threshold_q;
}

#ifdef TINYSLM_EMU_COVERAGE
/* gcov's counters are written at process exit; a long-lived host (pytest) asks now. */
extern void __gcov_dump(void);
extern void __gcov_reset(void);
void tinyslm_emu_coverage_dump(void) {
  __gcov_dump();
  __gcov_reset();
}
#endif
