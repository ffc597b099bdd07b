/*
 * libFuzzer target: the text firmware's serial line input, arbitrarily chunked.
 * Built by tests/host/test_fuzz_serial.py with
 *   clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 *     -Ifirmware/common -Ifirmware/text tests/fuzz/fuzz_serial_text.c
 *     firmware/text/tinyslm_{core,tokenizer}.c firmware/common/tinyslm_{json,gate}.c
 *
 * tests/fuzz/fuzz_line.c feeds fixed-size chunks; this target is about how the
 * bytes arrive. Input: 4 configuration bytes (line limit, feature spec, model
 * quirks, thresholds), then the serial bytes. A PRNG seeded by the first two
 * bytes cuts the bytes into chunks of 0..N (N picked by the first byte, 1..320),
 * as a UART ISR or a USB CDC callback hands them over. Three passes:
 *   1. the chunks, 2. one byte at a time: both must write the same bytes
 *      (tinyslm_app_feed's output does not depend on the chunking);
 *   3. the chunks again with events between them, as board glue does them:
 *      tinyslm_app_rx_overflow (its ring overflowed), tinyslm_app_handle_line on
 *      the chunk itself, a NULL feed; then "\n:info\n" must answer :info (the
 *      protocol always comes back).
 * Every output line must be one strict JSON object (json_check.h) ending in
 * '\n'; caller buffers must not be written past their sizes; the action hook
 * reads all it is given (ASan). Any finding aborts the run.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "json_check.h"
#include "tinyslm_core.h"

#define MAX_LINE 320
#define MAX_SEQ 200
#define NUM_LABELS 4
#define GUARD 0xA5
#define MAX_OUT 8192

/* Label names are data: quotes, a control byte, UTF-8 and U+2028 all need escaping. */
static const char *const labels[NUM_LABELS] = {"lights_on", "say \"hi\"\x01",
                                               "caf\xc3\xa9", "x\xe2\x80\xa8y"};

typedef struct {
  uint32_t buckets;
  uint32_t seq_len;
  uint32_t fail_every; /* 0: never fail */
  uint32_t calls;
} model_t;

typedef struct {
  uint32_t hash;
  uint32_t lines;
  size_t len;
  uint8_t line[MAX_OUT];
  uint8_t last[MAX_OUT];
  size_t last_len;
} out_t;

static out_t out;
static model_t model;
static uint32_t clock_state;

static int infer(const int32_t *ids, int8_t *scores, void *ctx) {
  model_t *m = ctx;
  uint32_t i, h = 2166136261u;
  check(m == &model);
  for (i = 0; i < m->seq_len; ++i) {
    check(ids[i] >= 0 && (uint32_t)ids[i] < m->buckets);
    h = (h ^ (uint32_t)ids[i]) * 16777619u;
  }
  m->calls++;
  if (m->fail_every != 0 && m->calls % m->fail_every == 0) {
    return (int)(h | 0x80000000u); /* any negative code, INT_MIN included */
  }
  for (i = 0; i < NUM_LABELS; ++i) {
    scores[i] = (int8_t)(uint8_t)(h >> (8u * i));
  }
  return 0;
}

static void on_write(const char *data, size_t len, void *ctx) {
  size_t i;
  check(ctx == &out && len > 0 && len <= TINYSLM_JSON_CHUNK);
  for (i = 0; i < len; ++i) {
    const uint8_t b = (uint8_t)data[i];
    out.hash = (out.hash ^ b) * 16777619u + 0x9E3779B9u;
    if (b == '\n') {
      check(json_line_ok(out.line, out.len));
      memcpy(out.last, out.line, out.len);
      out.last_len = out.len;
      out.lines++;
      out.len = 0;
    } else {
      check(out.len < MAX_OUT);
      out.line[out.len++] = b;
    }
  }
}

static uint32_t fake_clock(void *ctx) {
  uint32_t *t = ctx;
  *t += 0x9E3779B9u; /* wraps: the core takes differences */
  return *t;
}

static int hook_marker;

static void on_answer(const tinyslm_answer_t *a, void *ctx) {
  size_t i, sum = 0;
  check(ctx == &hook_marker && a->index < NUM_LABELS && a->intent == labels[a->index]);
  check(a->local <= 1u && a->by_host <= 1u && a->text != 0 && a->text_len > 0);
  for (i = 0; i < a->text_len; ++i) {
    sum += a->text[i]; /* ASan: the text is readable for its whole length */
  }
  (void)sum;
}

static void reset_out(void) {
  memset(&out, 0, sizeof(out));
  model.calls = 0;
  clock_state = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t line_buf[MAX_LINE + 16];
  static int32_t ids[MAX_SEQ + 8];
  static int8_t scores[NUM_LABELS + 8];
  static int32_t levels[NUM_LABELS];
  static uint32_t millis[NUM_LABELS];
  static const uint32_t max_chunks[4] = {1u, 7u, 64u, 320u};
  static const char info_cmd[] = "\n:info\n";
  tinyslm_model_info_t info;
  tinyslm_app_config_t cfg;
  tinyslm_app_t app;
  const uint8_t *in;
  size_t n, off, i, count;
  uint32_t max_chunk, hash1, lines1;
  int pass;

  if (size < 4) {
    return 0;
  }
  memset(&info, 0, sizeof(info));
  info.features.buckets = 2u + (uint32_t)data[0] * 9973u;
  info.features.seq_len = 1u + (uint32_t)data[1] % MAX_SEQ;
  info.features.unigrams = (uint8_t)(data[2] & 1u);
  info.features.bigrams = (uint8_t)((data[2] >> 1) & 1u);
  info.features.char_trigrams = (uint8_t)((data[2] >> 2) & 1u);
  info.features.hashes = (uint8_t)(data[3] & 15u); /* 0..15: valid and out of range */
  info.labels = labels;
  info.num_labels = NUM_LABELS;
  info.score_scale = (data[2] & 8u) ? 1.0f / 256.0f : 3.0e38f; /* absurd scale: clamped */
  info.score_zero_point = (data[2] & 16u) ? -128 : (int32_t)0x80000000u;
  info.threshold_q = (int32_t)(int8_t)data[3];
  info.threshold_milli = 0xFFFFFFFFu - data[3];
  info.model_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  info.ops = (data[2] & 32u) ? ",FULLY_CONNECTED,,SOFT\"MAX,\xff," : "";
  info.board = "fuzz\\board";
  info.version = "0.1.0";
  for (i = 0; i < NUM_LABELS; ++i) {
    levels[i] = (int32_t)(int8_t)(data[3] + 41u * i);
    millis[i] = (uint32_t)data[1] * 16777259u * (uint32_t)(i + 1u);
  }
  info.label_threshold_q = (data[2] & 64u) ? levels : 0;
  info.label_threshold_milli = (data[1] & 1u) ? millis : 0;

  model.buckets = info.features.buckets;
  model.seq_len = info.features.seq_len;
  model.fail_every = (data[3] >> 4) & 3u;

  memset(&cfg, 0, sizeof(cfg));
  cfg.model = &info;
  cfg.infer = infer;
  cfg.infer_ctx = &model;
  cfg.write = on_write;
  cfg.write_ctx = &out;
  cfg.clock = (data[2] & 128u) ? fake_clock : 0;
  cfg.clock_ctx = &clock_state;
  cfg.line_buf = line_buf;
  cfg.line_cap = 1u + ((size_t)data[1] * 7u + data[3]) % MAX_LINE;
  cfg.ids_buf = ids;
  cfg.scores_buf = scores;
  memset(line_buf, GUARD, sizeof(line_buf));
  memset(ids, GUARD, sizeof(ids));
  memset(scores, GUARD, sizeof(scores));

  max_chunk = max_chunks[data[0] & 3u];
  in = data + 4;
  n = size - 4;
  hash1 = 0;
  lines1 = 0;
  for (pass = 1; pass <= 3; ++pass) {
    reset_out();
    check(tinyslm_app_init(&app, &cfg) == 0);
    tinyslm_app_on_answer(&app, on_answer, &hook_marker);
    rng_state = 0x12345u + ((uint32_t)data[0] << 8 | data[1]);
    for (off = 0; off < n;) {
      size_t chunk = pass == 2 ? 1u : rng() % (max_chunk + 1u);
      uint32_t ev = pass == 3 ? rng() % 16u : 99u;
      if (chunk > n - off) {
        chunk = n - off;
      }
      if (ev == 0) {
        tinyslm_app_rx_overflow(&app);
      } else if (ev == 1 && chunk > 0) {
        tinyslm_app_handle_line(&app, in + off, chunk);
      } else if (ev == 2) {
        tinyslm_app_feed(&app, 0, chunk); /* refused: nothing happens */
      }
      tinyslm_app_feed(&app, in + off, chunk);
      check(app.line_len <= cfg.line_cap && app.discarding <= 1u);
      off += chunk;
    }
    if (pass == 1) {
      hash1 = out.hash;
      lines1 = out.lines;
    } else if (pass == 2) {
      check(out.hash == hash1 && out.lines == lines1); /* chunking changed nothing */
    } else {
      tinyslm_app_feed(&app, (const uint8_t *)info_cmd, sizeof(info_cmd) - 1u);
      /* (a line limit under 5 bytes refuses ":info" itself as too long) */
      check(cfg.line_cap < 5u || (out.last_len > 9 && memcmp(out.last, "{\"info\":{", 9) == 0));
    }
    check(out.len == 0); /* every line that was begun was ended */
  }

  /* caller buffers: nothing written past their declared sizes */
  for (i = cfg.line_cap; i < sizeof(line_buf); ++i) {
    check(line_buf[i] == GUARD);
  }
  for (i = info.features.seq_len; i < MAX_SEQ + 8; ++i) {
    check((uint32_t)ids[i] == 0xA5A5A5A5u);
  }
  for (i = NUM_LABELS; i < sizeof(scores); ++i) {
    check((uint8_t)scores[i] == GUARD);
  }

  /* the tokenizer on the raw bytes: ids in range, padding only at the end */
  count = tinyslm_tokenize(&info.features, in, n, ids);
  check(count <= info.features.seq_len);
  for (i = 0; i < info.features.seq_len; ++i) {
    check(i < count ? (ids[i] >= 1 && (uint32_t)ids[i] < info.features.buckets) : ids[i] == 0);
  }
  return 0;
}
