/*
 * libFuzzer target for firmware/audio/tinyslm_audio_frames.c:
 *   clang -fsanitize=fuzzer,address,undefined -Ifirmware/audio \
 *     tests/fuzz/fuzz_audio_frames.c firmware/audio/tinyslm_audio_frames.c
 *
 * Arbitrary bytes go to the parser three times. Besides the sanitizers, the
 * target traps when the parser breaks a promise:
 *   - a delivered frame breaks the format (type, length rules) or is not, byte
 *     for byte with its CRC, a contiguous run of the input (no invented frames);
 *   - an error has an unknown code or a detail that contradicts it, or more
 *     garbage is reported than was fed;
 *   - the events depend on how the input was chunked (fed in chunks picked by
 *     the first byte, then one byte at a time: same frames, errors, order);
 *   - the parser's length leaves its buffer, or bytes around it change;
 *   - after the input, one frame's length of zeros and a valid frame, that
 *     frame is not the last thing delivered (it always resynchronises).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyslm_audio_frames.h"

#define GUARD 0xA5
#define MAX_INPUT 4096 /* the test runs with -max_len=4096 */

typedef struct {
  const uint8_t *input;
  size_t input_len;
  uint32_t hash; /* of every event, in order */
  uint32_t frames;
  uint32_t errors;
  uint64_t garbage;
  int last_was_frame;
  uint8_t last_type, last_seq;
  uint16_t last_len;
  uint8_t last_payload[TINYSLM_FRAME_MAX_PAYLOAD];
} log_t;

static struct {
  uint8_t before[32];
  tinyslm_frame_parser_t parser;
  uint8_t after[32];
} guarded;

static void check(int cond) {
  if (!cond) {
    __builtin_trap();
  }
}

static uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 16777619u + 0x9E3779B9u; }

static int occurs_in(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m) {
  size_t i;
  for (i = 0; i + m <= n; ++i) {
    if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) {
      return 1;
    }
  }
  return 0;
}

static size_t encode(uint8_t *out, uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len) {
  uint16_t crc;
  out[0] = TINYSLM_FRAME_SYNC0;
  out[1] = TINYSLM_FRAME_SYNC1;
  out[2] = type;
  out[3] = seq;
  out[4] = (uint8_t)(len & 0xFFu);
  out[5] = (uint8_t)(len >> 8);
  if (len != 0) {
    memcpy(out + 6, payload, len);
  }
  crc = tinyslm_crc16_ccitt(0xFFFFu, out + 2, 4u + (size_t)len);
  out[6 + len] = (uint8_t)(crc & 0xFFu);
  out[7 + len] = (uint8_t)(crc >> 8);
  return 8u + (size_t)len;
}

static void on_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len, void *ctx) {
  static uint8_t frame[TINYSLM_FRAME_MAX_BYTES];
  log_t *log = ctx;
  uint16_t i;
  check(type == TINYSLM_FRAME_START || type == TINYSLM_FRAME_AUDIO || type == TINYSLM_FRAME_END);
  check(type == TINYSLM_FRAME_AUDIO ? (len <= TINYSLM_FRAME_MAX_PAYLOAD && len % 2 == 0) : len == 0);
  check(occurs_in(log->input, log->input_len, frame, encode(frame, type, seq, payload, len)));
  log->hash = mix(mix(mix(log->hash, 'F'), type), seq);
  for (i = 0; i < len; ++i) {
    log->hash = mix(log->hash, payload[i]);
  }
  for (i = 0; i < len / 2; ++i) { /* the unpacking helper stays in its payload */
    log->hash = mix(log->hash, (uint32_t)(uint16_t)tinyslm_frame_sample(payload, i));
  }
  log->frames++;
  log->last_was_frame = 1;
  log->last_type = type;
  log->last_seq = seq;
  log->last_len = len;
  if (len != 0) {
    memcpy(log->last_payload, payload, len);
  }
}

static void on_error(tinyslm_frame_error_t err, uint32_t detail, void *ctx) {
  log_t *log = ctx;
  switch (err) {
    case TINYSLM_FRAME_ERR_GARBAGE:
      check(detail >= 1 && detail <= TINYSLM_FRAME_MAX_BYTES);
      log->garbage += detail;
      break;
    case TINYSLM_FRAME_ERR_TYPE:
      check(detail > 0xFF || detail < TINYSLM_FRAME_START || detail > TINYSLM_FRAME_END);
      break;
    case TINYSLM_FRAME_ERR_LENGTH:
      check(detail != 0 && detail <= 0xFFFFu);
      break;
    case TINYSLM_FRAME_ERR_CRC:
      check(detail <= 0xFFFFu);
      break;
    case TINYSLM_FRAME_ERR_GAP:
      check(detail >= 1 && detail <= 0xFF);
      break;
    default:
      check(0);
  }
  check(tinyslm_frame_error_name(err)[0] != '\0');
  log->hash = mix(mix(mix(log->hash, 'E'), (uint32_t)err), detail);
  log->errors++;
  log->last_was_frame = 0;
}

static void feed(const uint8_t *data, size_t size, size_t chunk) {
  size_t off, i;
  for (off = 0; off < size; off += chunk) {
    tinyslm_frame_parser_feed(&guarded.parser, data + off, size - off < chunk ? size - off : chunk);
    check(guarded.parser.len < TINYSLM_FRAME_MAX_BYTES);
  }
  for (i = 0; i < sizeof(guarded.before); ++i) {
    check(guarded.before[i] == GUARD && guarded.after[i] == GUARD);
  }
}

static void run(log_t *log, const uint8_t *data, size_t size, size_t chunk) {
  memset(log, 0, sizeof(*log));
  log->input = data;
  log->input_len = size;
  memset(&guarded, GUARD, sizeof(guarded));
  tinyslm_frame_parser_init(&guarded.parser, on_frame, on_error, log);
  feed(data, size, chunk);
  check(log->frames == guarded.parser.frames && log->errors == guarded.parser.errors);
  check(log->garbage <= size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static log_t chunked, bytewise, tail;
  static uint8_t combined[MAX_INPUT + TINYSLM_FRAME_MAX_BYTES + TINYSLM_FRAME_MAX_BYTES];
  static uint8_t payload[16];
  uint16_t len;
  uint8_t seq;
  size_t n;

  if (size < 1 || size > MAX_INPUT) {
    return 0;
  }
  run(&chunked, data, size, 1u + data[0]);
  run(&bytewise, data, size, 1u);
  check(chunked.hash == bytewise.hash && chunked.frames == bytewise.frames &&
        chunked.errors == bytewise.errors && chunked.garbage == bytewise.garbage);

  /* Resynchronisation: whatever state the input left, a frame's length of zeros
   * completes (or fails) every candidate that started in it (none starts in the
   * zeros), so a valid frame after them is found and is the last event. */
  len = (uint16_t)(2u * (data[0] % 8u));
  seq = data[size - 1];
  memset(payload, 0, sizeof(payload));
  memcpy(payload, data, size < len ? size : len);
  memcpy(combined, data, size);
  memset(combined + size, 0, TINYSLM_FRAME_MAX_BYTES);
  n = size + TINYSLM_FRAME_MAX_BYTES;
  n += encode(combined + n, TINYSLM_FRAME_AUDIO, seq, payload, len);
  run(&tail, combined, n, 1u + data[0] % 64u);
  check(tail.last_was_frame && tail.last_type == TINYSLM_FRAME_AUDIO && tail.last_seq == seq &&
        tail.last_len == len && memcmp(tail.last_payload, payload, len) == 0);
  return 0;
}
