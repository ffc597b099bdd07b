/*
 * Shared by the serial fuzz targets (fuzz_serial_text.c, fuzz_serial_kws.c): a check
 * that traps, which libFuzzer reports with the input that broke it, and the xorshift32
 * that cuts an input into chunks. Its state is seeded from the input, so the chunk
 * plan is a function of the input alone and a finding reproduces.
 */
#ifndef TINYSLM_FUZZ_UTIL_H
#define TINYSLM_FUZZ_UTIL_H

#include <stdint.h>

static uint32_t rng_state;

static inline void check(int cond) {
  if (!cond) {
    __builtin_trap();
  }
}

static inline uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

#endif /* TINYSLM_FUZZ_UTIL_H */
