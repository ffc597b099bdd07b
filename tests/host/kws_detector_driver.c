/*
 * Host driver for tests/host/test_kws_detector.py.
 *   kws_detector_driver NUM_LABELS WINDOW THRESHOLD_Q SUPPRESSION_MS MASK [LEVELS] < records
 * LEVELS, when given, is NUM_LABELS comma-separated int8 levels (label_threshold_q).
 * Each stdin record is a little-endian uint32 time in ms followed by NUM_LABELS
 * int8 scores. Prints "init <rc>", then "<label> <t_ms> <sum_q> <score_milli>"
 * per detection. After a record whose time is 0xFFFFFFFF (not pushed) the
 * detector is reset, so the test can check that reset forgets everything. When
 * init is refused the records (of min(NUM_LABELS, TINYSLM_KWS_MAX_LABELS) scores)
 * are pushed all the same, and must print nothing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tinyslm_kws_detector.h"

int main(int argc, char **argv) {
  tinyslm_kws_detector_config_t cfg;
  tinyslm_kws_detector_t det;
  tinyslm_kws_detection_t d;
  unsigned char rec[4 + TINYSLM_KWS_MAX_LABELS];
  int8_t scores[TINYSLM_KWS_MAX_LABELS];
  int8_t levels[TINYSLM_KWS_MAX_LABELS];
  char *next;
  unsigned long n;
  uint32_t t, i;
  int rc;
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: %s NUM_LABELS WINDOW THRESHOLD_Q SUPPRESSION_MS MASK [LEVELS]\n",
            argv[0]);
    return 2;
  }
  n = strtoul(argv[1], 0, 10);
  cfg.num_labels = (uint8_t)n;
  cfg.window = (uint8_t)strtoul(argv[2], 0, 10);
  cfg.threshold_q = (int8_t)strtol(argv[3], 0, 10);
  cfg.suppression_ms = (uint32_t)strtoul(argv[4], 0, 10);
  cfg.non_keyword_mask = (uint32_t)strtoul(argv[5], 0, 10);
  cfg.label_threshold_q = 0;
  if (argc == 7) {
    next = argv[6];
    for (i = 0; i < n && i < TINYSLM_KWS_MAX_LABELS; ++i) {
      levels[i] = (int8_t)strtol(next, &next, 10);
      if (*next == ',') {
        ++next;
      }
    }
    cfg.label_threshold_q = levels;
  }
  rc = tinyslm_kws_detector_init(&det, &cfg);
  printf("init %d\n", rc);
  /* After a refused init the records are still pushed: the detector must ignore
   * them (no detection line, and no sanitizer report). */
  if (n > TINYSLM_KWS_MAX_LABELS) {
    n = TINYSLM_KWS_MAX_LABELS;
  }
  while (fread(rec, 1, 4 + n, stdin) == 4 + n) {
    t = (uint32_t)rec[0] | (uint32_t)rec[1] << 8 | (uint32_t)rec[2] << 16 | (uint32_t)rec[3] << 24;
    if (t == 0xFFFFFFFFu) {
      tinyslm_kws_detector_reset(&det);
      continue;
    }
    for (i = 0; i < n; ++i) {
      scores[i] = (int8_t)rec[4 + i];
    }
    if (tinyslm_kws_detector_push(&det, scores, t, &d)) {
      printf("%u %lu %ld %u\n", (unsigned)d.label, (unsigned long)d.t_ms, (long)d.sum_q,
             (unsigned)d.score_milli);
    }
  }
  return 0;
}
