/*
 * tinyslm bounded JSON writer (see tinyslm_json.h).
 *
 * Plain C99 with no heap, no stdio and no libc string functions, so the same
 * file builds for an ESP32, a Cortex-M7 and the host emulator. Numbers are
 * formatted with integer code.
 */
#include "tinyslm_json.h"

static void flush(tinyslm_json_t *o) {
  if (o->len > 0 && o->write != 0) {
    o->write(o->buf, o->len, o->ctx);
  }
  o->len = 0;
}

void tinyslm_json_begin(tinyslm_json_t *o, tinyslm_write_fn write, void *ctx) {
  o->write = write;
  o->ctx = ctx;
  o->len = 0;
}

void tinyslm_json_char(tinyslm_json_t *o, char c) {
  if (o->len == sizeof(o->buf)) {
    flush(o);
  }
  o->buf[o->len++] = c;
}

void tinyslm_json_raw(tinyslm_json_t *o, const char *s) {
  while (*s != '\0') {
    tinyslm_json_char(o, *s++);
  }
}

void tinyslm_json_uint(tinyslm_json_t *o, unsigned long v) {
  char digits[20]; /* 2^64 - 1 has 20 digits */
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v != 0 && n < sizeof(digits));
  while (n > 0) {
    tinyslm_json_char(o, digits[--n]);
  }
}

void tinyslm_json_int(tinyslm_json_t *o, long v) {
  if (v < 0) {
    tinyslm_json_char(o, '-');
    /* -(v + 1) + 1 avoids overflow at LONG_MIN */
    tinyslm_json_uint(o, (unsigned long)(-(v + 1)) + 1u);
  } else {
    tinyslm_json_uint(o, (unsigned long)v);
  }
}

void tinyslm_json_milli(tinyslm_json_t *o, uint32_t milli) {
  const uint32_t frac = milli % 1000u;
  tinyslm_json_uint(o, (unsigned long)(milli / 1000u));
  tinyslm_json_char(o, '.');
  tinyslm_json_char(o, (char)('0' + (int)(frac / 100u)));
  tinyslm_json_char(o, (char)('0' + (int)(frac / 10u % 10u)));
  tinyslm_json_char(o, (char)('0' + (int)(frac % 10u)));
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

void tinyslm_json_escaped(tinyslm_json_t *o, const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    const uint8_t b = s[i];
    if (b < 0x80u) {
      if (b == '"' || b == '\\') {
        tinyslm_json_char(o, '\\');
        tinyslm_json_char(o, (char)b);
      } else if (b >= 0x20u) {
        tinyslm_json_char(o, (char)b);
      } else if (b == '\n') {
        tinyslm_json_raw(o, "\\n");
      } else if (b == '\r') {
        tinyslm_json_raw(o, "\\r");
      } else if (b == '\t') {
        tinyslm_json_raw(o, "\\t");
      } else if (b == '\b') {
        tinyslm_json_raw(o, "\\b");
      } else if (b == '\f') {
        tinyslm_json_raw(o, "\\f");
      } else {
        tinyslm_json_raw(o, "\\u00");
        tinyslm_json_char(o, hex_digits[b >> 4]);
        tinyslm_json_char(o, hex_digits[b & 0x0Fu]);
      }
      ++i;
    } else {
      const size_t n = utf8_seq_len(s + i, len - i);
      if (n == 0) {
        tinyslm_json_raw(o, "\\ufffd");
        ++i;
      } else if (n == 3 && b == 0xE2u && s[i + 1] == 0x80u &&
                 (s[i + 2] == 0xA8u || s[i + 2] == 0xA9u)) {
        /* U+2028/U+2029 are valid in JSON but end a line in JavaScript and in
         * many line-oriented readers: escaped, as JavaScript-safe writers do. */
        tinyslm_json_raw(o, s[i + 2] == 0xA8u ? "\\u2028" : "\\u2029");
        i += 3;
      } else {
        size_t k;
        for (k = 0; k < n; ++k) {
          tinyslm_json_char(o, (char)s[i + k]);
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

void tinyslm_json_string(tinyslm_json_t *o, const char *s) {
  tinyslm_json_char(o, '"');
  if (s != 0) {
    tinyslm_json_escaped(o, (const uint8_t *)s, cstr_len(s));
  }
  tinyslm_json_char(o, '"');
}

void tinyslm_json_csv_array(tinyslm_json_t *o, const char *csv) {
  int first = 1;
  tinyslm_json_char(o, '[');
  while (csv != 0 && *csv != '\0') {
    size_t n = 0;
    while (csv[n] != '\0' && csv[n] != ',') {
      ++n;
    }
    if (n > 0) {
      if (!first) {
        tinyslm_json_char(o, ',');
      }
      first = 0;
      tinyslm_json_char(o, '"');
      tinyslm_json_escaped(o, (const uint8_t *)csv, n);
      tinyslm_json_char(o, '"');
    }
    csv += n;
    if (*csv == ',') {
      ++csv;
    }
  }
  tinyslm_json_char(o, ']');
}

void tinyslm_json_end_line(tinyslm_json_t *o) {
  tinyslm_json_char(o, '\n');
  flush(o);
}

void tinyslm_write_error(tinyslm_write_fn write, void *ctx, const char *code,
                         const char *reason) {
  tinyslm_json_t o;
  if (write == 0) {
    return;
  }
  tinyslm_json_begin(&o, write, ctx);
  tinyslm_json_raw(&o, "{\"error\":");
  tinyslm_json_string(&o, code != 0 ? code : "unknown");
  tinyslm_json_raw(&o, ",\"reason\":");
  tinyslm_json_string(&o, reason != 0 ? reason : "unknown");
  tinyslm_json_char(&o, '}');
  tinyslm_json_end_line(&o);
}
