/*
 * libFuzzer target: the keyword app's serial input (firmware/audio/tinyslm_kws_app.c,
 * with the frame parser, listening loop, front end, detector and JSON writer behind
 * it), arbitrarily chunked and interleaved with the microphone. Built by
 * tests/host/test_fuzz_serial.py with
 *   clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 *     -DTINYSLM_KWS_FRAMES=2 -DTINYSLM_KWS_STREAM_TIMEOUT_SAMPLES=600
 *     -DTINYSLM_KWS_MAX_COMMAND=8 -Ifirmware/audio -Ifirmware/common
 *     tests/fuzz/fuzz_serial_kws.c
 *     firmware/audio/tinyslm_{kws_app,listen,audio_frontend,kws_detector,audio_frames}.c
 *     firmware/common/tinyslm_json.c
 * Two frames of features, so that a few hundred bytes of audio reach the model (a
 * stand-in computed from the features that fails now and then) and the detector;
 * a 600-sample stream timeout, so that the microphone can close a stream half way
 * through a frame; the smallest command buffer the header allows. The test also
 * builds it with the header defaults, as generated projects are (49 frames, a
 * 32000-sample timeout, 32-byte commands): the input cap then grows to hold a
 * stream that reaches the model, and in pass 3 the host may go quiet once, the
 * microphone closing its stream at exactly the timeout (random batches are far
 * shorter than 2 s).
 *
 * Input: 3 configuration bytes (detector threshold, window, stride, per-label
 * levels, suppression, chunk sizes), then the serial bytes. A PRNG seeded by the
 * configuration cuts them into chunks of 0..N bytes (N picked by the first byte).
 * Passes: 1. the chunks, 2. one byte at a time: the same output bytes;
 * 3. the chunks with microphone batches (0..700 samples, full int16 range) and
 * NULL feeds between them, then a frame's length of zeros and "\n:info\n", which
 * must answer :info. Every output line must be strict JSON (json_check.h) and one
 * of the protocol's lines; the app's state and the bytes around it stay in bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "json_check.h"
#include "tinyslm_kws_app.h"

#define GUARD 0xA5
/* The front end costs ~0.1 ms a frame under ASan; 3 KB holds the START/AUDIO/END seed
 * streams of 1000 samples, enough for 2 inferences and so for detections. Each model
 * frame past 2 needs another stride of samples (640 bytes, and frame headers). */
#define MAX_INPUT (3072 + (TINYSLM_KWS_FRAMES > 2 ? (TINYSLM_KWS_FRAMES - 2) * 680 : 0))
#define MAX_OUT 1024
#define NUM_LABELS 5

static const char *const labels[NUM_LABELS] = {"_silence_", "_unknown_", "no\xe2\x80\xa9",
                                               "up", "yes\"\\\x01"};

static tinyslm_kws_model_info_t info;
static int8_t levels[NUM_LABELS];
static int16_t mic[700];
/* Only where the random batches cannot reach the timeout does the host go quiet. */
#define QUIET_HOST (TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES > 700u)
#if QUIET_HOST
static const int16_t quiet[TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES]; /* dropped: no front end */
#endif

static struct {
  uint8_t before[64];
  tinyslm_kws_app_t app;
  uint8_t after[64];
} guarded;

static struct {
  uint32_t hash;
  uint32_t lines;
  size_t len;
  uint8_t line[MAX_OUT];
  uint8_t last[MAX_OUT];
  size_t last_len;
} out;

static uint32_t clock_now;

static void end_line(void) {
  const uint8_t *s = out.line;
  const size_t n = out.len;
  check(json_line_ok(s, n));
  check(starts(s, n, "{\"keyword\":\"no\\u2029\",") || starts(s, n, "{\"keyword\":\"up\",") ||
        starts(s, n, "{\"keyword\":\"yes\\\"\\\\\\u0001\",") || starts(s, n, "{\"info\":{") ||
        starts(s, n, "{\"end\":{\"frames\":") || starts(s, n, "{\"error\":\"bad_frame\",") ||
        starts(s, n, "{\"error\":\"unknown_command\"}") ||
        line_too_long(s, n, TINYSLM_KWS_MAX_COMMAND) ||
        starts(s, n, "{\"error\":\"stream_timeout\"}") ||
        starts(s, n, "{\"error\":\"inference_failed\",\"code\":"));
  memcpy(out.last, s, n);
  out.last_len = n;
  out.lines++;
  out.len = 0;
}

static void on_write(const char *data, size_t len, void *ctx) {
  size_t i;
  (void)ctx;
  check(len > 0 && len <= TINYSLM_JSON_CHUNK);
  for (i = 0; i < len; ++i) {
    const uint8_t c = (uint8_t)data[i];
    out.hash = (out.hash ^ c) * 16777619u + 0x9E3779B9u;
    if (c == '\n') {
      end_line();
    } else {
      check(out.len < MAX_OUT);
      out.line[out.len++] = c;
    }
  }
}

/* Scores from the features, so detections follow the audio; fails now and then. */
static int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  uint32_t j;
  (void)ctx;
  check(n == TINYSLM_KWS_FEATURES);
  for (j = 0; j < NUM_LABELS; ++j) {
    scores[j] = (int8_t)(features[n - 1 - j * 7] ^ (int8_t)(j * 37));
  }
  return features[0] % 11 == 0 ? (int)((uint32_t)(uint8_t)features[1] << 24) : 0;
}

static uint32_t fake_clock(void *ctx) {
  (void)ctx;
  clock_now += 0x7FFFFFFFu; /* wraps: differences are taken */
  return clock_now;
}

static int hook_marker;

static void on_keyword(const tinyslm_keyword_t *kw, void *ctx) {
  check(ctx == &hook_marker && kw->index < NUM_LABELS && kw->keyword == labels[kw->index]);
  check(((info.detector.non_keyword_mask >> kw->index) & 1u) == 0 && strlen(kw->keyword) > 0);
  check(kw->score_milli <= 1000u);
}

static void check_state(void) {
  size_t i;
  const tinyslm_kws_app_t *app = &guarded.app;
  check(app->command_len <= TINYSLM_KWS_MAX_COMMAND && app->parser.len <= TINYSLM_FRAME_MAX_BYTES);
  check(app->in_command <= 1u && app->discarding <= 1u && app->serial_stream <= 1u);
  check(app->stream_idle < TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES);
  check(app->listen.filled <= TINYSLM_KWS_FRAMES && app->listen.fe.filled <= TINYSLM_AUDIO_WINDOW);
  for (i = 0; i < sizeof(guarded.before); ++i) {
    check(guarded.before[i] == GUARD && guarded.after[i] == GUARD);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint32_t max_chunks[4] = {1u, 9u, 100u, 600u};
  static const char info_cmd[] = "\n:info\n";
  static uint8_t zeros[TINYSLM_FRAME_MAX_BYTES];
  const uint8_t *in;
  size_t n, off, i;
  uint32_t hash1 = 0, lines1 = 0, max_chunk, batches, quiet_done;
  int pass;

  if (size < 3) {
    return 0;
  }
  if (size > MAX_INPUT) {
    size = MAX_INPUT;
  }
  memset(&info, 0, sizeof(info));
  info.labels = labels;
  info.num_labels = NUM_LABELS;
  info.detector.num_labels = NUM_LABELS;
  info.detector.threshold_q = (int8_t)data[0];
  info.detector.window = (uint8_t)(1u + (data[1] & 3u));
  info.detector.suppression_ms = (data[2] & 0x80u) ? 0xFFFFFFFFu : 10u * data[2];
  info.detector.non_keyword_mask = 3;
  for (i = 0; i < NUM_LABELS; ++i) {
    levels[i] = (int8_t)(data[0] + 53u * i);
  }
  info.detector.label_threshold_q = (data[1] & 4u) ? levels : 0;
  info.stride_frames = (uint8_t)(1u + ((data[1] >> 3) & 1u));
  info.threshold_milli = 0xFFFFFFFFu;
  info.model_sha256 = "00";
  info.ops = (data[1] & 0x10u) ? "CONV_2D,,\"X\\" : 0;
  info.board = "fuzz";
  info.version = "0";

  max_chunk = max_chunks[(data[1] >> 6) & 3u];
  in = data + 3;
  n = size - 3;
  for (pass = 1; pass <= 3; ++pass) {
    memset(&out, 0, sizeof(out));
    clock_now = 0;
    memset(&guarded, GUARD, sizeof(guarded));
    check(tinyslm_kws_app_setup(&guarded.app, &info, infer, on_write, fake_clock) == 0);
    tinyslm_kws_app_on_keyword(&guarded.app, on_keyword, &hook_marker);
    batches = 0;
    quiet_done = 0;
    (void)quiet_done; /* used only with QUIET_HOST */
    rng_state = 0x9E3779B9u ^ ((uint32_t)data[0] << 16 | (uint32_t)data[1] << 8 | data[2]);
    for (off = 0; off < n;) {
      size_t chunk = pass == 2 ? 1u : rng() % (max_chunk + 1u);
      if (chunk > n - off) {
        chunk = n - off;
      }
      if (pass == 3) {
        const uint32_t ev = rng() % 8u;
        if (ev == 0 && batches++ < 6u) { /* bounded: the front end is the slow part */
          const size_t k = rng() % (sizeof(mic) / sizeof(mic[0]) + 1u);
          for (i = 0; i < k; ++i) {
            mic[i] = (int16_t)(uint16_t)rng();
          }
          (void)tinyslm_kws_app_feed_samples(&guarded.app, mic, k);
        } else if (ev == 1) {
          tinyslm_kws_app_feed(&guarded.app, 0, chunk + 1u); /* refused */
        }
#if QUIET_HOST
        else if (ev == 2 && guarded.app.serial_stream && !quiet_done) {
          /* The host went quiet: one sample short of the timeout keeps the stream,
           * the next closes it (and resets the parser, half way through a frame). */
          const uint32_t left = TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES - guarded.app.stream_idle;
          quiet_done = 1;
          (void)tinyslm_kws_app_feed_samples(&guarded.app, quiet, left - 1u);
          check(guarded.app.serial_stream);
          (void)tinyslm_kws_app_feed_samples(&guarded.app, quiet, 1u);
          check(!guarded.app.serial_stream && out.len == 0);
          check(starts(out.last, out.last_len, "{\"error\":\"stream_timeout\"}"));
        }
#endif
      }
      tinyslm_kws_app_feed(&guarded.app, in + off, chunk);
      check_state();
      off += chunk;
    }
    if (pass == 1) {
      hash1 = out.hash;
      lines1 = out.lines;
    } else if (pass == 2) {
      check(out.hash == hash1 && out.lines == lines1); /* chunking changed nothing */
    } else {
      /* Back to commands, whatever the input left: the rest of a frame, then :info. */
      tinyslm_kws_app_feed(&guarded.app, zeros, sizeof(zeros));
      tinyslm_kws_app_feed(&guarded.app, (const uint8_t *)info_cmd, sizeof(info_cmd) - 1u);
      check_state();
      check(starts(out.last, out.last_len, "{\"info\":{\"version\":\"0\",\"board\":\"fuzz\","));
    }
    check(out.len == 0);
  }
  return 0;
}
