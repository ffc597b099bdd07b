/*
 * tinyslm portable core (see tinyslm_core.h and docs/architecture.md).
 *
 * Plain C99 with no heap, no stdio and no libc string functions, so the same
 * file builds for an ESP32, a Cortex-M7 and the host emulator. Numbers are
 * formatted with integer code; output goes through a small stack buffer that
 * is flushed to the write callback, so nothing scales with the input.
 */
#include "tinyslm_core.h"

#define TINYSLM_FNV_OFFSET 2166136261u
#define TINYSLM_FNV_PRIME 16777619u
#define TINYSLM_TAG_UNIGRAM 0x01u
#define TINYSLM_TAG_BIGRAM 0x02u
#define TINYSLM_TAG_TRIGRAM 0x03u

/* Output chunk: small enough for any stack, large enough that a typical
 * result line costs one or two write calls. */
#define TINYSLM_OUT_CHUNK 96

/* ------------------------------------------------------------------------ */
/* Tokenizer: mirrors tinyslm/features.py byte for byte.                     */
/* ------------------------------------------------------------------------ */

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
  uint32_t mod;
  size_t pos, ws, we, i;

  if (spec == 0 || ids == 0) {
    return 0;
  }
  cap = spec->seq_len;
  /* ids must fit int32 and the modulus must be non-zero (FeatureSpec enforces
   * 2 <= buckets <= 2^31-1); anything else yields all-padding. */
  if (spec->buckets < 2u || spec->buckets > 0x7FFFFFFFu || text == 0) {
    len = 0;
  }
  mod = spec->buckets - 1u;

#define TINYSLM_EMIT(h)                                   \
  do {                                                    \
    if (filled >= cap) {                                  \
      return filled;                                      \
    }                                                     \
    ids[filled++] = (int32_t)(1u + (uint32_t)(h) % mod);  \
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

  for (i = filled; i < cap; ++i) {
    ids[i] = 0;
  }
  return filled;
}

/* ------------------------------------------------------------------------ */
/* Confidence gate: mirrors tinyslm/decision.py.                             */
/* ------------------------------------------------------------------------ */

static uint32_t score_milli(const tinyslm_model_info_t *model, int32_t q) {
  /* q is an int8 score, but the zero point comes from the caller: clamp the
   * difference instead of risking signed overflow. */
  const int64_t diff64 = (int64_t)q - (int64_t)model->score_zero_point;
  const int32_t diff = diff64 > 0x7FFFFFFF ? 0x7FFFFFFF
                       : diff64 < -0x7FFFFFFF ? -0x7FFFFFFF
                                              : (int32_t)diff64;
  /* volatile: the product must be rounded to float32 before 0.5f is added,
   * exactly as in Python; a fused multiply-add (allowed by -ffp-contract)
   * could otherwise round differently on an FPU that has one. */
  volatile float scaled = (float)diff * model->score_scale * 1000.0f;
  const float rounded = scaled + 0.5f;
  /* Negative, NaN or huge confidences only come from nonsensical quantization
   * parameters; clamp so that the float-to-integer cast stays defined. */
  if (!(rounded >= 0.0f)) {
    return 0;
  }
  if (rounded >= 4294967296.0f) {
    return 0xFFFFFFFFu;
  }
  return (uint32_t)rounded;
}

tinyslm_decision_t tinyslm_decide(const tinyslm_model_info_t *model, const int8_t *scores) {
  tinyslm_decision_t d;
  uint32_t i, best = 0;

  d.index = 0;
  d.score_q = 0;
  d.score_milli = 0;
  d.local = 0;
  if (model == 0 || scores == 0 || model->num_labels == 0) {
    return d;
  }
  for (i = 1; i < model->num_labels; ++i) {
    if (scores[i] > scores[best]) { /* strict: the first maximum wins */
      best = i;
    }
  }
  d.index = best;
  d.score_q = scores[best];
  d.score_milli = score_milli(model, d.score_q);
  d.local = (uint8_t)(d.score_q >= model->threshold_q);
  return d;
}

/* ------------------------------------------------------------------------ */
/* Bounded JSON output.                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
  tinyslm_write_fn write;
  void *ctx;
  size_t len;
  char buf[TINYSLM_OUT_CHUNK];
} out_t;

static void out_init_fn(out_t *o, tinyslm_write_fn write, void *ctx) {
  o->write = write;
  o->ctx = ctx;
  o->len = 0;
}

static void out_init(out_t *o, const tinyslm_app_t *app) {
  out_init_fn(o, app->cfg.write, app->cfg.write_ctx);
}

static void out_flush(out_t *o) {
  if (o->len > 0) {
    o->write(o->buf, o->len, o->ctx);
    o->len = 0;
  }
}

static void out_char(out_t *o, char c) {
  if (o->len == sizeof(o->buf)) {
    out_flush(o);
  }
  o->buf[o->len++] = c;
}

/* Trusted ASCII literals written by this file. */
static void out_lit(out_t *o, const char *s) {
  while (*s != '\0') {
    out_char(o, *s++);
  }
}

static void out_ulong(out_t *o, unsigned long v) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0 && n < sizeof(digits));
  while (n > 0) {
    out_char(o, digits[--n]);
  }
}

static void out_long(out_t *o, int32_t v) {
  if (v < 0) {
    out_char(o, '-');
    /* -(v + 1) + 1 avoids overflow at INT32_MIN */
    out_ulong(o, (unsigned long)(uint32_t)(-(v + 1)) + 1u);
  } else {
    out_ulong(o, (unsigned long)v);
  }
}

/* Thousandths as a decimal with three places: 930 -> 0.930, 1000 -> 1.000. */
static void out_milli(out_t *o, uint32_t milli) {
  const uint32_t frac = milli % 1000u;
  out_ulong(o, (unsigned long)(milli / 1000u));
  out_char(o, '.');
  out_char(o, (char)('0' + (int)(frac / 100u)));
  out_char(o, (char)('0' + (int)(frac / 10u % 10u)));
  out_char(o, (char)('0' + (int)(frac % 10u)));
}

/* Length of the valid UTF-8 sequence starting at the non-ASCII byte s[0]
 * (2..4), or 0 when it does not start one. Rejects overlongs, surrogates and > U+10FFFF. */
static size_t utf8_seq_len(const uint8_t *s, size_t avail) {
  const uint8_t b = s[0];
  size_t need, k;
  uint8_t lo = 0x80u, hi = 0xBFu; /* allowed range of the second byte */

  if (b >= 0xC2u && b <= 0xDFu) {
    need = 2;
  } else if (b >= 0xE0u && b <= 0xEFu) {
    need = 3;
    if (b == 0xE0u) {
      lo = 0xA0u;
    } else if (b == 0xEDu) {
      hi = 0x9Fu;
    }
  } else if (b >= 0xF0u && b <= 0xF4u) {
    need = 4;
    if (b == 0xF0u) {
      lo = 0x90u;
    } else if (b == 0xF4u) {
      hi = 0x8Fu;
    }
  } else {
    return 0;
  }
  if (avail < need || s[1] < lo || s[1] > hi) {
    return 0;
  }
  for (k = 2; k < need; ++k) {
    if (s[k] < 0x80u || s[k] > 0xBFu) {
      return 0;
    }
  }
  return need;
}

static const char hex_digits[] = "0123456789abcdef";

/* A JSON string body: '"' and '\\' escaped, control bytes as \n, \t, ... or
 * \u00XX, valid UTF-8 copied (but U+2028/U+2029 as \u2028/\u2029), each
 * invalid byte as \ufffd. */
static void out_escaped(out_t *o, const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    const uint8_t b = s[i];
    if (b < 0x80u) {
      if (b == '"' || b == '\\') {
        out_char(o, '\\');
        out_char(o, (char)b);
      } else if (b >= 0x20u) {
        out_char(o, (char)b);
      } else if (b == '\n') {
        out_lit(o, "\\n");
      } else if (b == '\r') {
        out_lit(o, "\\r");
      } else if (b == '\t') {
        out_lit(o, "\\t");
      } else if (b == '\b') {
        out_lit(o, "\\b");
      } else if (b == '\f') {
        out_lit(o, "\\f");
      } else {
        out_lit(o, "\\u00");
        out_char(o, hex_digits[b >> 4]);
        out_char(o, hex_digits[b & 0x0Fu]);
      }
      ++i;
    } else {
      const size_t n = utf8_seq_len(s + i, len - i);
      if (n == 0) {
        out_lit(o, "\\ufffd");
        ++i;
      } else if (n == 3 && b == 0xE2u && s[i + 1] == 0x80u &&
                 (s[i + 2] == 0xA8u || s[i + 2] == 0xA9u)) {
        /* U+2028/U+2029 are valid in JSON but end a line in JavaScript and in
         * many line-oriented readers: escaped, as JavaScript-safe writers do. */
        out_lit(o, s[i + 2] == 0xA8u ? "\\u2028" : "\\u2029");
        i += 3;
      } else {
        size_t k;
        for (k = 0; k < n; ++k) {
          out_char(o, (char)s[i + k]);
        }
        i += n;
      }
    }
  }
}

static size_t cstr_len(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') {
    ++n;
  }
  return n;
}

/* A quoted JSON string from caller data (NULL writes ""). */
static void out_string(out_t *o, const char *s) {
  out_char(o, '"');
  if (s != 0) {
    out_escaped(o, (const uint8_t *)s, cstr_len(s));
  }
  out_char(o, '"');
}

static void out_end_line(out_t *o) {
  out_char(o, '\n');
  out_flush(o);
}

static void write_error(const tinyslm_app_t *app, const char *name) {
  out_t o;
  out_init(&o, app);
  out_lit(&o, "{\"error\":\"");
  out_lit(&o, name);
  out_lit(&o, "\"}");
  out_end_line(&o);
}

void tinyslm_write_error(tinyslm_write_fn write, void *ctx, const char *code,
                         const char *reason) {
  out_t o;
  if (write == 0) {
    return;
  }
  out_init_fn(&o, write, ctx);
  out_lit(&o, "{\"error\":");
  out_string(&o, code != 0 ? code : "unknown");
  out_lit(&o, ",\"reason\":");
  out_string(&o, reason != 0 ? reason : "unknown");
  out_char(&o, '}');
  out_end_line(&o);
}

static void write_info(const tinyslm_app_t *app) {
  const tinyslm_model_info_t *m = app->cfg.model;
  const char *ops = m->ops;
  int first = 1;
  out_t o;

  out_init(&o, app);
  out_lit(&o, "{\"info\":{\"version\":");
  out_string(&o, m->version);
  out_lit(&o, ",\"board\":");
  out_string(&o, m->board);
  out_lit(&o, ",\"model_sha256\":");
  out_string(&o, m->model_sha256);
  out_lit(&o, ",\"model_bytes\":");
  out_ulong(&o, (unsigned long)m->model_bytes);
  out_lit(&o, ",\"arena_bytes\":");
  out_ulong(&o, (unsigned long)m->arena_bytes);
  out_lit(&o, ",\"ops\":[");
  /* "A,B,C" -> ["A","B","C"]; empty items are skipped. */
  while (ops != 0 && *ops != '\0') {
    size_t n = 0;
    while (ops[n] != '\0' && ops[n] != ',') {
      ++n;
    }
    if (n > 0) {
      if (!first) {
        out_char(&o, ',');
      }
      first = 0;
      out_char(&o, '"');
      out_escaped(&o, (const uint8_t *)ops, n);
      out_char(&o, '"');
    }
    ops += n;
    if (*ops == ',') {
      ++ops;
    }
  }
  out_lit(&o, "],\"labels\":");
  out_ulong(&o, (unsigned long)m->num_labels);
  out_lit(&o, ",\"threshold\":");
  out_milli(&o, m->threshold_milli);
  out_lit(&o, "}}");
  out_end_line(&o);
}

/* ------------------------------------------------------------------------ */
/* Serial protocol.                                                          */
/* ------------------------------------------------------------------------ */

int tinyslm_app_init(tinyslm_app_t *app, const tinyslm_app_config_t *cfg) {
  const tinyslm_model_info_t *m;
  uint32_t i;

  if (app == 0) {
    return -1;
  }
  /* A failed init leaves an app whose feed/handle_line do nothing. */
  app->cfg.model = 0;
  app->cfg.write = 0;
  app->cfg.infer = 0;
  app->line_len = 0;
  app->discarding = 0;
  if (cfg == 0 || cfg->model == 0 || cfg->infer == 0 || cfg->write == 0 ||
      cfg->line_buf == 0 || cfg->line_cap == 0 || cfg->ids_buf == 0 ||
      cfg->scores_buf == 0) {
    return -1;
  }
  m = cfg->model;
  if (m->labels == 0 || m->num_labels == 0 || m->features.seq_len == 0 ||
      m->features.buckets < 2u || m->features.buckets > 0x7FFFFFFFu) {
    return -1;
  }
  for (i = 0; i < m->num_labels; ++i) {
    if (m->labels[i] == 0) {
      return -1;
    }
  }
  app->cfg = *cfg;
  return 0;
}

int tinyslm_app_setup(tinyslm_app_t *app, const tinyslm_model_info_t *model,
                      tinyslm_infer_fn infer, tinyslm_write_fn write, tinyslm_clock_fn clock,
                      uint8_t *line_buf, size_t line_cap, int32_t *ids_buf, int8_t *scores_buf) {
  tinyslm_app_config_t cfg;
  cfg.model = model;
  cfg.infer = infer;
  cfg.infer_ctx = 0;
  cfg.write = write;
  cfg.write_ctx = 0;
  cfg.clock = clock;
  cfg.clock_ctx = 0;
  cfg.line_buf = line_buf;
  cfg.line_cap = line_cap;
  cfg.ids_buf = ids_buf;
  cfg.scores_buf = scores_buf;
  return tinyslm_app_init(app, &cfg);
}

static void handle_text(tinyslm_app_t *app, const uint8_t *line, size_t len) {
  const tinyslm_app_config_t *c = &app->cfg;
  const uint32_t t0 = c->clock != 0 ? c->clock(c->clock_ctx) : 0u;
  tinyslm_decision_t d;
  uint32_t us;
  int rc;
  out_t o;

  (void)tinyslm_tokenize(&c->model->features, line, len, c->ids_buf);
  rc = c->infer(c->ids_buf, c->scores_buf, c->infer_ctx);
  if (rc != 0) {
    out_init(&o, app);
    out_lit(&o, "{\"error\":\"inference_failed\",\"code\":");
    out_long(&o, (int32_t)rc);
    out_char(&o, '}');
    out_end_line(&o);
    return;
  }
  d = tinyslm_decide(c->model, c->scores_buf);
  us = c->clock != 0 ? (uint32_t)(c->clock(c->clock_ctx) - t0) : 0u;

  out_init(&o, app);
  out_lit(&o, "{\"intent\":");
  out_string(&o, c->model->labels[d.index]);
  out_lit(&o, ",\"score\":");
  out_milli(&o, d.score_milli);
  out_lit(&o, d.local ? ",\"route\":\"local\",\"us\":" : ",\"route\":\"escalate\",\"us\":");
  out_ulong(&o, (unsigned long)us);
  if (!d.local) {
    out_lit(&o, ",\"text\":\"");
    out_escaped(&o, line, len);
    out_char(&o, '"');
  }
  out_char(&o, '}');
  out_end_line(&o);
}

/* Space, tab, vertical tab, form feed: a line of only these is treated as
 * empty (ignored), as a blank line is; the README promises empty lines get no
 * answer, and a stray space must not cost an inference. */
static int is_blank(const uint8_t *line, size_t len) {
  size_t i;
  for (i = 0; i < len; ++i) {
    const uint8_t b = line[i];
    if (b != ' ' && b != '\t' && b != 0x0Bu && b != 0x0Cu) {
      return 0;
    }
  }
  return 1;
}

void tinyslm_app_handle_line(tinyslm_app_t *app, const uint8_t *line, size_t len) {
  if (app == 0 || app->cfg.write == 0 || line == 0 || is_blank(line, len)) {
    return;
  }
  if (line[0] == ':') {
    if (len == 5 && line[1] == 'i' && line[2] == 'n' && line[3] == 'f' && line[4] == 'o') {
      write_info(app);
    } else {
      write_error(app, "unknown_command");
    }
    return;
  }
  handle_text(app, line, len);
}

void tinyslm_app_feed(tinyslm_app_t *app, const uint8_t *data, size_t len) {
  size_t i;

  if (app == 0 || app->cfg.write == 0 || data == 0) {
    return;
  }
  for (i = 0; i < len; ++i) {
    const uint8_t b = data[i];
    if (b == '\n' || b == '\r') {
      if (!app->discarding && app->line_len > 0) {
        tinyslm_app_handle_line(app, app->cfg.line_buf, app->line_len);
      }
      app->discarding = 0;
      app->line_len = 0;
    } else if (app->discarding) {
      /* dropping the rest of an overlong line */
    } else if (app->line_len < app->cfg.line_cap) {
      app->cfg.line_buf[app->line_len++] = b;
    } else {
      out_t o;
      out_init(&o, app);
      out_lit(&o, "{\"error\":\"line_too_long\",\"max\":");
      out_ulong(&o, (unsigned long)app->cfg.line_cap);
      out_char(&o, '}');
      out_end_line(&o);
      app->discarding = 1;
      app->line_len = 0;
    }
  }
}
