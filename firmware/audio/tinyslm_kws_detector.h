/*
 * tinyslm keyword detector: one int8 score vector per inference in, at most one
 * detection out. The device mirror of tinyslm/audio/detector.py, which states
 * the rule; tests/host/test_kws_detector.py proves both agree bit for bit.
 *
 * Rule (all integer arithmetic, so host and device cannot disagree):
 *   - keep the last `window` score vectors (a bounded ring, running int32 sums);
 *   - no detection until the ring is full (a half-heard word is not a word);
 *   - the candidate is the label with the largest window sum (lowest index on a
 *     tie); silence, unknown and any other label in non_keyword_mask never fire;
 *   - it fires when sum >= threshold_q * window, i.e. the mean int8 score
 *     reaches threshold_q (or the candidate's own level, when label_threshold_q
 *     is set), and the last detection is at least suppression_ms
 *     earlier (uint32 time, so a wrapping millisecond clock is fine: a
 *     suppression is forgotten at the first push after it has run out, so
 *     a detection 2^32 ms old never looks recent).
 * Scores are TFLM's int8 softmax (scale 1/256, zero point -128); score_milli is
 * the window's mean probability in thousandths, rounded half up.
 *
 * C99, no heap, no float; the state is a caller-owned struct whose bounds are
 * TINYSLM_KWS_MAX_WINDOW and TINYSLM_KWS_MAX_LABELS (overridable with -D).
 */
#ifndef TINYSLM_KWS_DETECTOR_H_
#define TINYSLM_KWS_DETECTOR_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TINYSLM_KWS_MAX_WINDOW
#define TINYSLM_KWS_MAX_WINDOW 16
#endif
#ifndef TINYSLM_KWS_MAX_LABELS
#define TINYSLM_KWS_MAX_LABELS 16
#endif

#if TINYSLM_KWS_MAX_LABELS > 32
#error "TINYSLM_KWS_MAX_LABELS is at most 32 (non_keyword_mask is 32 bits)"
#endif
#if TINYSLM_KWS_MAX_WINDOW > 255
#error "TINYSLM_KWS_MAX_WINDOW is at most 255"
#endif

typedef struct {
  uint8_t num_labels;        /* 2 .. TINYSLM_KWS_MAX_LABELS */
  uint8_t window;            /* score vectors averaged, 1 .. TINYSLM_KWS_MAX_WINDOW */
  int8_t threshold_q;        /* mean int8 score a keyword must reach */
  uint32_t suppression_ms;   /* quiet time after a detection */
  uint32_t non_keyword_mask; /* bit i set: label i is never detected (silence, unknown) */
  /* NULL, or num_labels levels: the candidate's own level replaces threshold_q
   * (keywords with thresholds of their own: tinyslm generate --label-threshold). */
  const int8_t *label_threshold_q;
} tinyslm_kws_detector_config_t;

typedef struct {
  uint8_t label;
  uint32_t t_ms;        /* time given with the score vector that fired */
  int32_t sum_q;        /* window sum of the label's int8 scores */
  uint16_t score_milli; /* mean probability in thousandths (0 .. 996) */
} tinyslm_kws_detection_t;

typedef struct {
  tinyslm_kws_detector_config_t cfg;
  int8_t ring[TINYSLM_KWS_MAX_WINDOW][TINYSLM_KWS_MAX_LABELS];
  int32_t sum[TINYSLM_KWS_MAX_LABELS];
  uint8_t head;  /* next slot to overwrite */
  uint8_t count; /* vectors in the ring, up to cfg.window */
  uint8_t has_last;
  uint32_t last_ms;
} tinyslm_kws_detector_t;

enum {
  TINYSLM_KWS_OK = 0,
  TINYSLM_KWS_BAD_CONFIG = -1
};

/* Checks cfg and empties the ring; TINYSLM_KWS_BAD_CONFIG (det unusable: push
 * ignores it until an init succeeds) if cfg is NULL, num_labels, window or the
 * mask are out of range, or no label could ever fire. */
int tinyslm_kws_detector_init(tinyslm_kws_detector_t *det, const tinyslm_kws_detector_config_t *cfg);

/* Forgets scores and the last detection (a new stream starts). */
void tinyslm_kws_detector_reset(tinyslm_kws_detector_t *det);

/* The mean of window int8 scores summing to sum_q, as a probability in thousandths
 * rounded half up: ((sum_q + 128 w) * 1000 + 128 w) / (256 w). A detection's
 * score_milli, and (window 1) the probability a level stands for. */
uint16_t tinyslm_kws_score_milli(int32_t sum_q, uint8_t window);

/* Adds one score vector (cfg.num_labels int8 values) taken at t_ms; returns 1
 * and fills *out when it fires, else 0. On a detector whose init was refused
 * (or det or scores NULL) it does nothing and returns 0. */
int tinyslm_kws_detector_push(tinyslm_kws_detector_t *det, const int8_t *scores, uint32_t t_ms,
                              tinyslm_kws_detection_t *out);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_KWS_DETECTOR_H_ */
