/*
 * Shared by the fuzz targets (fuzz_serial_text.c, fuzz_serial_kws.c, fuzz_kws_app.c): a
 * check that traps, which libFuzzer reports with the input that broke it, the xorshift32
 * that cuts an input into chunks, and the checks of an answer line's form. Its state is seeded from the input, so the chunk
 * plan is a function of the input alone and a finding reproduces.
 */
#ifndef TINYSLM_FUZZ_UTIL_H
#define TINYSLM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* Whether the line s[0..n) begins with prefix. */
static inline int starts(const void *s, size_t n, const char *prefix) {
  const size_t k = strlen(prefix);
  return n >= k && memcmp(s, prefix, k) == 0;
}

/* Whether s[0..n) is {"error":"line_too_long","max":N} with N == max: the command buffer
 * the app was built with (the caller passes its define, so every configuration is
 * checked against its own). */
static inline int line_too_long(const void *line, size_t n, unsigned long max) {
  static const char prefix[] = "{\"error\":\"line_too_long\",\"max\":";
  const char *s = (const char *)line;
  size_t i = sizeof(prefix) - 1u;
  unsigned long v = 0;
  if (!starts(s, n, prefix)) {
    return 0;
  }
  for (; i < n && s[i] >= '0' && s[i] <= '9' && v < 100000ul; ++i) {
    v = v * 10u + (unsigned long)(s[i] - '0');
  }
  return i + 1u == n && s[i] == '}' && v == max;
}

#endif /* TINYSLM_FUZZ_UTIL_H */
