/*
 * Host driver for firmware/audio/tinyslm_audio_frontend.c.
 *
 *   audio_frontend_driver stream IN.raw OUT.raw   int16 LE samples in, int8 frames out,
 *                                                 fed in uneven chunks as a DMA would
 *   audio_frontend_driver bench IN.raw REPEATS    prints "frames=F ns_per_frame=T"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinyslm_audio_frontend.h"

#define MAX_SAMPLES (16000 * 120)

static int16_t samples[MAX_SAMPLES];
static tinyslm_audio_frontend_t fe;

static size_t read_raw(const char *path) {
  FILE *f = fopen(path, "rb");
  size_t n;
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  n = fread(samples, sizeof(int16_t), MAX_SAMPLES, f);
  fclose(f);
  return n;
}

static int stream(const char *in, const char *out_path) {
  /* Chunk sizes cycle through awkward values, including 1 and more than a window. */
  static const size_t chunks[] = {1, 7, 320, 160, 481, 33, 1000, 319};
  const size_t n = read_raw(in);
  size_t pos = 0;
  size_t c = 0;
  int8_t frame[TINYSLM_AUDIO_BINS];
  FILE *out = fopen(out_path, "wb");
  if (out == NULL) {
    perror(out_path);
    return 2;
  }
  tinyslm_audio_frontend_reset(&fe);
  while (pos < n) {
    size_t len = chunks[c++ % (sizeof(chunks) / sizeof(chunks[0]))];
    if (len > n - pos) len = n - pos;
    while (len > 0) {
      int produced = 0;
      const size_t used = tinyslm_audio_frontend_feed(&fe, samples + pos, len, frame, &produced);
      pos += used;
      len -= used;
      if (produced) fwrite(frame, 1, sizeof(frame), out);
    }
  }
  fclose(out);
  return 0;
}

static int bench(const char *in, int repeats) {
  const size_t n = read_raw(in);
  int8_t frame[TINYSLM_AUDIO_BINS];
  long frames = 0;
  unsigned checksum = 0;
  struct timespec t0, t1;
  int r;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (r = 0; r < repeats; ++r) {
    size_t start;
    for (start = 0; start + TINYSLM_AUDIO_WINDOW <= n; start += TINYSLM_AUDIO_STRIDE) {
      tinyslm_audio_frame(&fe, samples + start, frame);
      checksum += (unsigned char)frame[0];
      ++frames;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("frames=%ld ns_per_frame=%.0f checksum=%u\n", frames,
         ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
             (double)(frames > 0 ? frames : 1),
         checksum);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "stream") == 0) return stream(argv[2], argv[3]);
  if (argc == 4 && strcmp(argv[1], "bench") == 0) return bench(argv[2], atoi(argv[3]));
  fprintf(stderr, "usage: %s stream IN.raw OUT.raw | bench IN.raw REPEATS\n", argv[0]);
  return 2;
}
