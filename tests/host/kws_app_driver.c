/*
 * Host driver for tests/host/test_kws_app.py: the keyword app (tinyslm_kws_app.c)
 * with the model answered by the test, as in audio_listen_driver.c.
 *
 *   kws_app_driver NUM_LABELS WINDOW THRESHOLD_Q SUPPRESSION_MS MASK STRIDE THRESHOLD_MILLI
 *                  CHUNK INPUT... -- LABEL...
 *
 * INPUT is "serial:PATH" (bytes for tinyslm_kws_app_feed, in CHUNK-byte pieces)
 * or "mic:PATH" (little-endian int16 samples for tinyslm_kws_app_feed_samples,
 * CHUNK samples at a time), taken in order. Records on stdout:
 *   'I' u32 index + features (then status byte + scores read from stdin);
 *   'L' u32 len + bytes: one write callback call;
 *   'K' u32 index, score_milli, t_ms: one call of the action hook
 *       (tinyslm_kws_app_on_keyword; its keyword name and ctx are checked here);
 *   'E' u32 frames, inferences, detections, failures, sum of feed_samples' returns;
 *   'X' init failed.
 * TINYSLM_TEST_HOOK=early registers the hook before setup (which must clear it),
 * =none not at all; otherwise it is registered after setup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyslm_kws_app.h"

#define MAX_LABELS_ARG 16
#define MAX_CHUNK 8192

static uint32_t clock_now;
static uint32_t inference_count;
static uint32_t num_labels;

static void put_u32(uint32_t v) {
  unsigned char b[4];
  b[0] = (unsigned char)(v & 0xFFu);
  b[1] = (unsigned char)((v >> 8) & 0xFFu);
  b[2] = (unsigned char)((v >> 16) & 0xFFu);
  b[3] = (unsigned char)(v >> 24);
  fwrite(b, 1, 4, stdout);
}

static int infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  unsigned char reply[1 + TINYSLM_KWS_MAX_LABELS];
  (void)ctx;
  fputc('I', stdout);
  put_u32(inference_count++);
  fwrite(features, 1, n, stdout);
  fflush(stdout);
  if (fread(reply, 1, 1 + num_labels, stdin) != 1 + num_labels) {
    fprintf(stderr, "no reply from the test\n");
    exit(4);
  }
  memcpy(scores, reply + 1, num_labels);
  return (int)(signed char)reply[0];
}

static void write_out(const char *data, size_t len, void *ctx) {
  (void)ctx;
  if (len == 0) {
    fprintf(stderr, "write called with len 0\n");
    exit(5);
  }
  fputc('L', stdout);
  put_u32((uint32_t)len);
  fwrite(data, 1, len, stdout);
}

static const char *const *hook_labels;
static int hook_ctx;

static void on_keyword(const tinyslm_keyword_t *kw, void *ctx) {
  if (ctx != &hook_ctx || kw == 0 || kw->index >= num_labels ||
      strcmp(kw->keyword, hook_labels[kw->index]) != 0) {
    fprintf(stderr, "action hook: wrong ctx, index or keyword name\n");
    exit(6);
  }
  fputc('K', stdout);
  put_u32(kw->index);
  put_u32(kw->score_milli);
  put_u32(kw->t_ms);
}

static uint32_t fake_clock(void *ctx) {
  (void)ctx;
  clock_now += 7u;
  return clock_now;
}

int main(int argc, char **argv) {
  static tinyslm_kws_app_t app;
  static unsigned char raw[2 * MAX_CHUNK];
  static int16_t samples[MAX_CHUNK];
  static const char *labels[MAX_LABELS_ARG];
  tinyslm_kws_model_info_t info;
  size_t chunk, got, k;
  uint32_t found = 0;
  int i, first_label = 0, n_labels = 0;
  const char *hook;

  if (argc < 10) {
    fprintf(stderr, "usage: see the header comment\n");
    return 2;
  }
  for (i = 9; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      first_label = i + 1;
      break;
    }
  }
  if (first_label == 0) {
    return 2;
  }
  for (i = first_label; i < argc && n_labels < MAX_LABELS_ARG; ++i) {
    labels[n_labels++] = argv[i];
  }
  memset(&info, 0, sizeof(info));
  num_labels = (uint32_t)strtoul(argv[1], 0, 10);
  if (num_labels > TINYSLM_KWS_MAX_LABELS) {
    return 2;
  }
  info.labels = labels;
  info.num_labels = num_labels;
  info.detector.num_labels = (uint8_t)num_labels;
  info.detector.window = (uint8_t)strtoul(argv[2], 0, 10);
  info.detector.threshold_q = (int8_t)strtol(argv[3], 0, 10);
  info.detector.suppression_ms = (uint32_t)strtoul(argv[4], 0, 10);
  info.detector.non_keyword_mask = (uint32_t)strtoul(argv[5], 0, 10);
  info.stride_frames = (uint8_t)strtoul(argv[6], 0, 10);
  info.threshold_milli = (uint32_t)strtoul(argv[7], 0, 10);
  info.model_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  info.model_bytes = 19992;
  info.arena_bytes = 19616;
  info.ops = "CONV_2D,DEPTHWISE_CONV_2D,,AVERAGE_POOL_2D";
  info.board = "host";
  info.version = "0.1.0";
  chunk = (size_t)strtoul(argv[8], 0, 10);
  if (chunk < 1 || chunk > MAX_CHUNK || (uint32_t)n_labels < num_labels) {
    return 2;
  }
  hook_labels = labels;
  hook = getenv("TINYSLM_TEST_HOOK");
  if (hook != 0 && strcmp(hook, "early") == 0) {
    tinyslm_kws_app_on_keyword(&app, on_keyword, &hook_ctx);
  }
  if (tinyslm_kws_app_setup(&app, &info, infer, write_out, fake_clock) != 0) {
    fputc('X', stdout);
    return 0;
  }
  if (hook == 0 || (strcmp(hook, "early") != 0 && strcmp(hook, "none") != 0)) {
    tinyslm_kws_app_on_keyword(&app, on_keyword, &hook_ctx);
  }
  tinyslm_kws_app_on_keyword(0, on_keyword, &hook_ctx); /* NULL app: nothing */
  for (i = 9; i < first_label - 1; ++i) {
    const int mic = strncmp(argv[i], "mic:", 4) == 0;
    FILE *f = fopen(argv[i] + (mic ? 4 : 7), "rb");
    if (f == 0 || (!mic && strncmp(argv[i], "serial:", 7) != 0)) {
      fprintf(stderr, "bad input %s\n", argv[i]);
      return 2;
    }
    for (;;) {
      if (mic) {
        got = fread(raw, 2, chunk, f);
        for (k = 0; k < got; ++k) {
          samples[k] = (int16_t)(uint16_t)((unsigned)raw[2 * k] | (unsigned)raw[2 * k + 1] << 8);
        }
        found += tinyslm_kws_app_feed_samples(&app, samples, got);
      } else {
        got = fread(raw, 1, chunk, f);
        tinyslm_kws_app_feed(&app, raw, got);
      }
      if (got < chunk) {
        break;
      }
    }
    fclose(f);
  }
  fputc('E', stdout);
  put_u32(app.listen.frames);
  put_u32(app.listen.inferences);
  put_u32(app.listen.detections);
  put_u32(app.listen.failures);
  put_u32(found);
  fflush(stdout);
  return 0;
}
