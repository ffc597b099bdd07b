/* tinyslm keyword detector; the rule is stated in tinyslm_kws_detector.h. */
#include "tinyslm_kws_detector.h"

#include <string.h>

int tinyslm_kws_detector_init(tinyslm_kws_detector_t *det, const tinyslm_kws_detector_config_t *cfg) {
  uint32_t all;
  if (det == 0) {
    return TINYSLM_KWS_BAD_CONFIG;
  }
  /* Cleared before any check, so a refused detector (window 0) is one push ignores,
   * even one that was in use before. */
  memset(det, 0, sizeof(*det));
  if (cfg == 0) {
    return TINYSLM_KWS_BAD_CONFIG;
  }
  if (cfg->num_labels < 2 || cfg->num_labels > TINYSLM_KWS_MAX_LABELS || cfg->window < 1 ||
      cfg->window > TINYSLM_KWS_MAX_WINDOW) {
    return TINYSLM_KWS_BAD_CONFIG;
  }
  /* 1 << 32 is undefined, hence the special case for a full 32-label mask. */
  all = cfg->num_labels >= 32 ? 0xFFFFFFFFu : ((1u << cfg->num_labels) - 1u);
  if ((cfg->non_keyword_mask & ~all) != 0 || (cfg->non_keyword_mask & all) == all) {
    return TINYSLM_KWS_BAD_CONFIG;
  }
  det->cfg = *cfg;
  return TINYSLM_KWS_OK;
}

void tinyslm_kws_detector_reset(tinyslm_kws_detector_t *det) {
  memset(det->ring, 0, sizeof(det->ring));
  memset(det->sum, 0, sizeof(det->sum));
  det->head = 0;
  det->count = 0;
  det->has_last = 0;
  det->last_ms = 0;
}

uint16_t tinyslm_kws_score_milli(int32_t sum_q, uint8_t window) {
  /* sum_q >= -128 w, so the numerator is not negative; <= 255 * 255 * 1000 + ...: 32 bits */
  const uint32_t scaled = (uint32_t)(sum_q + 128 * (int32_t)window);
  return (uint16_t)((scaled * 1000u + 128u * window) / (256u * window));
}

int tinyslm_kws_detector_push(tinyslm_kws_detector_t *det, const int8_t *scores, uint32_t t_ms,
                              tinyslm_kws_detection_t *out) {
  const tinyslm_kws_detector_config_t *cfg;
  uint32_t i, best = 0;
  int8_t level;
  int8_t *slot;

  /* A detector whose init was refused has window 0 (init clears it first): without
   * this it would "detect" on every push and divide by its window of 0. The bounds
   * also keep a corrupted struct from indexing past ring and sum. */
  if (det == 0 || scores == 0 || det->cfg.window < 1 || det->cfg.window > TINYSLM_KWS_MAX_WINDOW ||
      det->cfg.num_labels < 2 || det->cfg.num_labels > TINYSLM_KWS_MAX_LABELS ||
      det->head >= det->cfg.window) {
    return 0;
  }
  cfg = &det->cfg;
  slot = det->ring[det->head];
  /* A suppression that has run out is forgotten at once: last_ms is compared modulo
   * 2^32, so kept for 49.7 days it would look recent again and drop a keyword. */
  if (det->has_last && (uint32_t)(t_ms - det->last_ms) >= cfg->suppression_ms) {
    det->has_last = 0;
  }
  /* Running sums: add the new vector, subtract the one it replaces (zeros
   * while the ring fills), so a push costs O(labels) whatever the window. */
  for (i = 0; i < cfg->num_labels; ++i) {
    det->sum[i] += (int32_t)scores[i] - (int32_t)slot[i];
    slot[i] = scores[i];
  }
  det->head = (uint8_t)(det->head + 1u == cfg->window ? 0u : det->head + 1u);
  if (det->count < cfg->window) {
    det->count++;
    if (det->count < cfg->window) {
      return 0;
    }
  }
  for (i = 1; i < cfg->num_labels; ++i) {
    if (det->sum[i] > det->sum[best]) {
      best = i;
    }
  }
  if ((cfg->non_keyword_mask >> best) & 1u) {
    return 0;
  }
  level = cfg->label_threshold_q != 0 ? cfg->label_threshold_q[best] : cfg->threshold_q;
  if (det->sum[best] < (int32_t)level * (int32_t)cfg->window) {
    return 0;
  }
  if (det->has_last && (uint32_t)(t_ms - det->last_ms) < cfg->suppression_ms) {
    return 0;
  }
  det->has_last = 1;
  det->last_ms = t_ms;
  if (out != 0) {
    out->label = (uint8_t)best;
    out->t_ms = t_ms;
    out->sum_q = det->sum[best];
    out->score_milli = tinyslm_kws_score_milli(det->sum[best], cfg->window);
  }
  return 1;
}
