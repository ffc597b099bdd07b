/*
 * tinyslm bounded JSON writer: what every modality's serial protocol writes its
 * lines with (docs/architecture.md, "Serial protocol"). Plain C99, no heap, no
 * libc: output collects in a small buffer inside the caller's tinyslm_json_t
 * and is flushed through the write callback, so nothing scales with the input.
 *
 * A line is written as
 *   tinyslm_json_t o;
 *   tinyslm_json_begin(&o, write, ctx);
 *   tinyslm_json_raw(&o, "{\"keyword\":");
 *   tinyslm_json_string(&o, label);
 *   tinyslm_json_raw(&o, ",\"t_ms\":");
 *   tinyslm_json_uint(&o, t_ms);
 *   tinyslm_json_char(&o, '}');
 *   tinyslm_json_end_line(&o);
 * Every call before tinyslm_json_end_line() may already have reached write: a
 * line is not atomic, only bounded.
 */
#ifndef TINYSLM_JSON_H_
#define TINYSLM_JSON_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes len bytes to the serial line (no terminator added); len is never 0. */
typedef void (*tinyslm_write_fn)(const char *data, size_t len, void *ctx);

/* Bytes collected before a write call: small enough for any stack, large
 * enough that a typical result line costs one or two write calls. */
#define TINYSLM_JSON_CHUNK 96

typedef struct {
  tinyslm_write_fn write; /* NULL: everything written is dropped */
  void *ctx;
  size_t len;
  char buf[TINYSLM_JSON_CHUNK];
} tinyslm_json_t;

/* Starts a line; nothing is written yet. */
void tinyslm_json_begin(tinyslm_json_t *o, tinyslm_write_fn write, void *ctx);

/* One byte, as is. */
void tinyslm_json_char(tinyslm_json_t *o, char c);

/* A NUL-terminated trusted ASCII literal (keys, punctuation), as is, unescaped. */
void tinyslm_json_raw(tinyslm_json_t *o, const char *s);

/* Decimal numbers. */
void tinyslm_json_uint(tinyslm_json_t *o, unsigned long v);
void tinyslm_json_int(tinyslm_json_t *o, long v);

/* Thousandths as a decimal with three places: 930 -> 0.930, 1000 -> 1.000. */
void tinyslm_json_milli(tinyslm_json_t *o, uint32_t milli);

/*
 * A JSON string body (no quotes) from any len bytes: '"' and '\\' escaped,
 * control bytes as \n, \r, \t, \b, \f or \u00XX, valid UTF-8 copied except
 * U+2028/U+2029 (written \u2028/\u2029, as JavaScript-safe writers do), and
 * each byte that does not start a valid UTF-8 sequence (overlong, surrogate,
 * above U+10FFFF, truncated, stray continuation) as \ufffd.
 */
void tinyslm_json_escaped(tinyslm_json_t *o, const uint8_t *s, size_t len);

/* A quoted, escaped JSON string from a NUL-terminated string (NULL writes ""). */
void tinyslm_json_string(tinyslm_json_t *o, const char *s);

/* "A,B,C" as the JSON array ["A","B","C"]: items escaped, empty items skipped,
 * NULL or "" written []. (The :info lines' op lists.) */
void tinyslm_json_csv_array(tinyslm_json_t *o, const char *csv);

/* Ends the line: '\n', then flushes everything still buffered. */
void tinyslm_json_end_line(tinyslm_json_t *o);

/*
 * Writes {"error":"<code>","reason":"<reason>"} and a newline through write, for
 * the glue's own failures (TFLM init, configuration). Both strings are escaped
 * as tinyslm_json_string does; a NULL code or reason is written as "unknown".
 * Nothing is written when write is NULL.
 */
void tinyslm_write_error(tinyslm_write_fn write, void *ctx, const char *code,
                         const char *reason);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_JSON_H_ */
