/*
 * Test-only host driver for the text firmware's C core (firmware/text/tinyslm_core.c
 * and tinyslm_tokenizer.c over firmware/common/tinyslm_json.c and tinyslm_gate.c).
 * The same program is built
 * plain, with ASan+UBSan and with --coverage, and the Python tests talk to it
 * through stdin/stdout:
 *
 *   core_driver tok BUCKETS SEQ_LEN UNI BI TRI
 *       stdin: records (uint32 little-endian length, bytes); stdout per record:
 *       int32 count returned by tinyslm_tokenize, then SEQ_LEN int32 ids.
 *   core_driver proto [options]
 *       feeds stdin to tinyslm_app_feed and writes the device's output to
 *       stdout. The fake model returns the --scores vectors in turn (cycling);
 *       a vector "!N" makes that inference fail with code N. --hook after|early
 *       registers the answer hook (tinyslm_app_on_answer) after or before
 *       tinyslm_app_init (which must clear it); each call writes a line
 *       "#hook INDEX SCORE_MILLI LOCAL TEXT_LEN:TEXT" to stdout. --overflow-marker B
 *       (a byte value): each byte B in stdin is not fed; tinyslm_app_rx_overflow is
 *       called in its place (the glue's receive buffer overflowed there).
 *       --error-marker B: each byte B is not fed either; tinyslm_app_rx_error(app,
 *       "framing") is called in its place (the glue received a byte wrong there).
 *       --cpu-hz N: tinyslm_app_set_cpu_hz(app, N) after tinyslm_app_init.
 *   core_driver err
 *       stdin: records of two strings, code then reason, each a uint32
 *       little-endian length (0xFFFFFFFF: NULL) and its bytes; stdout: what
 *       tinyslm_write_error writes for each record.
 *   core_driver selftest
 *       the defensive paths (NULL pointers, bad sizes, odd quantization) and the
 *       JSON writer's number extremes.
 *
 * Unlike the core, this driver may use the heap and stdio.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyslm_core.h"

#define MAX_LABELS 64
#define MAX_VECTORS 512
#define MAX_WRITE 128 /* the core must write in small chunks */

static int fail(const char *msg) {
  fprintf(stderr, "core_driver: %s\n", msg);
  return 2;
}

static int read_exact(void *buf, size_t n) { return fread(buf, 1, n, stdin) == n; }

static int run_tok(int argc, char **argv) {
  tinyslm_features_t spec;
  int32_t *ids;
  uint8_t *text = NULL;
  size_t cap = 0;
  uint8_t hdr[4];

  if (argc != 8) {
    return fail("usage: tok BUCKETS SEQ_LEN UNI BI TRI HASHES");
  }
  spec.buckets = (uint32_t)strtoul(argv[2], NULL, 10);
  spec.seq_len = (uint32_t)strtoul(argv[3], NULL, 10);
  spec.unigrams = (uint8_t)atoi(argv[4]);
  spec.bigrams = (uint8_t)atoi(argv[5]);
  spec.char_trigrams = (uint8_t)atoi(argv[6]);
  spec.hashes = (uint8_t)atoi(argv[7]);
  ids = malloc(sizeof(int32_t) * (spec.seq_len + 1u));
  if (ids == NULL) {
    return fail("out of memory");
  }
  while (read_exact(hdr, 4)) {
    const size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 |
                     (size_t)hdr[3] << 24;
    int32_t count;
    if (n > cap) {
      /* exact-size buffer so that ASan catches any read past len */
      free(text);
      text = malloc(n);
      cap = n;
      if (text == NULL) {
        return fail("out of memory");
      }
    }
    if (n > 0 && !read_exact(text, n)) {
      return fail("truncated record");
    }
    ids[spec.seq_len] = 0x5A5A5A5A; /* canary: must stay untouched */
    count = (int32_t)tinyslm_tokenize(&spec, n > 0 ? text : (const uint8_t *)"", n, ids);
    if (ids[spec.seq_len] != 0x5A5A5A5A) {
      return fail("tokenize wrote past seq_len");
    }
    fwrite(&count, sizeof(count), 1, stdout);
    fwrite(ids, sizeof(int32_t), spec.seq_len, stdout);
    if (n < cap) {
      /* re-allocate so the next shorter record also ends at a redzone */
      free(text);
      text = NULL;
      cap = 0;
    }
  }
  free(text);
  free(ids);
  return 0;
}

typedef struct {
  int8_t vectors[MAX_VECTORS][MAX_LABELS];
  int fail_code[MAX_VECTORS]; /* non-zero: this inference fails */
  size_t count;
  size_t next;
  uint32_t num_labels;
  uint32_t buckets;
  uint32_t seq_len;
  unsigned long calls;
} fake_model_t;

static int fake_infer(const int32_t *ids, int8_t *scores, void *ctx) {
  fake_model_t *m = ctx;
  size_t k = m->next;
  uint32_t i;
  for (i = 0; i < m->seq_len; ++i) {
    if (ids[i] < 0 || (uint32_t)ids[i] >= m->buckets) {
      fprintf(stderr, "core_driver: id %ld out of range\n", (long)ids[i]);
      abort();
    }
  }
  m->calls++;
  m->next = (m->next + 1) % m->count;
  if (m->fail_code[k] != 0) {
    return m->fail_code[k];
  }
  for (i = 0; i < m->num_labels; ++i) {
    scores[i] = m->vectors[k][i];
  }
  return 0;
}

static void write_stdout(const char *data, size_t len, void *ctx) {
  (void)ctx;
  if (len == 0 || len > MAX_WRITE) {
    fprintf(stderr, "core_driver: write of %lu bytes\n", (unsigned long)len);
    abort();
  }
  fwrite(data, 1, len, stdout);
}

static uint32_t fake_clock(void *ctx) {
  uint32_t *t = ctx;
  /* starts near the wrap-around so that differences must be taken mod 2^32 */
  *t += 406u;
  return *t;
}

static int parse_vector(fake_model_t *m, const char *s) {
  uint32_t i = 0;
  char *end;
  if (m->count == MAX_VECTORS) {
    return 0;
  }
  if (s[0] == '!') {
    m->fail_code[m->count++] = (int)strtol(s + 1, NULL, 10);
    return 1;
  }
  while (*s != '\0' && i < MAX_LABELS) {
    long v = strtol(s, &end, 10);
    if (end == s || v < -128 || v > 127) {
      return 0;
    }
    m->vectors[m->count][i++] = (int8_t)v;
    s = *end == ',' ? end + 1 : end;
  }
  m->count++;
  return 1;
}

static const char *const *hook_labels;
static uint32_t hook_num_labels;
static int hook_ctx;

static void on_answer(const tinyslm_answer_t *a, void *ctx) {
  if (ctx != &hook_ctx || a == NULL || a->index >= hook_num_labels ||
      a->intent != hook_labels[a->index] ||
      (a->text == NULL && a->text_len != 0)) {
    fprintf(stderr, "core_driver: answer hook: wrong ctx, intent or text\n");
    exit(6);
  }
  /* "#hook index milli <local><by_host> len:text" */
  printf("#hook %lu %lu %u%u %lu:", (unsigned long)a->index, (unsigned long)a->score_milli,
         (unsigned)a->local, (unsigned)a->by_host, (unsigned long)a->text_len);
  fwrite(a->text, 1, a->text_len, stdout);
  putchar('\n');
}

/* Up to MAX_LABELS comma-separated integers of v into out; returns how many. */
static int parse_list(const char *v, long long *out) {
  char *next = (char *)v;
  int n;
  for (n = 0; n < MAX_LABELS && *next != '\0'; ++n) {
    out[n] = strtoll(next, &next, 10);
    if (*next == ',') {
      ++next;
    }
  }
  return n;
}

static int run_proto(int argc, char **argv) {
  static fake_model_t fm;
  static const char *labels[MAX_LABELS];
  static int32_t levels[MAX_LABELS];
  static uint32_t millis[MAX_LABELS];
  tinyslm_model_info_t info;
  tinyslm_app_config_t cfg;
  tinyslm_app_t app;
  size_t chunk = 4096, line_cap = 256;
  uint32_t clock_state = 0xFFFFF000u;
  int use_clock = 0, a;
  const char *hook = "";
  uint8_t *buf;
  size_t got;
  unsigned long seed = 12345;
  int marker = -1;
  int error_marker = -1;
  unsigned long cpu_hz = 0;

  memset(&info, 0, sizeof(info));
  info.features.buckets = 4096;
  info.features.seq_len = 128;
  info.features.unigrams = info.features.bigrams = info.features.char_trigrams = 1;
  info.score_scale = 1.0f / 256.0f;
  info.score_zero_point = -128;
  info.threshold_q = 13;
  info.threshold_milli = 550;
  info.model_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  info.model_bytes = 70000;
  info.arena_bytes = 4096;
  info.ops = "FULLY_CONNECTED,GATHER,MEAN,SOFTMAX";
  info.board = "esp32";
  info.version = "0.1.0";

  for (a = 2; a + 1 < argc; a += 2) {
    const char *k = argv[a], *v = argv[a + 1];
    if (strcmp(k, "--label") == 0 && info.num_labels < MAX_LABELS) {
      labels[info.num_labels++] = v;
    } else if (strcmp(k, "--scores") == 0) {
      if (!parse_vector(&fm, v)) {
        return fail("bad --scores");
      }
    } else if (strcmp(k, "--scale") == 0) {
      info.score_scale = strtof(v, NULL);
    } else if (strcmp(k, "--zp") == 0) {
      info.score_zero_point = (int32_t)strtol(v, NULL, 10);
    } else if (strcmp(k, "--threshold-q") == 0) {
      info.threshold_q = (int32_t)strtol(v, NULL, 10);
    } else if (strcmp(k, "--label-levels") == 0) {
      /* comma-separated int32 levels, one per label (label_threshold_q) */
      long long values[MAX_LABELS];
      int n, count = parse_list(v, values);
      for (n = 0; n < count; ++n) {
        levels[n] = (int32_t)values[n];
      }
      info.label_threshold_q = levels;
    } else if (strcmp(k, "--label-milli") == 0) {
      /* comma-separated thresholds in thousandths, one per label (label_threshold_milli) */
      long long values[MAX_LABELS];
      int n, count = parse_list(v, values);
      for (n = 0; n < count; ++n) {
        millis[n] = (uint32_t)values[n];
      }
      info.label_threshold_milli = millis;
    } else if (strcmp(k, "--threshold-milli") == 0) {
      info.threshold_milli = (uint32_t)strtoul(v, NULL, 10);
    } else if (strcmp(k, "--line-cap") == 0) {
      line_cap = (size_t)strtoul(v, NULL, 10);
    } else if (strcmp(k, "--buckets") == 0) {
      info.features.buckets = (uint32_t)strtoul(v, NULL, 10);
    } else if (strcmp(k, "--seq-len") == 0) {
      info.features.seq_len = (uint32_t)strtoul(v, NULL, 10);
    } else if (strcmp(k, "--overflow-marker") == 0) {
      marker = (int)(strtoul(v, NULL, 0) & 0xFFu);
    } else if (strcmp(k, "--error-marker") == 0) {
      error_marker = (int)(strtoul(v, NULL, 0) & 0xFFu);
    } else if (strcmp(k, "--cpu-hz") == 0) {
      cpu_hz = strtoul(v, NULL, 10);
    } else if (strcmp(k, "--chunk") == 0) {
      chunk = (size_t)strtoul(v, NULL, 10); /* 0: random chunk sizes */
    } else if (strcmp(k, "--seed") == 0) {
      seed = strtoul(v, NULL, 10);
    } else if (strcmp(k, "--hook") == 0) {
      hook = v;
    } else if (strcmp(k, "--clock") == 0) {
      use_clock = atoi(v);
    } else if (strcmp(k, "--ops") == 0) {
      info.ops = v;
    } else if (strcmp(k, "--board") == 0) {
      info.board = v;
    } else if (strcmp(k, "--sha") == 0) {
      info.model_sha256 = v;
    } else if (strcmp(k, "--model-bytes") == 0) {
      info.model_bytes = (uint32_t)strtoul(v, NULL, 10);
    } else if (strcmp(k, "--arena-bytes") == 0) {
      info.arena_bytes = (uint32_t)strtoul(v, NULL, 10);
    } else {
      return fail("unknown option");
    }
  }
  if (info.num_labels == 0 || fm.count == 0) {
    return fail("need --label and --scores");
  }
  info.labels = labels;
  fm.num_labels = info.num_labels;
  fm.buckets = info.features.buckets;
  fm.seq_len = info.features.seq_len;

  memset(&cfg, 0, sizeof(cfg));
  cfg.model = &info;
  cfg.infer = fake_infer;
  cfg.infer_ctx = &fm;
  cfg.write = write_stdout;
  cfg.clock = use_clock ? fake_clock : NULL;
  cfg.clock_ctx = &clock_state;
  cfg.line_cap = line_cap;
  cfg.line_buf = malloc(line_cap);
  cfg.ids_buf = malloc(sizeof(int32_t) * info.features.seq_len);
  cfg.scores_buf = malloc((size_t)info.num_labels);
  hook_labels = labels;
  hook_num_labels = info.num_labels;
  if (strcmp(hook, "early") == 0) {
    tinyslm_app_on_answer(&app, on_answer, &hook_ctx);
  }
  if (tinyslm_app_init(&app, &cfg) != 0) {
    return fail("tinyslm_app_init failed");
  }
  if (strcmp(hook, "after") == 0) {
    tinyslm_app_on_answer(&app, on_answer, &hook_ctx);
  }
  tinyslm_app_on_answer(NULL, on_answer, &hook_ctx); /* NULL app: nothing */
  tinyslm_app_rx_overflow(NULL);                     /* NULL app: nothing */
  tinyslm_app_rx_error(NULL, "framing");             /* NULL app: nothing */
  tinyslm_app_rx_error(&app, NULL);                  /* no reason: nothing */
  tinyslm_app_set_cpu_hz(NULL, 1u);                  /* NULL app: nothing */
  if (cpu_hz != 0) {
    tinyslm_app_set_cpu_hz(&app, (uint32_t)cpu_hz);
  }
  buf = malloc(65536);
  while ((got = fread(buf, 1, 65536, stdin)) > 0) {
    size_t off = 0;
    while (off < got) {
      size_t n = chunk;
      if (n == 0) {
        seed = seed * 1103515245ul + 12345ul;
        n = 1 + (size_t)((seed >> 16) % 97u);
      }
      if (n > got - off) {
        n = got - off;
      }
      if (marker >= 0 && memchr(buf + off, marker, n) != NULL) {
        const size_t at = (size_t)((const uint8_t *)memchr(buf + off, marker, n) - (buf + off));
        tinyslm_app_feed(&app, buf + off, at);
        tinyslm_app_rx_overflow(&app);
        n = at + 1u;
      } else if (error_marker >= 0 && memchr(buf + off, error_marker, n) != NULL) {
        const size_t at =
            (size_t)((const uint8_t *)memchr(buf + off, error_marker, n) - (buf + off));
        tinyslm_app_feed(&app, buf + off, at);
        tinyslm_app_rx_error(&app, "framing");
        n = at + 1u;
      } else {
        tinyslm_app_feed(&app, buf + off, n);
      }
      off += n;
    }
  }
  fflush(stdout);
  fprintf(stderr, "inferences=%lu\n", fm.calls);
  free(buf);
  free(cfg.line_buf);
  free(cfg.ids_buf);
  free(cfg.scores_buf);
  return 0;
}

/* Reads one string of an err record into a fresh exact-size, NUL-terminated
 * buffer (so ASan sees any read past the terminator); *out is NULL for a NULL
 * string. Returns 0 at end of input or on a truncated record. */
static int read_err_string(char **out) {
  uint8_t hdr[4];
  size_t n;
  *out = NULL;
  if (!read_exact(hdr, 4)) {
    return 0;
  }
  n = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
  if (n == 0xFFFFFFFFu) {
    return 1;
  }
  *out = malloc(n + 1);
  if (*out == NULL || (n > 0 && !read_exact(*out, n))) {
    free(*out);
    *out = NULL;
    return 0;
  }
  (*out)[n] = '\0';
  return 1;
}

static int run_err(void) {
  for (;;) {
    char *code, *reason;
    if (!read_err_string(&code)) {
      return 0;
    }
    if (!read_err_string(&reason)) {
      free(code);
      return fail("truncated err record");
    }
    tinyslm_write_error(write_stdout, NULL, code, reason);
    free(code);
    free(reason);
  }
}

/* ---- selftest: the defensive paths ------------------------------------- */

static unsigned long writes;
static char captured[512];
static size_t captured_len;
static const char expected_info[] =
    "{\"info\":{\"version\":\"\",\"board\":\"\",\"model_sha256\":\"\",\"model_bytes\":0,"
    "\"arena_bytes\":0,\"ops\":[],\"labels\":2,\"threshold\":0.000}}\n";
static void count_write(const char *d, size_t n, void *c) {
  (void)c;
  writes += n;
  if (captured_len + n <= sizeof(captured)) {
    memcpy(captured + captured_len, d, n);
    captured_len += n;
  }
}
static int ok_infer(const int32_t *ids, int8_t *s, void *c) {
  (void)ids;
  (void)c;
  s[0] = 1;
  return 0;
}

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "selftest failed line %d: %s\n", __LINE__, #cond); \
      return 1;                                                      \
    }                                                                \
  } while (0)

static int run_selftest(void) {
  static const char *labels[2] = {"a", "b"};
  static const char *null_labels[2] = {"a", NULL};
  tinyslm_model_info_t info, bad;
  tinyslm_app_config_t cfg, c2;
  tinyslm_app_t app;
  tinyslm_features_t spec = {4096, 4, 1, 1, 1, 1};
  tinyslm_decision_t d;
  uint8_t line[8];
  tinyslm_json_t json;
  char number_text[96];
  int32_t ids[4];
  int8_t scores[2] = {5, 7};
  const int8_t low[2] = {-128, -128};
  int i;

  memset(&info, 0, sizeof(info));
  info.features = spec;
  info.labels = labels;
  info.num_labels = 2;
  info.score_scale = 1.0f / 256.0f;
  info.score_zero_point = -128;
  memset(&cfg, 0, sizeof(cfg));
  cfg.model = &info;
  cfg.infer = ok_infer;
  cfg.write = count_write;
  cfg.line_buf = line;
  cfg.line_cap = sizeof(line);
  cfg.ids_buf = ids;
  cfg.scores_buf = scores;

  /* init: every required pointer and size */
  CHECK(tinyslm_app_init(NULL, &cfg) == -1);
  CHECK(tinyslm_app_init(&app, NULL) == -1);
  for (i = 0; i < 8; ++i) {
    c2 = cfg;
    switch (i) {
      case 0: c2.model = NULL; break;
      case 1: c2.infer = NULL; break;
      case 2: c2.write = NULL; break;
      case 3: c2.line_buf = NULL; break;
      case 4: c2.line_cap = 0; break;
      case 5: c2.ids_buf = NULL; break;
      case 6: c2.scores_buf = NULL; break;
      default: break;
    }
    CHECK(tinyslm_app_init(&app, &c2) == (i == 7 ? 0 : -1));
  }
  for (i = 0; i < 6; ++i) {
    bad = info;
    switch (i) {
      case 0: bad.labels = NULL; break;
      case 1: bad.num_labels = 0; break;
      case 2: bad.features.seq_len = 0; break;
      case 3: bad.features.buckets = 1; break;
      case 4: bad.features.buckets = 0x80000000u; break;
      default: bad.labels = null_labels; break;
    }
    c2 = cfg;
    c2.model = &bad;
    CHECK(tinyslm_app_init(&app, &c2) == -1);
    /* a failed init leaves an app that ignores input */
    writes = 0;
    tinyslm_app_feed(&app, (const uint8_t *)"hi\n:info\n", 9);
    tinyslm_app_handle_line(&app, (const uint8_t *)"hi", 2);
    CHECK(writes == 0);
  }

  /* :info with NULL strings in the model info writes empty values */
  CHECK(tinyslm_app_init(&app, &cfg) == 0);
  captured_len = 0;
  tinyslm_app_handle_line(&app, (const uint8_t *)":info", 5);
  CHECK(captured_len == strlen(expected_info) &&
        memcmp(captured, expected_info, captured_len) == 0);

  /* feed / handle_line with NULL arguments do nothing */
  CHECK(tinyslm_app_init(&app, &cfg) == 0);
  writes = 0;
  tinyslm_app_feed(NULL, (const uint8_t *)"x\n", 2);
  tinyslm_app_feed(&app, NULL, 5);
  tinyslm_app_handle_line(NULL, (const uint8_t *)"x", 1);
  tinyslm_app_handle_line(&app, NULL, 1);
  tinyslm_app_handle_line(&app, (const uint8_t *)"x", 0);
  CHECK(writes == 0);
  tinyslm_app_handle_line(&app, (const uint8_t *)"x", 1);
  CHECK(writes > 0);

  /* app_setup: tinyslm_app_init with NULL contexts, the same checks */
  CHECK(tinyslm_app_setup(NULL, &info, ok_infer, count_write, NULL, line, sizeof(line), ids,
                          scores) == -1);
  CHECK(tinyslm_app_setup(&app, &info, ok_infer, count_write, NULL, line, 0, ids, scores) == -1);
  CHECK(tinyslm_app_setup(&app, &info, ok_infer, count_write, NULL, line, sizeof(line), ids,
                          scores) == 0);
  CHECK(app.cfg.model == &info && app.cfg.infer == ok_infer && app.cfg.write == count_write &&
        app.cfg.clock == NULL && app.cfg.line_buf == line && app.cfg.line_cap == sizeof(line) &&
        app.cfg.ids_buf == ids && app.cfg.scores_buf == scores && app.cfg.infer_ctx == NULL &&
        app.cfg.write_ctx == NULL && app.cfg.clock_ctx == NULL);
  captured_len = 0;
  tinyslm_app_feed(&app, (const uint8_t *)"hi\n", 3);
  CHECK(captured_len > 0 && captured[captured_len - 1] == '\n');

  /* write_error: a NULL write function writes nothing (and does not crash) */
  tinyslm_write_error(NULL, NULL, "x", "y");

  /* json: a writer without a write function drops everything, however long */
  tinyslm_json_begin(&json, NULL, NULL);
  for (i = 0; i < 3 * TINYSLM_JSON_CHUNK; ++i) {
    tinyslm_json_char(&json, 'x');
  }
  tinyslm_json_end_line(&json);
  CHECK(json.len == 0);

  /* json: number extremes, as printf writes them */
  captured_len = 0;
  tinyslm_json_begin(&json, count_write, NULL);
  tinyslm_json_int(&json, LONG_MIN);
  tinyslm_json_char(&json, ' ');
  tinyslm_json_int(&json, LONG_MAX);
  tinyslm_json_char(&json, ' ');
  tinyslm_json_int(&json, 0);
  tinyslm_json_char(&json, ' ');
  tinyslm_json_uint(&json, ULONG_MAX);
  tinyslm_json_char(&json, ' ');
  tinyslm_json_milli(&json, 0xFFFFFFFFu);
  tinyslm_json_end_line(&json);
  snprintf(number_text, sizeof(number_text), "%ld %ld 0 %lu 4294967.295\n", LONG_MIN, LONG_MAX,
           ULONG_MAX);
  CHECK(captured_len == strlen(number_text) && memcmp(captured, number_text, captured_len) == 0);

  /* tokenize: NULL spec/ids, NULL text, buckets out of range, seq_len 0 */
  CHECK(tinyslm_tokenize(NULL, (const uint8_t *)"ab", 2, ids) == 0);
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab", 2, NULL) == 0);
  ids[0] = 7;
  CHECK(tinyslm_tokenize(&spec, NULL, 5, ids) == 0 && ids[0] == 0 && ids[3] == 0);
  spec.buckets = 1;
  ids[0] = 7;
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab", 2, ids) == 0 && ids[0] == 0);
  spec.buckets = 0x80000000u;
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab", 2, ids) == 0 && ids[0] == 0);
  spec.buckets = 2; /* mod 1: every id is 1 */
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab cd", 5, ids) == 4 && ids[3] == 1);
  /* hashes: 3 ids per n-gram in 4 slots is one n-gram and a pad; 0 counts as
   * 1; above 8 (no FeatureSpec allows it) is all padding */
  spec.hashes = 3;
  ids[3] = 7;
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab cd", 5, ids) == 3 && ids[2] == 1 &&
        ids[3] == 0);
  spec.hashes = 0;
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab cd", 5, ids) == 4);
  spec.hashes = 9;
  ids[0] = 7;
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab cd", 5, ids) == 0 && ids[0] == 0);
  spec.hashes = 1;
  spec.seq_len = 0;
  ids[0] = 7;
  CHECK(tinyslm_tokenize(&spec, (const uint8_t *)"ab", 2, ids) == 0 && ids[0] == 7);

  /* decide: NULLs, and quantization parameters no real model has */
  d = tinyslm_decide(NULL, scores);
  CHECK(d.index == 0 && d.score_milli == 0 && d.local == 0);
  d = tinyslm_gate_decide(NULL, scores);
  CHECK(d.index == 0 && d.score_milli == 0 && d.local == 0);
  d = tinyslm_decide(&info, NULL);
  CHECK(d.index == 0 && d.local == 0);
  bad = info;
  bad.num_labels = 0;
  d = tinyslm_decide(&bad, scores);
  CHECK(d.index == 0 && d.local == 0);
  bad = info;
  bad.score_zero_point = 100; /* q - zp < 0 -> clamped to 0 */
  d = tinyslm_decide(&bad, scores);
  CHECK(d.index == 1 && d.score_q == 7 && d.score_milli == 0);
  bad.score_zero_point = (int32_t)0x80000000u; /* difference overflows int32 */
  bad.score_scale = 1.0f;
  d = tinyslm_decide(&bad, scores);
  CHECK(d.score_milli == 0xFFFFFFFFu);
  bad.score_zero_point = 0x7FFFFFFF; /* q - zp below -2^31 + 1 */
  d = tinyslm_decide(&bad, low);
  CHECK(d.index == 0 && d.score_q == -128 && d.score_milli == 0);
  bad.score_zero_point = 0;
  bad.score_scale = strtof("nan", NULL);
  CHECK(bad.score_scale != bad.score_scale);
  d = tinyslm_decide(&bad, scores);
  CHECK(d.score_milli == 0);
  bad.score_scale = 3.0e30f;
  d = tinyslm_decide(&bad, scores);
  CHECK(d.score_milli == 0xFFFFFFFFu);
  bad.threshold_q = 7;
  d = tinyslm_decide(&bad, scores);
  CHECK(d.local == 1);
  bad.threshold_q = 8;
  d = tinyslm_decide(&bad, scores);
  CHECK(d.local == 0);
  puts("selftest ok");
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "tok") == 0) {
    return run_tok(argc, argv);
  }
  if (argc >= 2 && strcmp(argv[1], "proto") == 0) {
    return run_proto(argc, argv);
  }
  if (argc >= 2 && strcmp(argv[1], "err") == 0) {
    return run_err();
  }
  if (argc >= 2 && strcmp(argv[1], "selftest") == 0) {
    return run_selftest();
  }
  return fail("usage: core_driver tok|proto|err|selftest ...");
}
