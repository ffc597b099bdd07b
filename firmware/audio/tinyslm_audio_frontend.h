/*
 * tinyslm audio front end: 16 kHz int16 PCM in, int8 log-mel frames out.
 *
 * The device mirror of tinyslm/audio/frontend.py (which specifies every step
 * and its rounding); tests/host/test_audio_frontend.py proves both give the
 * same bytes. Plain C99, integer only, no heap: the caller owns the state,
 * including the FFT scratch, so nothing large lives on the stack.
 *
 * Sizes come from tinyslm_audio_config.h, generated from the FrontendSpec.
 */
#ifndef TINYSLM_AUDIO_FRONTEND_H_
#define TINYSLM_AUDIO_FRONTEND_H_

#include <stddef.h>
#include <stdint.h>

#include "tinyslm_audio_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int16_t pending[TINYSLM_AUDIO_WINDOW]; /* the current, partly filled window */
  uint32_t filled;                       /* samples in pending[] */
  int32_t re[TINYSLM_AUDIO_FFT_SIZE];    /* FFT scratch */
  int32_t im[TINYSLM_AUDIO_FFT_SIZE];
} tinyslm_audio_frontend_t;

/* Empties the window: the next frame comes after TINYSLM_AUDIO_WINDOW samples. */
void tinyslm_audio_frontend_reset(tinyslm_audio_frontend_t *fe);

/*
 * Streams samples in. Consumes samples until a frame is complete or the input
 * runs out; returns how many of the n samples it consumed and sets *produced to
 * 1 when it wrote a frame to out (then call again with the rest). Frames come
 * after the first TINYSLM_AUDIO_WINDOW samples, then every TINYSLM_AUDIO_STRIDE.
 */
size_t tinyslm_audio_frontend_feed(tinyslm_audio_frontend_t *fe, const int16_t *samples,
                                   size_t n, int8_t out[TINYSLM_AUDIO_BINS], int *produced);

/* The features of one whole window (no streaming state but the scratch in fe). */
void tinyslm_audio_frame(tinyslm_audio_frontend_t *fe,
                         const int16_t window[TINYSLM_AUDIO_WINDOW],
                         int8_t out[TINYSLM_AUDIO_BINS]);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_AUDIO_FRONTEND_H_ */
