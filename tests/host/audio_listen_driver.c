/*
 * Host driver for tests/host/test_audio_listen.py: runs firmware/audio/tinyslm_listen.c
 * over a stream of samples with the model answered by the test (TFLM in Python).
 *
 *   audio_listen_driver SAMPLES NUM_LABELS WINDOW THRESHOLD_Q SUPPRESSION_MS MASK STRIDE
 *                       CHUNK... [-- SAMPLES2 ...]
 *
 * SAMPLES is a file of little-endian int16 samples, fed in chunks of the CHUNK
 * sizes in turn (cycling). "--" followed by more files resets the loop between
 * streams (tinyslm_listen_reset), as a device does on a START frame.
 * Binary records on stdout:
 *   'I' u32 inference-count, then TINYSLM_KWS_FEATURES feature bytes; the driver
 *       then reads from stdin one status byte (0 = ok, else the infer return
 *       code) and NUM_LABELS int8 scores;
 *   'D' u8 label, u32 t_ms, i32 sum_q, u16 score_milli, u32 us;
 *   'F' i32 code (on_error);
 *   'R' (a reset, between streams);
 *   'E' u32 frames, inferences, detections, failures, sum of feed's returns; then exit 0.
 * "init" failing writes 'X' and exits 0. The clock advances 7 us per call, so a
 * detection's us is 7 when it is read once before and once after the inference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyslm_listen.h"

#define MAX_CHUNKS 16
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
  if (n != TINYSLM_KWS_FEATURES) {
    fprintf(stderr, "infer called with n=%lu\n", (unsigned long)n);
    exit(3);
  }
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

static void on_detection(const tinyslm_listen_detection_t *d, void *ctx) {
  (void)ctx;
  fputc('D', stdout);
  fputc((int)d->label, stdout);
  put_u32(d->t_ms);
  put_u32((uint32_t)d->sum_q);
  fputc((int)(d->score_milli & 0xFFu), stdout);
  fputc((int)(d->score_milli >> 8), stdout);
  put_u32(d->us);
}

static void on_error(int code, void *ctx) {
  (void)ctx;
  fputc('F', stdout);
  put_u32((uint32_t)code);
}

static uint32_t fake_clock(void *ctx) {
  (void)ctx;
  clock_now += 7u;
  return clock_now;
}

static uint32_t feed_file(tinyslm_listen_t *l, const char *path, const size_t *chunks,
                          size_t num_chunks) {
  static int16_t buf[MAX_CHUNK];
  unsigned char raw[2 * MAX_CHUNK];
  uint32_t found = 0;
  size_t k = 0, got, i;
  FILE *f = fopen(path, "rb");
  if (f == 0) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  for (;;) {
    got = fread(raw, 2, chunks[k], f);
    for (i = 0; i < got; ++i) {
      buf[i] = (int16_t)(uint16_t)((unsigned)raw[2 * i] | (unsigned)raw[2 * i + 1] << 8);
    }
    /* A zero-length feed must be harmless, so the driver makes some. */
    found += tinyslm_listen_feed(l, buf, 0);
    found += tinyslm_listen_feed(l, buf, got);
    if (got < chunks[k]) {
      break;
    }
    k = (k + 1) % num_chunks;
  }
  fclose(f);
  return found;
}

int main(int argc, char **argv) {
  static tinyslm_listen_t loop;
  tinyslm_listen_config_t cfg;
  size_t chunks[MAX_CHUNKS];
  size_t num_chunks = 0;
  uint32_t found = 0;
  int i, files_at = 0;

  if (argc < 9) {
    fprintf(stderr,
            "usage: %s SAMPLES NUM_LABELS WINDOW THRESHOLD_Q SUPPRESSION_MS MASK STRIDE CHUNK..."
            " [-- SAMPLES...]\n",
            argv[0]);
    return 2;
  }
  memset(&cfg, 0, sizeof(cfg));
  num_labels = (uint32_t)strtoul(argv[2], 0, 10);
  cfg.detector.num_labels = (uint8_t)num_labels;
  cfg.detector.window = (uint8_t)strtoul(argv[3], 0, 10);
  cfg.detector.threshold_q = (int8_t)strtol(argv[4], 0, 10);
  cfg.detector.suppression_ms = (uint32_t)strtoul(argv[5], 0, 10);
  cfg.detector.non_keyword_mask = (uint32_t)strtoul(argv[6], 0, 10);
  cfg.stride_frames = (uint8_t)strtoul(argv[7], 0, 10);
  for (i = 8; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      files_at = i + 1;
      break;
    }
    if (num_chunks == MAX_CHUNKS) {
      return 2;
    }
    chunks[num_chunks] = (size_t)strtoul(argv[i], 0, 10);
    if (chunks[num_chunks] < 1 || chunks[num_chunks] > MAX_CHUNK) {
      return 2;
    }
    ++num_chunks;
  }
  if (num_chunks == 0 || num_labels > TINYSLM_KWS_MAX_LABELS) {
    return 2;
  }
  cfg.infer = infer;
  cfg.on_detection = on_detection;
  cfg.on_error = on_error;
  cfg.clock = fake_clock;
  if (tinyslm_listen_init(&loop, &cfg) != TINYSLM_LISTEN_OK) {
    fputc('X', stdout);
    return 0;
  }
  found += feed_file(&loop, argv[1], chunks, num_chunks);
  if (files_at > 0) {
    for (i = files_at; i < argc; ++i) {
      tinyslm_listen_reset(&loop);
      fputc('R', stdout);
      found += feed_file(&loop, argv[i], chunks, num_chunks);
    }
  }
  fputc('E', stdout);
  put_u32(loop.frames);
  put_u32(loop.inferences);
  put_u32(loop.detections);
  put_u32(loop.failures);
  put_u32(found);
  fflush(stdout);
  return 0;
}
