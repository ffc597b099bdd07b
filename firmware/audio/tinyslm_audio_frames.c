/* tinyslm audio frames parser; the format is in tinyslm_audio_frames.h. */
#include "tinyslm_audio_frames.h"

#include <string.h>

/* step() results: the candidate in buf goes on, was dropped with an error, or
 * turned out to be a lone sync0 in noise (its bytes count as garbage). */
#define STEP_OK 0
#define STEP_FAILED 1
#define STEP_NOISE 2

uint16_t tinyslm_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t n) {
  size_t i;
  int bit;
  /* Bitwise, not a 512-byte table: a few hundred bytes every 16 ms do not need it. */
  for (i = 0; i < n; ++i) {
    crc = (uint16_t)(crc ^ ((uint16_t)data[i] << 8));
    for (bit = 0; bit < 8; ++bit) {
      const uint32_t shifted = (uint32_t)crc << 1;
      crc = (uint16_t)((crc & 0x8000u) ? (shifted ^ 0x1021u) : shifted);
    }
  }
  return crc;
}

int16_t tinyslm_frame_sample(const uint8_t *payload, size_t i) {
  const uint16_t u = (uint16_t)(payload[2 * i] | ((uint16_t)payload[2 * i + 1] << 8));
  /* Two's complement without implementation-defined conversion of values > INT16_MAX. */
  return u < 0x8000u ? (int16_t)u : (int16_t)(-(int32_t)(0x10000u - u));
}

const char *tinyslm_frame_error_name(tinyslm_frame_error_t err) {
  switch (err) {
    case TINYSLM_FRAME_ERR_GARBAGE:
      return "garbage";
    case TINYSLM_FRAME_ERR_TYPE:
      return "bad type";
    case TINYSLM_FRAME_ERR_LENGTH:
      return "bad length";
    case TINYSLM_FRAME_ERR_CRC:
      return "bad crc";
    case TINYSLM_FRAME_ERR_GAP:
      return "frames lost";
  }
  return "unknown";
}

int tinyslm_frame_parser_init(tinyslm_frame_parser_t *p, tinyslm_frame_fn on_frame,
                              tinyslm_frame_error_fn on_error, void *ctx) {
  if (p == 0) {
    return TINYSLM_FRAME_PARSER_BAD_ARG;
  }
  /* Cleared first, so a refused parser has on_frame 0, which feed checks: a frame
   * completed with no callback would otherwise jump to address 0. */
  memset(p, 0, sizeof(*p));
  if (on_frame == 0) {
    return TINYSLM_FRAME_PARSER_BAD_ARG;
  }
  p->on_frame = on_frame;
  p->on_error = on_error;
  p->ctx = ctx;
  return TINYSLM_FRAME_PARSER_OK;
}

static void report(tinyslm_frame_parser_t *p, tinyslm_frame_error_t err, uint32_t detail) {
  p->errors++;
  if (p->on_error != 0) {
    p->on_error(err, detail, p->ctx);
  }
}

/* Garbage is reported as one error per run, before whatever ends the run. */
static void flush_garbage(tinyslm_frame_parser_t *p) {
  if (p->skipped != 0) {
    const uint32_t n = p->skipped;
    p->skipped = 0;
    report(p, TINYSLM_FRAME_ERR_GARBAGE, n);
  }
}

static void skip(tinyslm_frame_parser_t *p) {
  if (p->rescanning_dropped) {
    return; /* these bytes belong to a frame already reported as dropped */
  }
  if (++p->skipped >= TINYSLM_FRAME_MAX_BYTES) {
    flush_garbage(p); /* a frame's worth of noise: say so even if no frame follows */
  }
}

static void deliver(tinyslm_frame_parser_t *p, uint16_t len) {
  const uint8_t type = p->buf[2], seq = p->buf[3];
  flush_garbage(p);
  if (type != TINYSLM_FRAME_START && p->in_stream && seq != p->expect_seq) {
    report(p, TINYSLM_FRAME_ERR_GAP, (uint32_t)(uint8_t)(seq - p->expect_seq));
  }
  p->in_stream = 1;
  /* END closes the stream and the next one numbers from 0 at its START: a frame after a
   * lost START counts its loss from there, not from this stream's last seq (an AUDIO 1
   * said 246 frames lost after an END of seq 10). */
  p->expect_seq = (uint8_t)(type == TINYSLM_FRAME_END ? 0u : seq + 1u);
  p->frames++;
  p->on_frame(type, seq, p->buf + TINYSLM_FRAME_HEADER, len, p->ctx);
}

static int fail(tinyslm_frame_parser_t *p, tinyslm_frame_error_t err, uint32_t detail) {
  flush_garbage(p);
  report(p, err, detail);
  return STEP_FAILED;
}

/* Appends b to the candidate frame and checks what can be checked so far. */
static int step(tinyslm_frame_parser_t *p, uint8_t b) {
  uint16_t len;
  uint32_t crc_at, got;
  if (p->len == 0) {
    if (b == TINYSLM_FRAME_SYNC0) {
      p->buf[p->len++] = b;
    } else {
      skip(p);
    }
    return STEP_OK;
  }
  p->buf[p->len++] = b;
  if (p->len == 2) {
    if (b != TINYSLM_FRAME_SYNC1) {
      skip(p); /* the lone sync0 was noise; b is scanned again */
      return STEP_NOISE;
    }
    return STEP_OK;
  }
  if (p->len == 3) {
    return (b >= TINYSLM_FRAME_START && b <= TINYSLM_FRAME_END) ? STEP_OK
                                                                : fail(p, TINYSLM_FRAME_ERR_TYPE, b);
  }
  if (p->len < TINYSLM_FRAME_HEADER) {
    return STEP_OK;
  }
  len = (uint16_t)(p->buf[4] | ((uint16_t)p->buf[5] << 8));
  if (p->len == TINYSLM_FRAME_HEADER) {
    /* Checked before any payload is stored: this is what bounds buf. */
    if (p->buf[2] == TINYSLM_FRAME_AUDIO ? (len > TINYSLM_FRAME_MAX_PAYLOAD || (len & 1u))
                                         : len != 0) {
      return fail(p, TINYSLM_FRAME_ERR_LENGTH, len);
    }
  }
  crc_at = TINYSLM_FRAME_HEADER + (uint32_t)len;
  if (p->len < crc_at + TINYSLM_FRAME_TRAILER) {
    return STEP_OK;
  }
  got = (uint32_t)p->buf[crc_at] | ((uint32_t)p->buf[crc_at + 1] << 8);
  if (got != tinyslm_crc16_ccitt(0xFFFFu, p->buf + 2, crc_at - 2)) {
    return fail(p, TINYSLM_FRAME_ERR_CRC, got);
  }
  p->len = 0;
  deliver(p, len);
  return STEP_OK;
}

/*
 * The candidate in buf[0..len) failed: scan its bytes after the first again.
 * step() writes buf[k] only for k below the byte it is reading, so scanning in
 * place is safe; each round drops at least buf[0], so the loop ends.
 */
static void rescan(tinyslm_frame_parser_t *p, int dropped) {
  uint32_t n = p->len, i;
  p->rescanning_dropped = (uint8_t)dropped;
  for (;;) {
    p->len = 0;
    for (i = 1; i < n; ++i) {
      if (step(p, p->buf[i]) != STEP_OK) {
        break;
      }
    }
    if (i >= n) {
      p->rescanning_dropped = 0;
      return;
    }
    /* Keep the new failed candidate buf[0..len) followed by the unread bytes. */
    memmove(p->buf + p->len, p->buf + i + 1, n - i - 1);
    n = p->len + (n - i - 1);
  }
}

void tinyslm_frame_parser_feed(tinyslm_frame_parser_t *p, const uint8_t *data, size_t n) {
  size_t i;
  if (p == 0 || p->on_frame == 0 || data == 0) {
    return;
  }
  for (i = 0; i < n; ++i) {
    const int r = step(p, data[i]);
    if (r != STEP_OK) {
      rescan(p, r == STEP_FAILED);
    }
  }
}
