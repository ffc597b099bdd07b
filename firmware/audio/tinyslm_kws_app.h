/*
 * tinyslm keyword app: the serial protocol of a keyword model.
 *
 * Serial bytes in (tinyslm_kws_app_feed), JSON lines out (write callback):
 *   - audio frames (tinyslm_audio_frames.h; docs/audio.md): START resets the
 *     listening loop (t_ms counts from it), AUDIO samples go to
 *     tinyslm_listen_feed, END answers
 *     {"end":{"frames":F,"inferences":I,"detections":D}} (counts since START);
 *   - a detection: {"keyword":"yes","score":0.912,"t_ms":12340,"us":850};
 *     silence and unknown never print (the detector's non_keyword_mask);
 *   - a frame the parser drops: one line
 *     {"error":"bad_frame","reason":"bad crc","detail":N} (reason is
 *     tinyslm_frame_error_name: garbage, bad type, bad length, bad crc,
 *     frames lost; detail as in tinyslm_frame_error_t);
 *   - text commands: a ':' arriving between frames at the start of a line (after
 *     '\r', '\n', a frame, a command, or first) starts a command line, ended by
 *     '\r' or '\n'; a ':' in bytes the parser skips (a frame whose sync byte was
 *     lost) is noise. A byte >= 0x80 (commands are ASCII, 0xA5 starts a frame)
 *     abandons a command without an answer and goes to the frame parser, so a
 *     command started by noise cannot swallow the frames after it.
 *     Noise is the bytes that may still be a broken frame's: the next
 *     TINYSLM_FRAME_MAX_BYTES (520, one whole frame) bytes after a byte below 0x08
 *     skipped between frames or in a ':' line (a stray frame's: every frame has one,
 *     its type byte 01..03, and typed text none) or after a frame refused for its type
 *     or length, or dropped for a bad crc (its length may have arrived short and the
 *     rest of it follow, or it may have swallowed the header of a next frame that lost
 *     its sync byte). Each such byte or frame starts the count again; a whole
 *     frame, an answered command or a stream timeout ends the noise. A ':' line that
 *     holds a byte below 0x08 gets no answer and is counted as garbage (its line end
 *     while the noise lasts); so does one whose line end comes in noise (an overlong
 *     one: whose byte past the limit does) unless it is spelt as a typed command: ':',
 *     a lowercase letter, then printable ASCII only (0x20..0x7E), ended by '\r' or '\n'
 *     within the limit, as ":info" (the host's resync) is. Such a line is answered (and
 *     ends the noise), so a command typed on a line of its own after a glitch (a UART
 *     break reads as 0x00) is answered; the glitch byte makes the rest of its own line
 *     garbage, as a command starts only at the start of a line: at boot, after a line
 *     end, a frame (a bad-CRC one too), a command or a stream timeout (send a line end
 *     first; a frame cut short takes the bytes after it, up to 520, until it ends or a
 *     stream timeout ends it, so send ":info" again if no answer comes); a broken
 *     frame's PCM rarely spells one (docs/audio.md: none in 36,052 broken frames of
 *     speech, 2 in 71,874 of full-scale white noise). ":info" answers
 *     {"info":{"version":"0.1.0","board":"esp32","modality":"keywords",
 *     "model_sha256":"<64 hex>","model_bytes":N,"arena_bytes":N,"ops":[...],
 *     "labels":N,"threshold":0.699,"keywords":["no","up","yes"],"frames":49,
 *     "stride_ms":40,"average":3,"suppression_ms":1000}} (keys in this order;
 *     with detector.label_threshold_q set, "label_thresholds":{"up":0.793}
 *     follows "threshold": each keyword whose level differs from threshold_q);
 *     any other command {"error":"unknown_command"}; one longer than
 *     TINYSLM_KWS_MAX_COMMAND bytes {"error":"line_too_long","max":N} once,
 *     and the rest of it is discarded (in noise, or holding a byte below 0x08: no
 *     answer, its bytes counted as garbage, and a ':' among them starts no command).
 *     '\r' and '\n' between frames outside
 *     noise are a host's line ends, ignored. So the garbage count is every byte
 *     skipped between frames except those line ends and the ':' lines answered
 *     (line_too_long's included);
 *   - an inference failure: {"error":"inference_failed","code":N}, once until
 *     an inference succeeds again (a broken model would otherwise print 25
 *     lines a second).
 * An AUDIO frame while no stream is open (its START was lost to a bad CRC, or the
 * stream was closed by the timeout below) opens one as START would, so a stream is
 * always heard alone; an END with no stream open answers zero counts.
 * Microphone glue calls tinyslm_kws_app_feed_samples with the same loop behind
 * it; while a serial stream is open (START seen, END not yet) microphone
 * samples are dropped, so a played recording is heard alone; after its END the
 * loop starts afresh (t_ms counts from there), so the microphone is heard alone
 * too, not after the recording's last second. A stream whose
 * frames stop for TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES microphone samples (2 s:
 * its END was lost to a bad CRC, or the host went away) is closed with
 * {"error":"stream_timeout"}: the loop and the frame parser are reset and the
 * microphone is heard again (t_ms counts from there), rather than muted until
 * a reboot. The generated glue (both boards, since round 47) gives an open
 * stream the clock's time (tinyslm_kws_app_idle) instead of microphone samples,
 * so the timeout holds whatever the microphone does (never started, starved,
 * stalled, or losing audio to overruns).
 *
 * C99, no heap, no float; every buffer is in the caller's tinyslm_kws_app_t and
 * any byte sequence is handled without reading or writing out of bounds
 * (tests/fuzz/fuzz_kws_app.c).
 */
#ifndef TINYSLM_KWS_APP_H_
#define TINYSLM_KWS_APP_H_

#include <stddef.h>
#include <stdint.h>

#include "tinyslm_audio_frames.h"
#include "tinyslm_json.h"
#include "tinyslm_listen.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TINYSLM_KWS_MAX_COMMAND
#define TINYSLM_KWS_MAX_COMMAND 32
#endif
#if TINYSLM_KWS_MAX_COMMAND < 8 || TINYSLM_KWS_MAX_COMMAND > 255
#error "TINYSLM_KWS_MAX_COMMAND must be in 8..255"
#endif

/* Samples' worth of time (16 kHz) without a frame that close an open serial stream:
 * microphone samples fed, or time given to tinyslm_kws_app_idle, which the generated
 * glue does while a stream is open (its microphone samples are dropped then anyway: a
 * microphone that starves, stalls or overruns made the timeout come late or never). A host
 * on a 115200-baud line sends a 512-byte AUDIO frame every ~45 ms, so 2 s is only
 * reached when the host has stopped. */
#ifndef TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES
#define TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES 32000u
#endif
#if TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES < 1
#error "TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES must be positive"
#endif

/* Everything about the model the app needs; generated into the project's settings. */
typedef struct {
  const char *const *labels;             /* num_labels names, output index order */
  uint32_t num_labels;                   /* = detector.num_labels */
  tinyslm_kws_detector_config_t detector;
  uint8_t stride_frames;                 /* front-end frames between inferences */
  uint32_t threshold_milli;              /* the detector threshold as a probability, for :info */
  const char *model_sha256;              /* 64 hex chars */
  uint32_t model_bytes;
  uint32_t arena_bytes;
  const char *ops;                       /* comma-separated op names, for :info */
  const char *board;                     /* board id, for :info */
  const char *version;                   /* tinyslm version, for :info */
} tinyslm_kws_model_info_t;

typedef struct {
  const tinyslm_kws_model_info_t *model;
  tinyslm_listen_infer_fn infer; /* required */
  void *infer_ctx;
  tinyslm_write_fn write;        /* required */
  void *write_ctx;
  tinyslm_listen_clock_fn clock; /* may be NULL: "us" is then 0 */
  void *clock_ctx;
} tinyslm_kws_app_config_t;

/*
 * One detection, for the project's own code (a generated project's
 * src/tinyslm_actions.c): what the JSON line just written says, as values.
 */
typedef struct {
  const char *keyword;  /* the label's name */
  uint32_t index;       /* its output index */
  uint32_t score_milli; /* the averaged score in thousandths, as printed */
  uint32_t t_ms;        /* end of the audio it was heard in (see the loop's clock) */
} tinyslm_keyword_t;

/* Called after each detection line is written, for the microphone and for audio
 * streamed over serial alike. It runs inside feed / feed_samples, between
 * inferences, so it must be short and must not feed the same app. */
typedef void (*tinyslm_keyword_fn)(const tinyslm_keyword_t *kw, void *ctx);

typedef struct {
  tinyslm_kws_app_config_t cfg;
  tinyslm_keyword_fn on_keyword; /* may be 0; see tinyslm_kws_app_on_keyword */
  void *on_keyword_ctx;
  tinyslm_listen_t listen;
  tinyslm_frame_parser_t parser;
  int16_t samples[TINYSLM_FRAME_MAX_PAYLOAD / 2]; /* one AUDIO frame, unpacked */
  uint8_t command[TINYSLM_KWS_MAX_COMMAND];
  uint8_t command_len;
  uint8_t in_command;   /* collecting a ':' line */
  uint8_t line_start;   /* the last byte outside a frame ended a line, a frame or a command */
  uint8_t discarding;   /* an overlong command: dropping bytes up to its end */
  uint8_t serial_stream; /* START seen, END not yet: microphone samples are dropped */
  uint32_t stream_idle;  /* samples dropped or idled since the stream's last frame */
  uint8_t failing;      /* the last inference failed (its error line is out) */
  uint8_t ready;        /* init succeeded */
  uint16_t noise_left;  /* as a byte is handled: it and the next noise_left - 1 may be a
                         * broken frame's (0: not noise); counts down once per byte fed */
} tinyslm_kws_app_t;

/* Checks the configuration and the model info (labels, detector, stride).
 * Returns 0, or -1 (then feed and feed_samples do nothing). */
int tinyslm_kws_app_init(tinyslm_kws_app_t *app, const tinyslm_kws_app_config_t *cfg);

/* tinyslm_kws_app_init with every callback context NULL (what board glue uses). */
int tinyslm_kws_app_setup(tinyslm_kws_app_t *app, const tinyslm_kws_model_info_t *model,
                          tinyslm_listen_infer_fn infer, tinyslm_write_fn write,
                          tinyslm_listen_clock_fn clock);

/* Calls fn (0: nothing) after every detection from now on. tinyslm_kws_app_init
 * clears it, so call this after init. Does nothing when app is NULL. */
void tinyslm_kws_app_on_keyword(tinyslm_kws_app_t *app, tinyslm_keyword_fn fn, void *ctx);

/* Raw serial bytes: audio frames and ':' commands (see above). */
void tinyslm_kws_app_feed(tinyslm_kws_app_t *app, const uint8_t *data, size_t len);

/* Microphone samples (16 kHz mono int16): the listening loop, unless a serial
 * stream is open. Returns the detections made. */
uint32_t tinyslm_kws_app_feed_samples(tinyslm_kws_app_t *app, const int16_t *samples, size_t n);

/* n_samples of time (16 kHz samples) passed without microphone audio: the generated
 * glue calls this with the clock's time while a stream is open (feeding no microphone
 * samples then), or an open stream whose END was lost would time out late or never
 * when the microphone starves, stalls or does not run. Advances an open stream's timeout
 * as feed_samples does, and nothing else: no audio is heard, and with no stream open
 * it does nothing. Any n_samples is handled (the count cannot overflow). */
void tinyslm_kws_app_idle(tinyslm_kws_app_t *app, size_t n_samples);

#ifdef __cplusplus
}
#endif

#endif /* TINYSLM_KWS_APP_H_ */
