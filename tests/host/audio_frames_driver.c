/*
 * Host driver for tests/host/test_audio_frames.py.
 *   audio_frames_driver IN CHUNK [PCM_OUT]
 * Feeds the bytes of IN to the frame parser CHUNK bytes at a time and prints
 * one line per event: "F <type> <seq> <len> <payload hex>" for a frame,
 * "E <error> <detail> <name>" for an error, then "S <frames> <errors>". The
 * samples of AUDIO frames, unpacked with tinyslm_frame_sample, go to PCM_OUT
 * as native int16.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tinyslm_audio_frames.h"

static FILE *pcm_out;

static void on_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len, void *ctx) {
  uint16_t i;
  (void)ctx;
  printf("F %u %u %u ", (unsigned)type, (unsigned)seq, (unsigned)len);
  for (i = 0; i < len; ++i) {
    printf("%02x", (unsigned)payload[i]);
  }
  printf("\n");
  if (pcm_out != 0 && type == TINYSLM_FRAME_AUDIO) {
    for (i = 0; i < len / 2; ++i) {
      const int16_t s = tinyslm_frame_sample(payload, i);
      fwrite(&s, sizeof(s), 1, pcm_out);
    }
  }
}

static void on_error(tinyslm_frame_error_t err, uint32_t detail, void *ctx) {
  (void)ctx;
  printf("E %d %lu %s\n", (int)err, (unsigned long)detail, tinyslm_frame_error_name(err));
}

int main(int argc, char **argv) {
  static tinyslm_frame_parser_t parser; /* about 540 bytes: keep it off the stack */
  static uint8_t chunk[4096];
  FILE *in;
  size_t size, got;
  if (argc < 3) {
    fprintf(stderr, "usage: %s IN CHUNK [PCM_OUT]\n", argv[0]);
    return 2;
  }
  size = strtoul(argv[2], 0, 10);
  if (size < 1 || size > sizeof(chunk) || (in = fopen(argv[1], "rb")) == 0) {
    return 2;
  }
  pcm_out = argc > 3 ? fopen(argv[3], "wb") : 0;
  tinyslm_frame_parser_init(&parser, on_frame, on_error, 0);
  while ((got = fread(chunk, 1, size, in)) > 0) {
    tinyslm_frame_parser_feed(&parser, chunk, got);
  }
  printf("S %lu %lu\n", (unsigned long)parser.frames, (unsigned long)parser.errors);
  fclose(in);
  if (pcm_out != 0) {
    fclose(pcm_out);
  }
  return 0;
}
