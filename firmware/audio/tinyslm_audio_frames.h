/*
 * tinyslm audio frames: 16-bit PCM streamed from a host over a serial line.
 *
 * Frame (all multi-byte fields little-endian; docs/audio.md has the table):
 *   0xA5 0x5A | type | seq | len (uint16) | payload (len bytes) | crc (uint16)
 * crc is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final
 * xor) over type, seq, len and payload. Types: START (empty payload: a new
 * stream, the board resets its front end and detector), AUDIO (len even, at
 * most TINYSLM_FRAME_MAX_PAYLOAD: int16 samples), END (empty payload: end of
 * the stream). seq counts frames modulo 256 from START; a jump is reported as
 * TINYSLM_FRAME_ERR_GAP (frames were lost) and the frame is still delivered.
 * After an END the next frame is expected to be the next stream's START (seq 0),
 * so a frame after a lost START reports the frames lost since it (AUDIO 1: 1).
 * The first frame after init is not checked (nothing is known before it).
 *
 * The parser takes one byte at a time, keeps at most one frame in a fixed
 * buffer, and never fails: a frame with a bad type, length or CRC is dropped
 * with the error callback, and the bytes after its first sync byte are scanned
 * again, so a real frame hidden in (or right after) garbage is still found
 * (those bytes are not reported a second time as garbage). Bytes skipped while
 * hunting for a sync pattern are reported as one GARBAGE error per run, before
 * the frame or error that ends the run, or after TINYSLM_FRAME_MAX_BYTES of them.
 * C99, no heap, no float; this file is the device mirror of tinyslm/audio/frames.py.
 */
#ifndef TINYSLM_AUDIO_FRAMES_H_
#define TINYSLM_AUDIO_FRAMES_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TINYSLM_FRAME_MAX_PAYLOAD
#define TINYSLM_FRAME_MAX_PAYLOAD 512 /* 256 samples, 16 ms at 16 kHz */
#endif
/* A whole frame (8 bytes more than its payload) must fit the parser's uint16_t len. */
#if TINYSLM_FRAME_MAX_PAYLOAD % 2 != 0 || TINYSLM_FRAME_MAX_PAYLOAD > 65535 - 8
#error "TINYSLM_FRAME_MAX_PAYLOAD must be even and at most 65526"
#endif

#define TINYSLM_FRAME_SYNC0 0xA5u
#define TINYSLM_FRAME_SYNC1 0x5Au
#define TINYSLM_FRAME_HEADER 6u  /* sync0 sync1 type seq len_lo len_hi */
#define TINYSLM_FRAME_TRAILER 2u /* crc_lo crc_hi */
#define TINYSLM_FRAME_MAX_BYTES (TINYSLM_FRAME_HEADER + TINYSLM_FRAME_MAX_PAYLOAD + TINYSLM_FRAME_TRAILER)

typedef enum {
  TINYSLM_FRAME_START = 0x01,
  TINYSLM_FRAME_AUDIO = 0x02,
  TINYSLM_FRAME_END = 0x03
} tinyslm_frame_type_t;

typedef enum {
  TINYSLM_FRAME_ERR_GARBAGE = 1, /* detail: bytes skipped outside any frame */
  TINYSLM_FRAME_ERR_TYPE = 2,    /* detail: the unknown type byte */
  TINYSLM_FRAME_ERR_LENGTH = 3,  /* detail: the refused length */
  TINYSLM_FRAME_ERR_CRC = 4,     /* detail: the received crc */
  TINYSLM_FRAME_ERR_GAP = 5      /* detail: frames missing before this one */
} tinyslm_frame_error_t;

/* A whole, checked frame; payload is valid only during the call. */
typedef void (*tinyslm_frame_fn)(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len,
                                 void *ctx);
typedef void (*tinyslm_frame_error_fn)(tinyslm_frame_error_t err, uint32_t detail, void *ctx);

typedef struct {
  tinyslm_frame_fn on_frame;       /* required */
  tinyslm_frame_error_fn on_error; /* may be 0 */
  void *ctx;
  uint8_t buf[TINYSLM_FRAME_MAX_BYTES]; /* the candidate frame, from its sync0 */
  uint16_t len;                         /* bytes in buf */
  uint32_t skipped;                     /* garbage bytes not yet reported */
  uint8_t rescanning_dropped;           /* scanning a dropped frame's bytes again */
  uint8_t expect_seq;
  uint8_t in_stream; /* a frame was delivered since init: seq is checked (0 after END) */
  uint32_t frames;   /* counters, for a status line */
  uint32_t errors;
} tinyslm_frame_parser_t;

enum {
  TINYSLM_FRAME_PARSER_OK = 0,
  TINYSLM_FRAME_PARSER_BAD_ARG = -1
};

/* Empties the parser; TINYSLM_FRAME_PARSER_BAD_ARG if p or on_frame is NULL (the
 * parser is then unusable: feed ignores its bytes until an init succeeds). */
int tinyslm_frame_parser_init(tinyslm_frame_parser_t *p, tinyslm_frame_fn on_frame,
                              tinyslm_frame_error_fn on_error, void *ctx);

/* Feeds received bytes; calls on_frame / on_error as frames complete or fail.
 * Nothing happens for a parser whose init was refused, or for data NULL. */
void tinyslm_frame_parser_feed(tinyslm_frame_parser_t *p, const uint8_t *data, size_t n);

/* CRC-16/CCITT-FALSE of data, continuing from crc (start with 0xFFFF). */
uint16_t tinyslm_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t n);

/* Sample i of an AUDIO payload (little-endian int16; no alignment needed). */
int16_t tinyslm_frame_sample(const uint8_t *payload, size_t i);

/* A short lowercase name for an error, for the board's error line. */
const char *tinyslm_frame_error_name(tinyslm_frame_error_t err);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_AUDIO_FRAMES_H_ */
