/*
 * tinyslm text tokenizer (see tinyslm_tokenizer.h): mirrors
 * tinyslm/text/features.py byte for byte. Words are slices of the input, so no
 * word buffer is needed and nothing scales with the input.
 */
#include "tinyslm_tokenizer.h"

#define TINYSLM_FNV_OFFSET 2166136261u
#define TINYSLM_FNV_PRIME 16777619u
#define TINYSLM_TAG_UNIGRAM 0x01u
#define TINYSLM_TAG_BIGRAM 0x02u
#define TINYSLM_TAG_TRIGRAM 0x03u
#define TINYSLM_MAX_HASHES 8u

static uint8_t lower_byte(uint8_t b) {
  return (b >= 'A' && b <= 'Z') ? (uint8_t)(b + 32u) : b;
}

/* Word bytes after lowering: a-z, 0-9 and every byte >= 0x80. */
static int is_word_byte(uint8_t b) {
  b = lower_byte(b);
  return (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b >= 0x80u;
}

static uint32_t fnv_byte(uint32_t h, uint8_t b) {
  return (h ^ b) * TINYSLM_FNV_PRIME;
}

static uint32_t fnv_lowered(uint32_t h, const uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    h = fnv_byte(h, lower_byte(p[i]));
  }
  return h;
}

/* MurmurHash3's 32-bit finalizer: an n-gram's next id hash (features.fmix32). */
static uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

/* Finds the next word at or after *pos; the words are slices of the input, so
 * no word buffer is needed. Returns 0 when there is none. */
static int next_word(const uint8_t *text, size_t len, size_t *pos, size_t *start,
                     size_t *end) {
  size_t i = *pos;
  while (i < len && !is_word_byte(text[i])) {
    ++i;
  }
  if (i >= len) {
    *pos = len;
    return 0;
  }
  *start = i;
  while (i < len && is_word_byte(text[i])) {
    ++i;
  }
  *end = i;
  *pos = i;
  return 1;
}

/* Byte j of "<word>" for a word of n bytes (j in [0, n+1]). */
static uint8_t wrapped_byte(const uint8_t *word, size_t n, size_t j) {
  if (j == 0) {
    return '<';
  }
  if (j == n + 1) {
    return '>';
  }
  return lower_byte(word[j - 1]);
}

size_t tinyslm_tokenize(const tinyslm_features_t *spec, const uint8_t *text, size_t len,
                        int32_t *ids) {
  size_t filled = 0;
  size_t cap;
  size_t per;
  uint32_t mod;
  size_t pos, ws, we, i;

  if (spec == 0 || ids == 0) {
    return 0;
  }
  cap = spec->seq_len;
  per = spec->hashes == 0u ? 1u : spec->hashes;
  /* ids must fit int32 and the modulus must be non-zero (FeatureSpec enforces
   * 2 <= buckets <= 2^31-1 and 1 <= hashes <= 8); anything else yields
   * all-padding. */
  if (spec->buckets < 2u || spec->buckets > 0x7FFFFFFFu || per > TINYSLM_MAX_HASHES ||
      text == 0) {
    len = 0;
  }
  mod = spec->buckets - 1u;

  /* An n-gram's ids go in whole or not at all: once one does not fit, the
   * rest are padding (features.tokenize). */
#define TINYSLM_EMIT(h)                                     \
  do {                                                      \
    uint32_t h_ = (uint32_t)(h);                            \
    size_t k_;                                              \
    if (cap - filled < per) {                               \
      goto pad;                                             \
    }                                                       \
    ids[filled++] = (int32_t)(1u + h_ % mod);               \
    for (k_ = 1; k_ < per; ++k_) {                          \
      h_ = fmix32(h_);                                      \
      ids[filled++] = (int32_t)(1u + h_ % mod);             \
    }                                                       \
  } while (0)

  if (len > 0 && spec->unigrams) {
    const uint32_t seed = fnv_byte(TINYSLM_FNV_OFFSET, TINYSLM_TAG_UNIGRAM);
    pos = 0;
    while (next_word(text, len, &pos, &ws, &we)) {
      TINYSLM_EMIT(fnv_lowered(seed, text + ws, we - ws));
    }
  }
  if (len > 0 && spec->bigrams) {
    const uint32_t seed = fnv_byte(TINYSLM_FNV_OFFSET, TINYSLM_TAG_BIGRAM);
    size_t ps = 0, pe = 0;
    int have_prev = 0;
    pos = 0;
    while (next_word(text, len, &pos, &ws, &we)) {
      if (have_prev) {
        uint32_t h = fnv_lowered(seed, text + ps, pe - ps);
        h = fnv_byte(h, ' ');
        TINYSLM_EMIT(fnv_lowered(h, text + ws, we - ws));
      }
      ps = ws;
      pe = we;
      have_prev = 1;
    }
  }
  if (len > 0 && spec->char_trigrams) {
    const uint32_t seed = fnv_byte(TINYSLM_FNV_OFFSET, TINYSLM_TAG_TRIGRAM);
    pos = 0;
    while (next_word(text, len, &pos, &ws, &we)) {
      const size_t n = we - ws;
      for (i = 0; i < n; ++i) {
        uint32_t h = fnv_byte(seed, wrapped_byte(text + ws, n, i));
        h = fnv_byte(h, wrapped_byte(text + ws, n, i + 1));
        TINYSLM_EMIT(fnv_byte(h, wrapped_byte(text + ws, n, i + 2)));
      }
    }
  }
#undef TINYSLM_EMIT

pad:
  for (i = filled; i < cap; ++i) {
    ids[i] = 0;
  }
  return filled;
}
