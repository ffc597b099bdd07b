/*
 * libFuzzer target for firmware/audio/tinyslm_kws_app.c (the keyword app's serial
 * input), with the listening loop, front end, detector, frame parser and JSON
 * writer behind it:
 *   clang -fsanitize=fuzzer,address,undefined -DTINYSLM_KWS_FRAMES=2 \
 *     -Ifirmware/audio -Ifirmware/common tests/fuzz/fuzz_kws_app.c \
 *     firmware/audio/tinyslm_{kws_app,listen,audio_frontend,kws_detector,audio_frames}.c \
 *     firmware/common/tinyslm_json.c
 * TINYSLM_KWS_FRAMES=2 so that a few hundred bytes of audio frames reach the
 * model (a stand-in computed from the features, failing now and then) and the
 * detector. Besides the sanitizers, the target traps when the app breaks a
 * promise:
 *   - every output line is one of the protocol's (detection of a keyword label
 *     only, info, end, error), ends with '\n', holds no other control byte and
 *     is bounded; a write never has length 0;
 *   - the output depends on how the input was chunked (chunks picked by the
 *     first byte, then one byte at a time: byte-identical output);
 *   - bytes around the app's state change;
 *   - after the input, a frame's length of zeros, "\n" and ":info\n", the last
 *     line is the info line (the app always comes back to its commands);
 *   - microphone samples (the input again, as int16) never crash it;
 *   - a serial stream left open is closed by exactly
 *     TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES microphone samples, with
 *     {"error":"stream_timeout"} (one sample fewer keeps it open).
 * tests/host/test_kws_app_fuzz.py also builds it with the header defaults, as
 * generated projects are (49 frames, a 32000-sample timeout, 32-byte commands).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "tinyslm_kws_app.h"

#define GUARD 0xA5
/* Longer inputs are cut here: the front end under ASan+UBSan costs ~0.1 ms a
 * frame, and the bounded test run must reach its minimum count of inputs. Each
 * model frame past 2 adds a stride of samples (640 bytes, and frame headers), so
 * that with 49 frames a stream can still reach the model. */
#define MAX_INPUT (1536 + (TINYSLM_KWS_FRAMES > 2 ? (TINYSLM_KWS_FRAMES - 2) * 680 : 0))
#define MAX_LINE 1024

static const char *const labels[] = {"_silence_", "_unknown_", "no", "up", "yes\"\\\x01"};

static tinyslm_kws_model_info_t info;
static int8_t levels[5];

static struct {
  uint8_t before[32];
  tinyslm_kws_app_t app;
  uint8_t after[32];
} guarded;

typedef struct {
  uint32_t hash;
  uint32_t lines;
  size_t line_len;
  char line[MAX_LINE];
  char last[MAX_LINE];
  size_t last_len;
} out_log_t;

static out_log_t *current;
static uint32_t clock_now;

static uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 16777619u + 0x9E3779B9u; }

static void end_line(out_log_t *log) {
  const char *s = log->line;
  size_t n = log->line_len;
  check(n >= 2 && s[0] == '{' && s[n - 1] == '}');
  check(starts(s, n, "{\"keyword\":\"no\",") || starts(s, n, "{\"keyword\":\"up\",") ||
        starts(s, n, "{\"keyword\":\"yes\\\"\\\\\\u0001\",") || starts(s, n, "{\"info\":{") ||
        starts(s, n, "{\"end\":{\"frames\":") || starts(s, n, "{\"error\":\"bad_frame\",") ||
        starts(s, n, "{\"error\":\"unknown_command\"}") ||
        line_too_long(s, n, TINYSLM_KWS_MAX_COMMAND) || starts(s, n, "{\"error\":\"stream_timeout\"}") ||
        starts(s, n, "{\"error\":\"inference_failed\",\"code\":"));
  memcpy(log->last, s, n);
  log->last_len = n;
  log->lines++;
  log->line_len = 0;
}

static void on_write(const char *data, size_t len, void *ctx) {
  size_t i;
  (void)ctx;
  check(len > 0);
  for (i = 0; i < len; ++i) {
    const unsigned char c = (unsigned char)data[i];
    current->hash = mix(current->hash, c);
    if (c == '\n') {
      end_line(current);
      continue;
    }
    check(c >= 0x20);
    check(current->line_len < MAX_LINE);
    current->line[current->line_len++] = (char)c;
  }
}

/* A stand-in model: scores from the features, so detections follow the audio;
 * fails when the first feature is divisible by 13. */
static int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  uint32_t j;
  (void)ctx;
  check(n == TINYSLM_KWS_FEATURES);
  for (j = 0; j < 5; ++j) {
    scores[j] = (int8_t)(features[n - 1 - j * 7] ^ (int8_t)(j * 37));
  }
  return features[0] % 13 == 0 ? -(int)(uint8_t)features[1] : 0;
}

static uint32_t fake_clock(void *ctx) {
  (void)ctx;
  clock_now += 3u;
  return clock_now;
}

static int hook_marker;

/* The action hook reads what it is given (ASan checks the name's bytes). */
static void on_keyword(const tinyslm_keyword_t *kw, void *ctx) {
  check(ctx == &hook_marker && kw->index < info.num_labels);
  check(kw->keyword == info.labels[kw->index] && strlen(kw->keyword) > 0);
  check(((info.detector.non_keyword_mask >> kw->index) & 1u) == 0);
}

static void setup(out_log_t *log) {
  memset(log, 0, sizeof(*log));
  current = log;
  clock_now = 0;
  memset(&guarded, GUARD, sizeof(guarded));
  check(tinyslm_kws_app_setup(&guarded.app, &info, infer, on_write, fake_clock) == 0);
  tinyslm_kws_app_on_keyword(&guarded.app, on_keyword, &hook_marker);
}

static void feed(const uint8_t *data, size_t size, size_t chunk) {
  size_t off, i;
  for (off = 0; off < size; off += chunk) {
    tinyslm_kws_app_feed(&guarded.app, data + off, size - off < chunk ? size - off : chunk);
    check(guarded.app.command_len <= TINYSLM_KWS_MAX_COMMAND);
  }
  for (i = 0; i < sizeof(guarded.before); ++i) {
    check(guarded.before[i] == GUARD && guarded.after[i] == GUARD);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static out_log_t chunked, bytewise;
  static uint8_t tail[TINYSLM_FRAME_MAX_BYTES + 8];
  static int16_t samples[MAX_INPUT / 2];
  /* Dropped while a stream is open, so the timeout's worth costs no front end. */
  static const int16_t quiet[TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES];
  static const char info_cmd[] = "\n:info\n";
  size_t i;

  if (size < 1) {
    return 0;
  }
  if (size > MAX_INPUT) {
    size = MAX_INPUT;
  }
  info.labels = labels;
  info.num_labels = 5;
  info.detector.num_labels = 5;
  info.detector.window = 1;
  info.detector.threshold_q = (int8_t)(data[0] % 64);
  info.detector.suppression_ms = 20u * (data[0] % 4u);
  info.detector.non_keyword_mask = 3;
  /* Half the inputs run with a level per label (generate --label-threshold). */
  for (i = 0; i < 5u; ++i) {
    levels[i] = (int8_t)(data[0] + 17u * i);
  }
  info.detector.label_threshold_q = (data[0] & 0x40u) ? levels : 0;
  info.stride_frames = 1;
  info.threshold_milli = 700;
  info.model_sha256 = "00";
  info.ops = "CONV_2D,,X";
  info.board = "fuzz";
  info.version = "0";

  setup(&chunked);
  feed(data, size, 1u + data[0]);
  setup(&bytewise);
  feed(data, size, 1u);
  check(chunked.hash == bytewise.hash && chunked.lines == bytewise.lines &&
        chunked.line_len == bytewise.line_len);
  check(bytewise.line_len == 0); /* every write ended its line */

  /* Back to commands, whatever state the input left. */
  memset(tail, 0, sizeof(tail));
  feed(tail, TINYSLM_FRAME_MAX_BYTES, 64);
  feed((const uint8_t *)info_cmd, sizeof(info_cmd) - 1u, 1);
  check(starts(bytewise.last, bytewise.last_len, "{\"info\":{\"version\":\"0\",\"board\":\"fuzz\","));

  /* The microphone path on the same bytes. */
  for (i = 0; i + 1 < size; i += 2) {
    samples[i / 2] = (int16_t)(uint16_t)((unsigned)data[i] | (unsigned)data[i + 1] << 8);
  }
  (void)tinyslm_kws_app_feed_samples(&guarded.app, samples, size / 2);
  feed(data, 0, 1);

  /* The host went quiet with a stream open: the microphone closes it, at exactly
   * the timeout's count of samples. */
  if (guarded.app.serial_stream) {
    const uint32_t left = TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES - guarded.app.stream_idle;
    check(left >= 1u && left <= TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES);
    (void)tinyslm_kws_app_feed_samples(&guarded.app, quiet, left - 1u);
    check(guarded.app.serial_stream);
    (void)tinyslm_kws_app_feed_samples(&guarded.app, quiet, 1u);
    check(!guarded.app.serial_stream && bytewise.line_len == 0);
    check(starts(bytewise.last, bytewise.last_len, "{\"error\":\"stream_timeout\"}"));
    feed(data, 0, 1);
  }
  return 0;
}
