/*
 * tinyslm confidence gate (see tinyslm_gate.h): mirrors tinyslm/decision.py.
 */
#include "tinyslm_gate.h"

uint32_t tinyslm_score_milli(float scale, int32_t zero_point, int32_t q) {
  /* q is an int8 score, but the zero point comes from the caller: clamp the
   * difference instead of risking signed overflow. */
  const int64_t diff64 = (int64_t)q - (int64_t)zero_point;
  const int32_t diff = diff64 > 0x7FFFFFFF ? 0x7FFFFFFF
                       : diff64 < -0x7FFFFFFF ? -0x7FFFFFFF
                                              : (int32_t)diff64;
  /* volatile: the product must be rounded to float32 before 0.5f is added,
   * exactly as in Python; a fused multiply-add (allowed by -ffp-contract)
   * could otherwise round differently on an FPU that has one. */
  volatile float scaled = (float)diff * scale * 1000.0f;
  const float rounded = scaled + 0.5f;
  /* Negative, NaN or huge confidences only come from nonsensical quantization
   * parameters; clamp so that the float-to-integer cast stays defined. */
  if (!(rounded >= 0.0f)) {
    return 0;
  }
  if (rounded >= 4294967296.0f) {
    return 0xFFFFFFFFu;
  }
  return (uint32_t)rounded;
}

tinyslm_decision_t tinyslm_gate_decide(const tinyslm_gate_t *gate, const int8_t *scores) {
  tinyslm_decision_t d;
  uint32_t i, best = 0;

  d.index = 0;
  d.score_q = 0;
  d.score_milli = 0;
  d.local = 0;
  if (gate == 0 || scores == 0 || gate->num_labels == 0) {
    return d;
  }
  for (i = 1; i < gate->num_labels; ++i) {
    if (scores[i] > scores[best]) { /* strict: the first maximum wins */
      best = i;
    }
  }
  d.index = best;
  d.score_q = scores[best];
  d.score_milli = tinyslm_score_milli(gate->score_scale, gate->score_zero_point, d.score_q);
  d.local = (uint8_t)(d.score_q >= (gate->label_threshold_q != 0 ? gate->label_threshold_q[best]
                                                                 : gate->threshold_q));
  return d;
}
