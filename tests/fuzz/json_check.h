/*
 * Shared by the serial fuzz targets (tests/fuzz/): an output line checker.
 * A line the board writes must be one JSON object a strict host parser accepts:
 * RFC 8259 grammar, strings of valid UTF-8 (no raw control byte, no surrogate,
 * no overlong form), nesting bounded. The writer is the bounded tinyslm_json.c;
 * a single broken escape or a byte cut out of a UTF-8 sequence would make the
 * host drop (or choke on) the answer, so this is checked on every line.
 */
#ifndef TINYSLM_FUZZ_JSON_CHECK_H_
#define TINYSLM_FUZZ_JSON_CHECK_H_

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const uint8_t *s;
  size_t n;
  size_t i;
  int depth;
} jcheck_t;

static int jc_value(jcheck_t *j);

static int jc_peek(const jcheck_t *j) { return j->i < j->n ? j->s[j->i] : -1; }

static int jc_lit(jcheck_t *j, const char *lit) {
  while (*lit != '\0') {
    if (jc_peek(j) != (uint8_t)*lit) {
      return 0;
    }
    ++j->i;
    ++lit;
  }
  return 1;
}

static int jc_hex(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence of 2..4 bytes at j->i (its lead byte >= 0x80). */
static int jc_utf8(jcheck_t *j) {
  const uint8_t b = j->s[j->i];
  size_t need, k;
  uint8_t lo = 0x80u, hi = 0xBFu;
  if (b >= 0xC2u && b <= 0xDFu) {
    need = 2;
  } else if (b >= 0xE0u && b <= 0xEFu) {
    need = 3;
    lo = b == 0xE0u ? 0xA0u : 0x80u;
    hi = b == 0xEDu ? 0x9Fu : 0xBFu;
  } else if (b >= 0xF0u && b <= 0xF4u) {
    need = 4;
    lo = b == 0xF0u ? 0x90u : 0x80u;
    hi = b == 0xF4u ? 0x8Fu : 0xBFu;
  } else {
    return 0;
  }
  if (j->n - j->i < need || j->s[j->i + 1] < lo || j->s[j->i + 1] > hi) {
    return 0;
  }
  for (k = 2; k < need; ++k) {
    if (j->s[j->i + k] < 0x80u || j->s[j->i + k] > 0xBFu) {
      return 0;
    }
  }
  j->i += need;
  return 1;
}

static int jc_string(jcheck_t *j) {
  if (!jc_lit(j, "\"")) {
    return 0;
  }
  for (;;) {
    const int c = jc_peek(j);
    if (c < 0x20) { /* end of input (-1) or a raw control byte */
      return 0;
    }
    if (c == '"') {
      ++j->i;
      return 1;
    }
    if (c == '\\') {
      int e;
      ++j->i;
      e = jc_peek(j);
      ++j->i;
      if (e == 'u') {
        int k;
        for (k = 0; k < 4; ++k) {
          if (!jc_hex(jc_peek(j))) {
            return 0;
          }
          ++j->i;
        }
      } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                 e != 'r' && e != 't') {
        return 0;
      }
    } else if (c >= 0x80) {
      if (!jc_utf8(j)) {
        return 0;
      }
    } else {
      ++j->i;
    }
  }
}

static int jc_digits(jcheck_t *j) {
  size_t start = j->i;
  while (jc_peek(j) >= '0' && jc_peek(j) <= '9') {
    ++j->i;
  }
  return j->i > start;
}

static int jc_number(jcheck_t *j) {
  if (jc_peek(j) == '-') {
    ++j->i;
  }
  if (jc_peek(j) == '0') {
    ++j->i;
  } else if (!jc_digits(j)) {
    return 0;
  }
  if (jc_peek(j) == '.') {
    ++j->i;
    if (!jc_digits(j)) {
      return 0;
    }
  }
  if (jc_peek(j) == 'e' || jc_peek(j) == 'E') {
    ++j->i;
    if (jc_peek(j) == '+' || jc_peek(j) == '-') {
      ++j->i;
    }
    if (!jc_digits(j)) {
      return 0;
    }
  }
  return 1;
}

static int jc_object(jcheck_t *j) {
  ++j->i; /* '{' */
  if (jc_peek(j) == '}') {
    ++j->i;
    return 1;
  }
  for (;;) {
    if (!jc_string(j) || !jc_lit(j, ":") || !jc_value(j)) {
      return 0;
    }
    if (jc_peek(j) == '}') {
      ++j->i;
      return 1;
    }
    if (!jc_lit(j, ",")) {
      return 0;
    }
  }
}

static int jc_array(jcheck_t *j) {
  ++j->i; /* '[' */
  if (jc_peek(j) == ']') {
    ++j->i;
    return 1;
  }
  for (;;) {
    if (!jc_value(j)) {
      return 0;
    }
    if (jc_peek(j) == ']') {
      ++j->i;
      return 1;
    }
    if (!jc_lit(j, ",")) {
      return 0;
    }
  }
}

static int jc_value(jcheck_t *j) {
  const int c = jc_peek(j);
  int ok;
  if (++j->depth > 8) {
    return 0;
  }
  if (c == '{') {
    ok = jc_object(j);
  } else if (c == '[') {
    ok = jc_array(j);
  } else if (c == '"') {
    ok = jc_string(j);
  } else if (c == 't') {
    ok = jc_lit(j, "true");
  } else if (c == 'f') {
    ok = jc_lit(j, "false");
  } else if (c == 'n') {
    ok = jc_lit(j, "null");
  } else {
    ok = jc_number(j);
  }
  --j->depth;
  return ok;
}

/* 1 when s[0..n) is exactly one JSON object (no whitespace: the writer emits none). */
static int json_line_ok(const uint8_t *s, size_t n) {
  jcheck_t j;
  j.s = s;
  j.n = n;
  j.i = 0;
  j.depth = 0;
  return n > 0 && s[0] == '{' && jc_value(&j) && j.i == n;
}

#endif /* TINYSLM_FUZZ_JSON_CHECK_H_ */
