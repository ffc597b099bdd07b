/*
 * tinyslm listening loop: int16 PCM in, keyword detections out.
 *
 * The device mirror of tinyslm/audio/stream.py (which states the loop and
 * its timing); tests/host/test_audio_listen.py proves both give identical
 * detections. Microphone glue and the serial frame path (tinyslm_kws_app.c)
 * call the same tinyslm_listen_feed, so a board hears a recording played over
 * the serial line exactly as it hears its microphone.
 *
 *   samples --> front end (tinyslm_audio_frontend_feed, one frame per stride)
 *           --> feature window: the last TINYSLM_KWS_FRAMES frames, oldest first
 *           --> once the window is full, infer every cfg.stride_frames frames
 *           --> detector (window averaging, threshold, suppression)
 *           --> on_detection
 *
 * Timing: frame k (0-based, from the stream start) covers samples
 * [k * STRIDE, k * STRIDE + WINDOW). An inference runs when frame k arrives,
 * for k = FRAMES - 1 + m * stride_frames (m = 0, 1, ...), on frames
 * k - FRAMES + 1 .. k. Its time, and so a detection's t_ms, is the end of its
 * newest frame in milliseconds from the stream start, rounded down:
 * floor((k * STRIDE + WINDOW) * 1000 / SAMPLE_RATE), modulo 2^32.
 *
 * C99, no heap, no float, bounded: everything lives in the caller-owned
 * tinyslm_listen_t, sized at compile time (override with -D):
 *   TINYSLM_KWS_FRAMES        model input frames (49: 1 s at a 20 ms stride)
 *   TINYSLM_KWS_BINS          features per frame; must equal TINYSLM_AUDIO_BINS
 *   TINYSLM_KWS_STRIDE_FRAMES the usual cfg.stride_frames (documentation for
 *                             generated settings; the loop reads the config)
 *   TINYSLM_KWS_MAX_LABELS    from tinyslm_kws_detector.h
 */
#ifndef TINYSLM_LISTEN_H_
#define TINYSLM_LISTEN_H_

#include <stddef.h>
#include <stdint.h>

#include "tinyslm_audio_frontend.h"
#include "tinyslm_kws_detector.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TINYSLM_KWS_FRAMES
#define TINYSLM_KWS_FRAMES 49
#endif
#ifndef TINYSLM_KWS_BINS
#define TINYSLM_KWS_BINS TINYSLM_AUDIO_BINS
#endif
#ifndef TINYSLM_KWS_STRIDE_FRAMES
#define TINYSLM_KWS_STRIDE_FRAMES 2
#endif

#if TINYSLM_KWS_BINS != TINYSLM_AUDIO_BINS
#error "TINYSLM_KWS_BINS must equal the front end's TINYSLM_AUDIO_BINS"
#endif
#if TINYSLM_KWS_FRAMES < 1 || TINYSLM_KWS_FRAMES > 1024
#error "TINYSLM_KWS_FRAMES must be in 1..1024"
#endif
#if TINYSLM_KWS_STRIDE_FRAMES < 1 || TINYSLM_KWS_STRIDE_FRAMES > 255
#error "TINYSLM_KWS_STRIDE_FRAMES must be in 1..255"
#endif

#define TINYSLM_KWS_FEATURES (TINYSLM_KWS_FRAMES * TINYSLM_KWS_BINS)

/* Runs the model: n (= TINYSLM_KWS_FEATURES) int8 features, frame-major and
 * oldest frame first, in; num_labels int8 scores out. Returns 0 on success. */
typedef int (*tinyslm_listen_infer_fn)(const int8_t *features, size_t n, int8_t *scores,
                                       void *ctx);

typedef struct {
  uint8_t label;        /* output index of the keyword */
  uint32_t t_ms;        /* end of the newest frame, ms from the stream start (see above) */
  int32_t sum_q;        /* the detector's window sum of the label's int8 scores */
  uint16_t score_milli; /* mean probability in thousandths (0 .. 996) */
  uint32_t us;          /* microseconds in infer + detector for this inference (0 without clock) */
} tinyslm_listen_detection_t;

typedef void (*tinyslm_listen_detection_fn)(const tinyslm_listen_detection_t *d, void *ctx);
/* An inference failed with the infer callback's non-zero return code; its
 * score vector is skipped (the detector does not see it). */
typedef void (*tinyslm_listen_error_fn)(int code, void *ctx);
/* Free-running microsecond clock; wrap-around is fine (differences are taken). */
typedef uint32_t (*tinyslm_listen_clock_fn)(void *ctx);

typedef struct {
  tinyslm_kws_detector_config_t detector;
  uint8_t stride_frames;                   /* frames between inferences, 1..255 */
  tinyslm_listen_infer_fn infer;           /* required */
  void *infer_ctx;
  tinyslm_listen_detection_fn on_detection; /* may be 0 */
  tinyslm_listen_error_fn on_error;         /* may be 0 */
  tinyslm_listen_clock_fn clock;            /* may be 0: us is then 0 */
  void *ctx;                                /* for on_detection, on_error and clock */
} tinyslm_listen_config_t;

typedef struct {
  tinyslm_listen_config_t cfg;
  tinyslm_audio_frontend_t fe;
  tinyslm_kws_detector_t det;
  /* The model input: the last TINYSLM_KWS_FRAMES frames, oldest first. A new
   * frame shifts it by one row (a contiguous window for the model, no copy). */
  int8_t features[TINYSLM_KWS_FEATURES];
  int8_t frame[TINYSLM_KWS_BINS];
  int8_t scores[TINYSLM_KWS_MAX_LABELS];
  uint32_t filled;    /* frames in features[], up to TINYSLM_KWS_FRAMES */
  uint32_t countdown; /* frames until the next inference once the window is full */
  uint32_t end_ms;    /* end of the newest frame, ms (wrapping) */
  uint32_t end_rem;   /* (end sample * 1000) mod SAMPLE_RATE: end_ms stays exact */
  /* Counters since the last reset (wrapping), for a status line and tests. */
  uint32_t frames;
  uint32_t inferences;
  uint32_t detections;
  uint32_t failures;
} tinyslm_listen_t;

enum {
  TINYSLM_LISTEN_OK = 0,
  TINYSLM_LISTEN_BAD_CONFIG = -1
};

/* Checks cfg (the detector's rules, stride_frames >= 1, infer set) and resets.
 * TINYSLM_LISTEN_BAD_CONFIG leaves l unusable: feed then does nothing. */
int tinyslm_listen_init(tinyslm_listen_t *l, const tinyslm_listen_config_t *cfg);

/* A new stream: empties the front end, the feature window and the detector,
 * and restarts the clock of t_ms at 0. */
void tinyslm_listen_reset(tinyslm_listen_t *l);

/* Feeds n samples (any n, including 0; chunk sizes do not change the result).
 * Runs the front end, the model and the detector as frames complete, calling
 * on_detection / on_error from inside. Returns the detections made in this call. */
uint32_t tinyslm_listen_feed(tinyslm_listen_t *l, const int16_t *samples, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_LISTEN_H_ */
