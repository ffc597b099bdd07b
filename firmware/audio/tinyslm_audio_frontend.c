/*
 * tinyslm audio front end: the C mirror of tinyslm/audio/frontend.py.
 * Each step below names the step of that module's docstring it implements.
 */
#include "tinyslm_audio_frontend.h"

#include <string.h>

#include "tinyslm_audio_tables.h"

/* The reference relies on arithmetic right shifts of negative values, which C99
 * leaves to the implementation: refuse a compiler that does otherwise. */
#if ((-1) >> 1) != -1
#error "tinyslm_audio_frontend.c needs arithmetic right shifts of signed values"
#endif

#define TINYSLM_AUDIO_Q15_ONE 32768
#define TINYSLM_AUDIO_INPUT_SHIFT 9 /* 15 - 6: windowed samples in Q6 */
#define TINYSLM_AUDIO_POWER_SHIFT 16
#define TINYSLM_AUDIO_LOG_MANTISSA_BITS 7
#define TINYSLM_AUDIO_LOG_STEPS 8

typedef char tinyslm_audio_check_window[(TINYSLM_AUDIO_WINDOW <= TINYSLM_AUDIO_FFT_SIZE) ? 1 : -1];
typedef char tinyslm_audio_check_stride[(TINYSLM_AUDIO_STRIDE <= TINYSLM_AUDIO_WINDOW) ? 1 : -1];

void tinyslm_audio_frontend_reset(tinyslm_audio_frontend_t *fe) { fe->filled = 0; }

/* Steps 2 and 3: window into Q6, bit-reversed placement, radix-2 DIT FFT. */
static void fft(tinyslm_audio_frontend_t *fe, const int16_t *window) {
  int32_t *re = fe->re;
  int32_t *im = fe->im;
  uint32_t i;
  uint32_t j = 0; /* i with its TINYSLM_AUDIO_FFT_LOG2 bits reversed */
  uint32_t half;
  memset(re, 0, sizeof(fe->re));
  memset(im, 0, sizeof(fe->im));
  for (i = 0; i < TINYSLM_AUDIO_WINDOW; ++i) {
    uint32_t bit = TINYSLM_AUDIO_FFT_SIZE >> 1;
    const int32_t v = (int32_t)window[i] * tinyslm_audio_window[i];
    re[j] = (v + (1 << (TINYSLM_AUDIO_INPUT_SHIFT - 1))) >> TINYSLM_AUDIO_INPUT_SHIFT;
    /* Advance j by one in reversed bit order (carry runs from the top bit down);
     * two steps on average, against FFT_LOG2 for reversing i from scratch. */
    while ((j & bit) != 0u) {
      j ^= bit;
      bit >>= 1;
    }
    j |= bit;
  }
  for (half = 1; half < TINYSLM_AUDIO_FFT_SIZE; half <<= 1) {
    const uint32_t step = TINYSLM_AUDIO_FFT_SIZE / (2u * half);
    uint32_t start;
    for (start = 0; start < TINYSLM_AUDIO_FFT_SIZE; start += 2u * half) {
      uint32_t k;
      for (k = 0; k < half; ++k) {
        /* 32-bit operands: 32x32->64 products are single SMULL/SMLAL instructions. */
        const int32_t c = tinyslm_audio_cos[k * step];
        const int32_t s = tinyslm_audio_sin[k * step];
        const uint32_t a = start + k;
        const uint32_t b = a + half;
        const int32_t t_re = (int32_t)(((int64_t)re[b] * c + (int64_t)im[b] * s + (1 << 14)) >> 15);
        const int32_t t_im = (int32_t)(((int64_t)im[b] * c - (int64_t)re[b] * s + (1 << 14)) >> 15);
        re[b] = re[a] - t_re;
        im[b] = im[a] - t_im;
        re[a] += t_re;
        im[a] += t_im;
      }
    }
  }
}

/* Step 6: eighths of log2(e), e = 0 counted as 1. */
static int32_t log2_steps(uint64_t e) {
  int32_t msb = 0;
  int32_t shift;
  uint32_t mantissa;
  uint64_t rest;
  if (e == 0) e = 1;
  /* Position of the leading one by halving: 6 steps, no compiler builtin needed. */
  rest = e;
  for (shift = 32; shift > 0; shift >>= 1) {
    if ((rest >> shift) != 0u) {
      msb += shift;
      rest >>= shift;
    }
  }
  if (msb >= TINYSLM_AUDIO_LOG_MANTISSA_BITS) {
    mantissa = (uint32_t)(e >> (msb - TINYSLM_AUDIO_LOG_MANTISSA_BITS));
  } else {
    mantissa = (uint32_t)(e << (TINYSLM_AUDIO_LOG_MANTISSA_BITS - msb));
  }
  mantissa &= (1u << TINYSLM_AUDIO_LOG_MANTISSA_BITS) - 1u;
  return msb * TINYSLM_AUDIO_LOG_STEPS + tinyslm_audio_log[mantissa];
}

void tinyslm_audio_frame(tinyslm_audio_frontend_t *fe,
                         const int16_t window[TINYSLM_AUDIO_WINDOW],
                         int8_t out[TINYSLM_AUDIO_BINS]) {
  /* Step 5 accumulators; Parseval keeps each below 2^60. */
  int64_t energy[TINYSLM_AUDIO_BINS];
  uint32_t k;
  int j;
  fft(fe, window);
  memset(energy, 0, sizeof(energy));
  for (k = TINYSLM_AUDIO_FIRST_BIN; k <= TINYSLM_AUDIO_LAST_BIN; ++k) {
    /* Step 4: power in 64 bits, |re|, |im| < 2^30. */
    const int64_t p = ((int64_t)fe->re[k] * fe->re[k] + (int64_t)fe->im[k] * fe->im[k]) >>
                      TINYSLM_AUDIO_POWER_SHIFT;
    const uint32_t idx = k - TINYSLM_AUDIO_FIRST_BIN;
    const int seg = tinyslm_audio_seg[idx];
    const int64_t w = tinyslm_audio_weight[idx];
    if (seg < TINYSLM_AUDIO_BINS) energy[seg] += w * p;
    if (seg >= 1) energy[seg - 1] += (TINYSLM_AUDIO_Q15_ONE - w) * p;
  }
  for (j = 0; j < TINYSLM_AUDIO_BINS; ++j) {
    /* Step 7. */
    int32_t v = log2_steps((uint64_t)energy[j]) - TINYSLM_AUDIO_LOG_OFFSET;
    if (v < -128) v = -128;
    if (v > 127) v = 127;
    out[j] = (int8_t)v;
  }
}

size_t tinyslm_audio_frontend_feed(tinyslm_audio_frontend_t *fe, const int16_t *samples,
                                   size_t n, int8_t out[TINYSLM_AUDIO_BINS], int *produced) {
  size_t used = 0;
  *produced = 0;
  if (fe->filled > TINYSLM_AUDIO_WINDOW) fe->filled = 0; /* never trust a corrupted count */
  while (used < n && fe->filled < TINYSLM_AUDIO_WINDOW) {
    fe->pending[fe->filled++] = samples[used++];
  }
  if (fe->filled == TINYSLM_AUDIO_WINDOW) {
    tinyslm_audio_frame(fe, fe->pending, out);
    /* Keep the overlap: the next window starts one stride later. */
    memmove(fe->pending, fe->pending + TINYSLM_AUDIO_STRIDE,
            (TINYSLM_AUDIO_WINDOW - TINYSLM_AUDIO_STRIDE) * sizeof(fe->pending[0]));
    fe->filled = TINYSLM_AUDIO_WINDOW - TINYSLM_AUDIO_STRIDE;
    *produced = 1;
  }
  return used;
}
