// Test-only driver for firmware/common/tinyslm_tflm.cc, linked with a generated text
// project's sources (no main.cc) and real TFLM by tests/host/test_tflm_adapter.py.
//
// stdin: records of TINYSLM_SEQ_LEN little-endian int32 token ids. stdout: one line
// per step, "<step> <rc> <reason>", then per record "scores <rc_invoke> <rc_infer>
// <same> <canary>" and the invoke scores.
#include <stdio.h>
#include <string.h>

#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

namespace {

void report(const char *step, int rc) { printf("%s %d %s\n", step, rc, tinyslm_tflm_last_error()); }

}  // namespace

int main() {
  int32_t ids[TINYSLM_SEQ_LEN] = {0};
  int8_t scores[TINYSLM_NUM_LABELS + 1];
  int8_t again[TINYSLM_NUM_LABELS + 1];

  report("before_init", tinyslm_tflm_invoke(ids, sizeof(ids), scores));
  report("init", tinyslm_tflm_init());
  report("null_input", tinyslm_tflm_invoke(nullptr, sizeof(ids), scores));
  report("null_scores", tinyslm_tflm_invoke(ids, sizeof(ids), nullptr));
  report("short", tinyslm_tflm_invoke(ids, sizeof(ids) - 1, scores));
  report("long", tinyslm_tflm_invoke(ids, sizeof(ids) + sizeof(int32_t), scores));
  report("infer_null", tinyslm_tflm_infer(nullptr, scores, nullptr));

  while (fread(ids, sizeof(ids), 1, stdin) == 1) {
    memset(scores, 0x5A, sizeof(scores));
    memset(again, 0x5A, sizeof(again));
    const int rc_invoke = tinyslm_tflm_invoke(ids, sizeof(ids), scores);
    const int rc_infer = tinyslm_tflm_infer(ids, again, nullptr);
    // the canary after the last score must stay untouched by both
    printf("scores %d %d %d %d", rc_invoke, rc_infer, memcmp(scores, again, sizeof(scores)) == 0,
           scores[TINYSLM_NUM_LABELS] == 0x5A && again[TINYSLM_NUM_LABELS] == 0x5A);
    for (int i = 0; i < TINYSLM_NUM_LABELS; ++i) printf(" %d", scores[i]);
    printf("\n");
  }
  return 0;
}
