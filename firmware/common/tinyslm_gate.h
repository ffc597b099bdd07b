/*
 * tinyslm confidence gate: the device mirror of tinyslm/decision.py. One int8
 * score vector in; the top-1 label, its confidence in thousandths and the route
 * (answer locally, or escalate) out. Plain C99, no heap, no state.
 */
#ifndef TINYSLM_GATE_H_
#define TINYSLM_GATE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the gate needs of a model: its output size and quantization, and the threshold. */
typedef struct {
  uint32_t num_labels;
  float score_scale;        /* int8 score -> confidence: (q - zero_point) * scale */
  int32_t score_zero_point;
  int32_t threshold_q;      /* top score q >= threshold_q -> "local", else "escalate" */
  /* NULL, or num_labels levels: the top label's own level replaces threshold_q
   * (labels with thresholds of their own: tinyslm generate --label-threshold). */
  const int32_t *label_threshold_q;
} tinyslm_gate_t;

typedef struct {
  uint32_t index;      /* top-1 label index */
  int32_t score_q;     /* its int8 score */
  uint32_t score_milli;/* its confidence in thousandths, as printed */
  uint8_t local;       /* 1: answer locally, 0: escalate */
} tinyslm_decision_t;

/*
 * (q - zero_point) * scale in thousandths, rounded half up in float32 exactly as
 * tinyslm.decision.score_milli does. Nonsensical parameters are clamped: a
 * negative or NaN confidence gives 0, one of 2^32 thousandths or more 0xFFFFFFFF.
 */
uint32_t tinyslm_score_milli(float scale, int32_t zero_point, int32_t q);

/* Top-1 (first maximum wins), dequantized score and route; all zero when gate
 * or scores is NULL or num_labels is 0. */
tinyslm_decision_t tinyslm_gate_decide(const tinyslm_gate_t *gate, const int8_t *scores);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_GATE_H_ */
