/*
 * libFuzzer target for the text firmware's C core: firmware/text/ (tokenizer, line
 * protocol) and firmware/common/ (JSON writer, gate), built by tests/host/test_core_fuzz.py:
 *   clang -fsanitize=fuzzer,address,undefined -Ifirmware/common -Ifirmware/text
 *     tests/fuzz/fuzz_line.c + every .c file of firmware/text and firmware/common
 *
 * The first bytes of an input pick a configuration (line limit, feature spec,
 * feed chunk size, whether inference fails); the rest is fed to
 * tinyslm_app_feed in chunks and tokenized directly. Besides the sanitizers,
 * the target traps when the core breaks one of its promises: an id out of
 * range, padding in the wrong place, a write outside the line/ids buffers, an
 * empty or oversized write, or an output line that is not one JSON object.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyslm_core.h"

#define MAX_LINE 64
#define MAX_SEQ 96
#define NUM_LABELS 3
#define GUARD 0xA5

static const char *const labels[NUM_LABELS] = {"lights_on", "say \"hi\"", "caf\xc3\xa9"};

typedef struct {
  uint32_t buckets;
  uint32_t seq_len;
  int fail_every; /* 0: never fail */
  uint32_t calls;
} fuzz_model_t;

/* Output checker: every line must be {...} terminated by '\n'. */
typedef struct {
  size_t line_bytes;
  uint8_t first;
  uint8_t last;
} line_state_t;

static line_state_t out_state;

static void check(int cond) {
  if (!cond) {
    __builtin_trap();
  }
}

static int fuzz_infer(const int32_t *ids, int8_t *scores, void *ctx) {
  fuzz_model_t *m = ctx;
  uint32_t i, h = 0;
  for (i = 0; i < m->seq_len; ++i) {
    check(ids[i] >= 0 && (uint32_t)ids[i] < m->buckets);
    h = h * 31u + (uint32_t)ids[i];
  }
  m->calls++;
  if (m->fail_every != 0 && m->calls % (uint32_t)m->fail_every == 0) {
    return -(int)(h % 1000u) - 1;
  }
  for (i = 0; i < NUM_LABELS; ++i) {
    scores[i] = (int8_t)(uint8_t)(h >> (8u * i));
  }
  return 0;
}

static void fuzz_write(const char *data, size_t len, void *ctx) {
  size_t i;
  (void)ctx;
  check(len > 0 && len <= 128);
  for (i = 0; i < len; ++i) {
    const uint8_t b = (uint8_t)data[i];
    if (out_state.line_bytes == 0) {
      out_state.first = b;
    }
    if (b == '\n') {
      check(out_state.first == '{' && out_state.last == '}');
      out_state.line_bytes = 0;
    } else {
      check(b >= 0x20); /* control bytes are always escaped */
      out_state.line_bytes++;
      out_state.last = b;
    }
  }
}

static uint32_t fuzz_clock(void *ctx) {
  uint32_t *t = ctx;
  *t += 0x9E3779B9u;
  return *t;
}

/* The action hook reads all it is given: a text pointer out of the line buffer's
 * bounds, or a label index past the labels, is caught by ASan here. */
static int hook_marker;

static void fuzz_on_answer(const tinyslm_answer_t *a, void *ctx) {
  size_t i, sum = 0;
  check(ctx == &hook_marker && a->index < NUM_LABELS && a->intent == labels[a->index]);
  check(a->local <= 1u && a->by_host <= 1u && a->text_len > 0);
  /* The host's answers (":do <intent>") are acted on: local, full score, the name as text. */
  check(!a->by_host || (a->local == 1u && a->score_milli == 1000u &&
                        a->text_len == strlen(a->intent) &&
                        memcmp(a->text, a->intent, a->text_len) == 0));
  for (i = 0; i < a->text_len; ++i) {
    sum += a->text[i];
  }
  sum += strlen(a->intent);
  check(sum > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t line_buf[MAX_LINE + 8];
  static int32_t ids[MAX_SEQ + 4];
  static int8_t scores[NUM_LABELS + 4];
  static int32_t levels[NUM_LABELS];
  static uint32_t millis[NUM_LABELS];
  tinyslm_model_info_t info;
  tinyslm_app_config_t cfg;
  tinyslm_app_t app;
  fuzz_model_t model;
  uint32_t clock_state = 0;
  size_t off, chunk, i, count;

  if (size < 4) {
    return 0;
  }
  memset(&info, 0, sizeof(info));
  info.features.buckets = 2u + (uint32_t)data[0] * 37u;
  info.features.seq_len = 1u + (uint32_t)(data[1] % MAX_SEQ);
  info.features.unigrams = (uint8_t)(data[2] & 1u);
  info.features.bigrams = (uint8_t)((data[2] >> 1) & 1u);
  info.features.char_trigrams = (uint8_t)((data[2] >> 2) & 1u);
  /* 0..15: the valid 1..8, 0 (taken as 1) and the out-of-range rest. */
  info.features.hashes = (uint8_t)(data[2] >> 4);
  info.labels = labels;
  info.num_labels = NUM_LABELS;
  info.score_scale = 1.0f / 256.0f;
  info.score_zero_point = -128;
  info.threshold_q = (int32_t)(int8_t)data[3];
  info.threshold_milli = (uint32_t)data[3] * 7u;
  info.model_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  info.ops = (data[2] & 8u) ? "FULLY_CONNECTED,,SOFTMAX," : "";
  info.board = "fuzz";
  info.version = "0.1.0";
  /* Half the inputs run with a level per label (generate --label-threshold), drawn from
   * the input, so :info's list and the gate's lookup are fuzzed too. */
  for (i = 0; i < NUM_LABELS; ++i) {
    levels[i] = (int32_t)(int8_t)data[(3u + i) % size];
    millis[i] = (uint32_t)data[(3u + i) % size] * 4000037u; /* any uint32, as printed */
  }
  info.label_threshold_q = (data[1] & 0x80u) ? levels : 0;
  /* ... and of those, half with the recorded thresholds :info prints instead. */
  info.label_threshold_milli = (data[1] & 0x40u) ? millis : 0;

  model.buckets = info.features.buckets;
  model.seq_len = info.features.seq_len;
  model.fail_every = (data[2] >> 4) & 3u;
  model.calls = 0;

  memset(&cfg, 0, sizeof(cfg));
  cfg.model = &info;
  cfg.infer = fuzz_infer;
  cfg.infer_ctx = &model;
  cfg.write = fuzz_write;
  cfg.clock = (data[2] & 0x40u) ? fuzz_clock : 0;
  cfg.clock_ctx = &clock_state;
  cfg.line_buf = line_buf;
  cfg.line_cap = 1u + (size_t)(data[1] >> 2) % MAX_LINE;
  cfg.ids_buf = ids;
  cfg.scores_buf = scores;
  memset(line_buf, GUARD, sizeof(line_buf));
  memset(ids, GUARD, sizeof(ids));
  memset(scores, GUARD, sizeof(scores));
  memset(&out_state, 0, sizeof(out_state));
  check(tinyslm_app_init(&app, &cfg) == 0);
  tinyslm_app_on_answer(&app, fuzz_on_answer, &hook_marker);

  chunk = 1u + (size_t)(data[0] >> 3);
  data += 4;
  size -= 4;
  for (off = 0; off < size; off += chunk) {
    tinyslm_app_feed(&app, data + off, size - off < chunk ? size - off : chunk);
  }
  tinyslm_app_feed(&app, (const uint8_t *)"\n", 1);
  check(out_state.line_bytes == 0); /* every output line was completed */

  /* caller buffers: nothing written past their declared sizes */
  for (i = cfg.line_cap; i < sizeof(line_buf); ++i) {
    check(line_buf[i] == GUARD);
  }
  for (i = info.features.seq_len; i < MAX_SEQ + 4; ++i) {
    check((uint32_t)ids[i] == 0xA5A5A5A5u);
  }
  for (i = NUM_LABELS; i < sizeof(scores); ++i) {
    check((uint8_t)scores[i] == GUARD);
  }

  /* the tokenizer on the raw input: ids in range, padding only at the end */
  count = tinyslm_tokenize(&info.features, data, size, ids);
  check(count <= info.features.seq_len);
  for (i = 0; i < info.features.seq_len; ++i) {
    if (i < count) {
      check(ids[i] >= 1 && (uint32_t)ids[i] < info.features.buckets);
    } else {
      check(ids[i] == 0);
    }
  }
  return 0;
}
