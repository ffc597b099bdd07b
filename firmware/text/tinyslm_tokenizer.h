/*
 * tinyslm text tokenizer: the device mirror of tinyslm/text/features.py, byte for
 * byte (tests/host/test_core_tokenizer.py proves it). Plain C99, no heap, no
 * state; any byte sequence is handled without reading or writing out of bounds.
 */
#ifndef TINYSLM_TOKENIZER_H_
#define TINYSLM_TOKENIZER_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Mirrors tinyslm/text/features.py FeatureSpec. */
typedef struct {
  uint32_t buckets;  /* ids are 1 + h % (buckets - 1); 0 pads */
  uint32_t seq_len;  /* ids per phrase */
  uint8_t unigrams;  /* booleans: feature families, in this order */
  uint8_t bigrams;
  uint8_t char_trigrams;
  uint8_t hashes;    /* ids per n-gram, 1..8 (0 is taken as 1); see features.py */
} tinyslm_features_t;

/*
 * Fills ids[0..seq_len) for text[0..len) per the spec in tinyslm/text/features.py
 * and returns how many non-padding ids were written. Never reads past
 * text[len-1]; text may contain any bytes, including NUL.
 */
size_t tinyslm_tokenize(const tinyslm_features_t *spec, const uint8_t *text, size_t len,
                        int32_t *ids);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_TOKENIZER_H_ */
