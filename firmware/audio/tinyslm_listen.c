/* tinyslm listening loop; the loop and its timing are stated in tinyslm_listen.h. */
#include "tinyslm_listen.h"

#include <string.h>

/* Samples of a stride times 1000 must fit the remainder arithmetic below. */
#if TINYSLM_AUDIO_STRIDE > 4000000 || TINYSLM_AUDIO_WINDOW > 4000000
#error "front end window or stride too large"
#endif

int tinyslm_listen_init(tinyslm_listen_t *l, const tinyslm_listen_config_t *cfg) {
  if (l == 0) {
    return TINYSLM_LISTEN_BAD_CONFIG;
  }
  memset(l, 0, sizeof(*l));
  /* cfg.infer stays 0 on failure: feed checks it and does nothing. */
  if (cfg == 0 || cfg->infer == 0 || cfg->stride_frames < 1) {
    return TINYSLM_LISTEN_BAD_CONFIG;
  }
  if (tinyslm_kws_detector_init(&l->det, &cfg->detector) != TINYSLM_KWS_OK) {
    return TINYSLM_LISTEN_BAD_CONFIG;
  }
  l->cfg = *cfg;
  tinyslm_listen_reset(l);
  return TINYSLM_LISTEN_OK;
}

void tinyslm_listen_reset(tinyslm_listen_t *l) {
  tinyslm_audio_frontend_reset(&l->fe);
  tinyslm_kws_detector_reset(&l->det);
  memset(l->features, 0, sizeof(l->features));
  l->filled = 0;
  l->countdown = 0;
  /* Frame 0 ends at sample WINDOW; each later frame STRIDE samples further. */
  l->end_ms = (uint32_t)(TINYSLM_AUDIO_WINDOW * 1000u / TINYSLM_AUDIO_SAMPLE_RATE);
  l->end_rem = (uint32_t)(TINYSLM_AUDIO_WINDOW * 1000u % TINYSLM_AUDIO_SAMPLE_RATE);
  l->frames = 0;
  l->inferences = 0;
  l->detections = 0;
  l->failures = 0;
}

static uint32_t now_us(const tinyslm_listen_t *l) {
  return l->cfg.clock != 0 ? l->cfg.clock(l->cfg.ctx) : 0u;
}

/* One new frame in l->frame, ending at l->end_ms. Returns 1 on a detection. */
static int on_frame(tinyslm_listen_t *l) {
  tinyslm_kws_detection_t hit;
  tinyslm_listen_detection_t d;
  uint32_t t0;
  int rc;

  /* Shift the window by one row: the model reads it in place, oldest first. */
  memmove(l->features, l->features + TINYSLM_KWS_BINS,
          (size_t)(TINYSLM_KWS_FRAMES - 1) * TINYSLM_KWS_BINS);
  memcpy(l->features + (size_t)(TINYSLM_KWS_FRAMES - 1) * TINYSLM_KWS_BINS, l->frame,
         TINYSLM_KWS_BINS);
  ++l->frames;
  if (l->filled < TINYSLM_KWS_FRAMES) {
    ++l->filled;
    if (l->filled < TINYSLM_KWS_FRAMES) {
      return 0; /* the model never sees a window padded with zeros */
    }
    l->countdown = 0; /* the first full window is inferred at once */
  }
  if (l->countdown > 0) {
    --l->countdown;
    return 0;
  }
  l->countdown = (uint32_t)l->cfg.stride_frames - 1u;

  t0 = now_us(l);
  rc = l->cfg.infer(l->features, (size_t)TINYSLM_KWS_FEATURES, l->scores, l->cfg.infer_ctx);
  ++l->inferences;
  if (rc != 0) {
    ++l->failures;
    if (l->cfg.on_error != 0) {
      l->cfg.on_error(rc, l->cfg.ctx);
    }
    return 0;
  }
  if (!tinyslm_kws_detector_push(&l->det, l->scores, l->end_ms, &hit)) {
    return 0;
  }
  d.label = hit.label;
  d.t_ms = hit.t_ms;
  d.sum_q = hit.sum_q;
  d.score_milli = hit.score_milli;
  d.us = now_us(l) - t0;
  ++l->detections;
  if (l->cfg.on_detection != 0) {
    l->cfg.on_detection(&d, l->cfg.ctx);
  }
  return 1;
}

uint32_t tinyslm_listen_feed(tinyslm_listen_t *l, const int16_t *samples, size_t n) {
  uint32_t found = 0;
  size_t used = 0;
  int produced;

  if (l == 0 || l->cfg.infer == 0 || (samples == 0 && n > 0)) {
    return 0;
  }
  while (used < n) {
    used += tinyslm_audio_frontend_feed(&l->fe, samples + used, n - used, l->frame, &produced);
    if (produced) {
      if (l->filled > 0) {
        /* Frame k > 0 ends one stride after frame k - 1. */
        l->end_rem += (uint32_t)TINYSLM_AUDIO_STRIDE * 1000u;
        l->end_ms += l->end_rem / (uint32_t)TINYSLM_AUDIO_SAMPLE_RATE;
        l->end_rem %= (uint32_t)TINYSLM_AUDIO_SAMPLE_RATE;
      }
      found += (uint32_t)on_frame(l);
    }
  }
  return found;
}
