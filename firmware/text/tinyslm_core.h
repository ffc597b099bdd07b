/*
 * tinyslm text core: the line protocol of a text-intent project (one phrase per
 * serial line in, one JSON line out) over the text tokenizer and the common
 * gate and JSON writer. Plain C99, no heap, no libc printf, no TFLM: inference
 * arrives as a function pointer so the same core runs on a board (TFLM adapter)
 * and on the host (tinyslm emulate).
 *
 * The umbrella header that generated text projects include: it brings in
 * tinyslm_tokenizer.h (text), tinyslm_gate.h and tinyslm_json.h (common).
 *
 * Every buffer is owned by the caller and bounded; any byte sequence fed to
 * tinyslm_app_feed() is handled without reading or writing out of bounds.
 */
#ifndef TINYSLM_CORE_H_
#define TINYSLM_CORE_H_

#include <stddef.h>
#include <stdint.h>

#include "tinyslm_gate.h"
#include "tinyslm_json.h"
#include "tinyslm_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs the model: ids[seq_len] in, scores[num_labels] out. Returns 0 on success. */
typedef int (*tinyslm_infer_fn)(const int32_t *ids, int8_t *scores, void *ctx);
/* Free-running microsecond clock; wrap-around is fine (differences are taken). */
typedef uint32_t (*tinyslm_clock_fn)(void *ctx);

/* Everything about the model that the core needs; generated into tinyslm_settings.c. */
typedef struct {
  tinyslm_features_t features;
  const char *const *labels; /* num_labels NUL-terminated names, output index order */
  uint32_t num_labels;
  float score_scale;         /* int8 score -> confidence: (q - zero_point) * scale */
  int32_t score_zero_point;
  int32_t threshold_q;       /* top score q >= threshold_q -> "local", else "escalate" */
  uint32_t threshold_milli;  /* the float threshold in thousandths, for :info */
  const char *model_sha256;  /* 64 hex chars */
  uint32_t model_bytes;
  uint32_t arena_bytes;
  const char *ops;           /* comma-separated op names, for :info */
  const char *board;         /* board id, for :info */
  const char *version;       /* tinyslm version, for :info */
  /* NULL, or num_labels levels that replace threshold_q for the top label (intents with
   * thresholds of their own: tinyslm generate --label-threshold); :info lists those
   * that differ from threshold_q. */
  const int32_t *label_threshold_q;
  /* NULL, or beside label_threshold_q each label's threshold in thousandths as tinyslm
   * recorded it (what its info and the README print); :info prints these, or without
   * them the score each level stands for. */
  const uint32_t *label_threshold_milli;
} tinyslm_model_info_t;

/* Caller-owned storage and platform hooks. */
typedef struct {
  const tinyslm_model_info_t *model;
  tinyslm_infer_fn infer;
  void *infer_ctx;
  tinyslm_write_fn write;
  void *write_ctx;
  tinyslm_clock_fn clock; /* may be NULL: "us" is then 0 */
  void *clock_ctx;
  uint8_t *line_buf;      /* line_cap bytes: longest accepted line, without newline */
  size_t line_cap;
  int32_t *ids_buf;       /* model->features.seq_len entries */
  int8_t *scores_buf;     /* model->num_labels entries */
} tinyslm_app_config_t;

/*
 * One answer, for the project's own code (a generated project's
 * src/tinyslm_actions.c): what the JSON line just written says, as values.
 */
typedef struct {
  const char *intent;     /* the top intent's name (also when escalated) */
  uint32_t index;         /* its output index */
  uint32_t score_milli;   /* its confidence in thousandths, as printed; 1000 from the host */
  uint8_t local;          /* 1: act on it ("route":"local" or "host"); 0: "route":"escalate" */
  const uint8_t *text;    /* the phrase as received (not NUL-terminated); from the host,
                             the intent's name as sent */
  size_t text_len;
  uint8_t by_host;        /* 1: the host's answer to an escalated phrase (":do <intent>") */
} tinyslm_answer_t;

/* Called after each answer line is written, and after each ":do <intent>" line from
 * the host (which answers an escalated phrase: local 1, by_host 1); not for errors,
 * other commands or empty lines. It runs inside tinyslm_app_feed, so it must not feed
 * the same app. */
typedef void (*tinyslm_answer_fn)(const tinyslm_answer_t *answer, void *ctx);

typedef struct {
  tinyslm_app_config_t cfg;
  size_t line_len;
  uint8_t discarding; /* 1 after an overlong line until the next newline */
  tinyslm_answer_fn on_answer; /* may be 0; see tinyslm_app_on_answer */
  void *on_answer_ctx;
  uint32_t cpu_hz; /* the running CPU clock for :info; 0: unknown, left out */
} tinyslm_app_t;

/* tinyslm_gate_decide over the model's labels, quantization and threshold. */
tinyslm_decision_t tinyslm_decide(const tinyslm_model_info_t *model, const int8_t *scores);

/* Returns 0, or -1 when a pointer is NULL or a size is zero. */
int tinyslm_app_init(tinyslm_app_t *app, const tinyslm_app_config_t *cfg);

/*
 * tinyslm_app_init with every callback context NULL: the configuration all board
 * glue uses (static buffers, callbacks without state). line_cap is line_buf's
 * size; ids_buf holds model->features.seq_len entries, scores_buf
 * model->num_labels. Returns what tinyslm_app_init returns.
 */
int tinyslm_app_setup(tinyslm_app_t *app, const tinyslm_model_info_t *model,
                      tinyslm_infer_fn infer, tinyslm_write_fn write, tinyslm_clock_fn clock,
                      uint8_t *line_buf, size_t line_cap, int32_t *ids_buf, int8_t *scores_buf);

/* Calls fn (0: nothing) after every answer from now on. tinyslm_app_init clears it,
 * so call this after init. Does nothing when app is NULL. */
void tinyslm_app_on_answer(tinyslm_app_t *app, tinyslm_answer_fn fn, void *ctx);

/* The CPU clock the board runs at, as its glue reads it after its clock set-up, in Hz:
 * :info then says it ("cpu_hz"), so a host that connects late can tell a board that fell
 * back to a slower clock. 0 (what tinyslm_app_init leaves) is unknown: :info leaves the
 * field out (the host emulators). Call it after init. Does nothing when app is NULL. */
void tinyslm_app_set_cpu_hz(tinyslm_app_t *app, uint32_t hz);

/* Feeds raw serial bytes; emits one JSON line per completed line (see README). */
void tinyslm_app_feed(tinyslm_app_t *app, const uint8_t *data, size_t len);

/* The glue's receive buffer overflowed: serial bytes were lost right before the next
 * byte it feeds. The line they broke must not be classified (a phrase missing bytes can
 * still score high, and its action would run), so one {"error":"rx_overflow"} line is
 * written and everything up to the next line end is dropped, as for an overlong line.
 * Does nothing when app is NULL. */
void tinyslm_app_rx_overflow(tinyslm_app_t *app);

/* The glue received a byte wrong (a framing, noise or parity error: its value is
 * unknown, a line end perhaps) right before the next byte it feeds: as
 * tinyslm_app_rx_overflow, but the line written is {"error":"rx_error","reason":R},
 * R naming the error ("framing", "noise", "parity"), so that the host knows to look at
 * the wiring or the baud rate. Does nothing when app or reason is NULL. */
void tinyslm_app_rx_error(tinyslm_app_t *app, const char *reason);

/* Handles one complete line (no terminator); what tinyslm_app_feed calls. */
void tinyslm_app_handle_line(tinyslm_app_t *app, const uint8_t *line, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_CORE_H_ */
