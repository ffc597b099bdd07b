/* tinyslm keyword app; the protocol is stated in tinyslm_kws_app.h. */
#include "tinyslm_kws_app.h"

#include <string.h>

/* A byte below this, skipped between frames, is a stray frame's: every frame has one
 * (its type byte, 01..03, right after the sync bytes) and a typed line none (NUL to BEL
 * are not typed). A ':' line after one is noise, not a command (see the header). */
#define STRAY_BELOW 0x08u

/* The next n bytes fed may still be a broken frame's (noise). One more than n: the count
 * drops at the start of every byte fed, so bytes 1..n from now see it above 0. The
 * frames header's bound on TINYSLM_FRAME_MAX_PAYLOAD keeps n + 1 <= 65535. */
static void noise_for(tinyslm_kws_app_t *app, uint32_t n) {
  app->noise_left = (uint16_t)(n + 1u);
}

static int is_noise(const tinyslm_kws_app_t *app) {
  return app->noise_left != 0;
}

static void write_simple_error(const tinyslm_kws_app_t *app, const char *code) {
  tinyslm_json_t o;
  tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
  tinyslm_json_raw(&o, "{\"error\":\"");
  tinyslm_json_raw(&o, code);
  tinyslm_json_raw(&o, "\"}");
  tinyslm_json_end_line(&o);
}

/* Label names come from generated settings, but are escaped anyway: a name is data. */
static void write_label(tinyslm_json_t *o, const tinyslm_kws_app_t *app, uint32_t i) {
  tinyslm_json_string(o, i < app->cfg.model->num_labels ? app->cfg.model->labels[i] : 0);
}

static int is_keyword(const tinyslm_kws_model_info_t *m, uint32_t i) {
  return i < m->num_labels && (m->detector.non_keyword_mask & ((uint32_t)1u << i)) == 0;
}

static void write_info(const tinyslm_kws_app_t *app) {
  const tinyslm_kws_model_info_t *m = app->cfg.model;
  uint32_t frame_ms_x = (uint32_t)TINYSLM_AUDIO_STRIDE * 1000u / TINYSLM_AUDIO_SAMPLE_RATE;
  uint32_t i;
  int first = 1;
  tinyslm_json_t o;

  tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
  tinyslm_json_raw(&o, "{\"info\":{\"version\":");
  tinyslm_json_string(&o, m->version);
  tinyslm_json_raw(&o, ",\"board\":");
  tinyslm_json_string(&o, m->board);
  tinyslm_json_raw(&o, ",\"modality\":\"keywords\",\"model_sha256\":");
  tinyslm_json_string(&o, m->model_sha256);
  tinyslm_json_raw(&o, ",\"model_bytes\":");
  tinyslm_json_uint(&o, (unsigned long)m->model_bytes);
  tinyslm_json_raw(&o, ",\"arena_bytes\":");
  tinyslm_json_uint(&o, (unsigned long)m->arena_bytes);
  tinyslm_json_raw(&o, ",\"ops\":");
  tinyslm_json_csv_array(&o, m->ops);
  tinyslm_json_raw(&o, ",\"labels\":");
  tinyslm_json_uint(&o, (unsigned long)m->num_labels);
  tinyslm_json_raw(&o, ",\"threshold\":");
  tinyslm_json_milli(&o, m->threshold_milli);
  if (m->detector.label_threshold_q != 0) {
    /* Each keyword whose own level differs, as the probability it stands for. */
    tinyslm_json_raw(&o, ",\"label_thresholds\":{");
    for (i = 0; i < m->num_labels; ++i) {
      if (is_keyword(m, i) && m->detector.label_threshold_q[i] != m->detector.threshold_q) {
        if (!first) {
          tinyslm_json_char(&o, ',');
        }
        first = 0;
        write_label(&o, app, i);
        tinyslm_json_char(&o, ':');
        tinyslm_json_milli(&o, tinyslm_kws_score_milli(m->detector.label_threshold_q[i], 1u));
      }
    }
    tinyslm_json_char(&o, '}');
  }
  tinyslm_json_raw(&o, ",\"keywords\":[");
  first = 1;
  for (i = 0; i < m->num_labels; ++i) {
    if (is_keyword(m, i)) {
      if (!first) {
        tinyslm_json_char(&o, ',');
      }
      first = 0;
      write_label(&o, app, i);
    }
  }
  tinyslm_json_raw(&o, "],\"frames\":");
  tinyslm_json_uint(&o, (unsigned long)TINYSLM_KWS_FRAMES);
  tinyslm_json_raw(&o, ",\"stride_ms\":");
  tinyslm_json_uint(&o, (unsigned long)(frame_ms_x * m->stride_frames));
  tinyslm_json_raw(&o, ",\"average\":");
  tinyslm_json_uint(&o, (unsigned long)m->detector.window);
  tinyslm_json_raw(&o, ",\"suppression_ms\":");
  tinyslm_json_uint(&o, (unsigned long)m->detector.suppression_ms);
  tinyslm_json_raw(&o, "}}");
  tinyslm_json_end_line(&o);
}

static void on_detection(const tinyslm_listen_detection_t *d, void *ctx) {
  const tinyslm_kws_app_t *app = (const tinyslm_kws_app_t *)ctx;
  tinyslm_json_t o;
  tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
  tinyslm_json_raw(&o, "{\"keyword\":");
  write_label(&o, app, d->label);
  tinyslm_json_raw(&o, ",\"score\":");
  tinyslm_json_milli(&o, d->score_milli);
  tinyslm_json_raw(&o, ",\"t_ms\":");
  tinyslm_json_uint(&o, (unsigned long)d->t_ms);
  tinyslm_json_raw(&o, ",\"us\":");
  tinyslm_json_uint(&o, (unsigned long)d->us);
  tinyslm_json_raw(&o, "}");
  tinyslm_json_end_line(&o);
  /* After the line: the host hears the detection even if the action takes time. The
   * detector only fires labels below num_labels (checked at init), as write_label. */
  if (app->on_keyword != 0 && d->label < app->cfg.model->num_labels) {
    tinyslm_keyword_t kw;
    kw.keyword = app->cfg.model->labels[d->label];
    kw.index = d->label;
    kw.score_milli = d->score_milli;
    kw.t_ms = d->t_ms;
    app->on_keyword(&kw, app->on_keyword_ctx);
  }
}

void tinyslm_kws_app_on_keyword(tinyslm_kws_app_t *app, tinyslm_keyword_fn fn, void *ctx) {
  if (app == 0) {
    return;
  }
  app->on_keyword = fn;
  app->on_keyword_ctx = ctx;
}

static void on_infer_error(int code, void *ctx) {
  tinyslm_kws_app_t *app = (tinyslm_kws_app_t *)ctx;
  tinyslm_json_t o;
  if (app->failing) {
    return;
  }
  app->failing = 1;
  tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
  tinyslm_json_raw(&o, "{\"error\":\"inference_failed\",\"code\":");
  tinyslm_json_int(&o, (long)code);
  tinyslm_json_raw(&o, "}");
  tinyslm_json_end_line(&o);
}

static uint32_t app_clock(void *ctx) {
  const tinyslm_kws_app_t *app = (const tinyslm_kws_app_t *)ctx;
  return app->cfg.clock != 0 ? app->cfg.clock(app->cfg.clock_ctx) : 0u;
}

/* The listen loop's infer, so that a success can re-arm the failure line. */
static int app_infer(const int8_t *features, size_t n, int8_t *scores, void *ctx) {
  tinyslm_kws_app_t *app = (tinyslm_kws_app_t *)ctx;
  int rc = app->cfg.infer(features, n, scores, app->cfg.infer_ctx);
  if (rc == 0) {
    app->failing = 0;
  }
  return rc;
}

static void write_end(const tinyslm_kws_app_t *app) {
  /* With no stream open the loop's counts are the microphone's: none of the host's
   * audio was heard. */
  const int heard = app->serial_stream != 0;
  tinyslm_json_t o;
  tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
  tinyslm_json_raw(&o, "{\"end\":{\"frames\":");
  tinyslm_json_uint(&o, heard ? (unsigned long)app->listen.frames : 0ul);
  tinyslm_json_raw(&o, ",\"inferences\":");
  tinyslm_json_uint(&o, heard ? (unsigned long)app->listen.inferences : 0ul);
  tinyslm_json_raw(&o, ",\"detections\":");
  tinyslm_json_uint(&o, heard ? (unsigned long)app->listen.detections : 0ul);
  tinyslm_json_raw(&o, "}}");
  tinyslm_json_end_line(&o);
}

static void on_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len, void *ctx) {
  tinyslm_kws_app_t *app = (tinyslm_kws_app_t *)ctx;
  size_t i, n;
  (void)seq;
  app->stream_idle = 0;
  app->line_start = 1;
  app->noise_left = 0; /* a whole frame: the bytes after it are not the broken one's */
  if (type == TINYSLM_FRAME_START || (type == TINYSLM_FRAME_AUDIO && !app->serial_stream)) {
    /* An AUDIO frame with no stream open lost its START (or came after a timeout):
     * it opens the stream, or its samples would mix with the microphone's. */
    tinyslm_listen_reset(&app->listen);
    app->serial_stream = 1;
  }
  if (type == TINYSLM_FRAME_END) {
    const int was_stream = app->serial_stream;
    write_end(app); /* reads the stream's counters: before the reset */
    if (was_stream) {
      /* Back to the microphone, heard alone (as after a timeout): the recording's last
       * second would otherwise stay in the feature window and the detector's ring. */
      tinyslm_listen_reset(&app->listen);
    }
    app->serial_stream = 0;
  } else if (type == TINYSLM_FRAME_AUDIO) {
    /* The parser guarantees len <= TINYSLM_FRAME_MAX_PAYLOAD and even; min() anyway. */
    n = (size_t)len / 2u;
    if (n > sizeof(app->samples) / sizeof(app->samples[0])) {
      n = sizeof(app->samples) / sizeof(app->samples[0]);
    }
    for (i = 0; i < n; ++i) {
      app->samples[i] = tinyslm_frame_sample(payload, i);
    }
    tinyslm_listen_feed(&app->listen, app->samples, n);
  }
}

static void on_frame_error(tinyslm_frame_error_t err, uint32_t detail, void *ctx) {
  tinyslm_kws_app_t *app = (tinyslm_kws_app_t *)ctx;
  tinyslm_json_t o;
  if (err == TINYSLM_FRAME_ERR_CRC) {
    /* The broken frame ran to its declared end: a line boundary. What follows may still
     * be a broken frame's, a whole frame's length of it: the rest of this one if its
     * length arrived short, or the next frame's PCM if bytes lost from this one let it
     * swallow that frame's header (a burst that took this frame's last bytes and the
     * next one's sync byte; the header's bytes below 0x08 were then this candidate's,
     * never seen as stray). */
    app->line_start = 1;
    noise_for(app, TINYSLM_FRAME_MAX_BYTES);
  } else if (err == TINYSLM_FRAME_ERR_TYPE || err == TINYSLM_FRAME_ERR_LENGTH) {
    /* the rest of the refused frame comes as bytes outside any frame */
    noise_for(app, TINYSLM_FRAME_MAX_BYTES);
  }
  tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
  tinyslm_json_raw(&o, "{\"error\":\"bad_frame\",\"reason\":");
  tinyslm_json_string(&o, tinyslm_frame_error_name(err));
  tinyslm_json_raw(&o, ",\"detail\":");
  tinyslm_json_uint(&o, (unsigned long)detail);
  tinyslm_json_raw(&o, "}");
  tinyslm_json_end_line(&o);
}

int tinyslm_kws_app_init(tinyslm_kws_app_t *app, const tinyslm_kws_app_config_t *cfg) {
  const tinyslm_kws_model_info_t *m;
  tinyslm_listen_config_t lc;
  uint32_t i;

  if (app == 0) {
    return -1;
  }
  memset(app, 0, sizeof(*app)); /* ready = 0: feed does nothing until init succeeds */
  if (cfg == 0 || cfg->model == 0 || cfg->infer == 0 || cfg->write == 0) {
    return -1;
  }
  m = cfg->model;
  if (m->labels == 0 || m->num_labels != m->detector.num_labels) {
    return -1;
  }
  for (i = 0; i < m->num_labels && i < TINYSLM_KWS_MAX_LABELS; ++i) {
    if (m->labels[i] == 0) {
      return -1;
    }
  }
  app->cfg = *cfg;
  memset(&lc, 0, sizeof(lc));
  lc.detector = m->detector;
  lc.stride_frames = m->stride_frames;
  lc.infer = app_infer;
  lc.infer_ctx = app;
  lc.on_detection = on_detection;
  lc.on_error = on_infer_error;
  lc.clock = app_clock;
  lc.ctx = app;
  /* The listen loop checks the detector (label count bound included) and the stride. */
  if (tinyslm_listen_init(&app->listen, &lc) != TINYSLM_LISTEN_OK) {
    return -1;
  }
  tinyslm_frame_parser_init(&app->parser, on_frame, on_frame_error, app);
  app->line_start = 1;
  app->ready = 1;
  return 0;
}

int tinyslm_kws_app_setup(tinyslm_kws_app_t *app, const tinyslm_kws_model_info_t *model,
                          tinyslm_listen_infer_fn infer, tinyslm_write_fn write,
                          tinyslm_listen_clock_fn clock) {
  tinyslm_kws_app_config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.model = model;
  cfg.infer = infer;
  cfg.write = write;
  cfg.clock = clock;
  return tinyslm_kws_app_init(app, &cfg);
}

static int is_info(const tinyslm_kws_app_t *app) {
  static const char info[] = ":info";
  return app->command_len == sizeof(info) - 1u &&
         memcmp(app->command, info, sizeof(info) - 1u) == 0;
}

/* A byte below 0x08 in the line: no typed line holds one, a broken frame's PCM may. */
static int has_stray(const tinyslm_kws_app_t *app) {
  uint8_t i;
  for (i = 0; i < app->command_len; ++i) {
    if (app->command[i] < STRAY_BELOW) {
      return 1;
    }
  }
  return 0;
}

/* A line a host typed, as strictly as commands are spelt: ':', a lowercase letter, then
 * printable ASCII only (0x20..0x7E), within TINYSLM_KWS_MAX_COMMAND (the caller ends it
 * at its '\r' or '\n'). Only such a line is answered in noise: a broken frame's PCM
 * rarely spells one (docs/audio.md: none in 36,052 broken frames of speech, about 2e-5 a
 * broken frame of full-scale white noise), while a command typed on a line of its own
 * after a glitch is answered. ":info" is one. */
static int is_well_formed(const tinyslm_kws_app_t *app) {
  uint8_t i;
  if (app->command_len < 2u || app->command[1] < 'a' || app->command[1] > 'z') {
    return 0;
  }
  for (i = 2; i < app->command_len; ++i) {
    if (app->command[i] < 0x20u || app->command[i] > 0x7Eu) {
      return 0;
    }
  }
  return 1;
}

static void handle_command(tinyslm_kws_app_t *app) {
  if (is_info(app)) {
    write_info(app);
  } else {
    write_simple_error(app, "unknown_command");
  }
}

/* Ends the command line being collected without an answer: its bytes (unless an overlong
 * command's, already answered) go to the parser, which counts them as garbage. */
static void drop_command(tinyslm_kws_app_t *app) {
  /* A low byte among them started the noise when it came (tinyslm_kws_app_feed). */
  if (!app->discarding) {
    tinyslm_frame_parser_feed(&app->parser, app->command, app->command_len);
  }
  app->in_command = 0;
  app->discarding = 0;
  app->command_len = 0;
  /* Skipped bytes end no line: a ':' as the byte that made an overlong line garbage is
   * that line's, not a new command's (the caller feeds a line end through as one). */
  app->line_start = 0;
}

/* A byte outside any frame and command line. */
static void feed_between(tinyslm_kws_app_t *app, uint8_t b) {
  if (app->parser.len == 0 && (b == '\n' || b == '\r')) {
    /* Between frames a line end ends a line. Among a stray frame's bytes it is one of
     * them too, so the garbage count holds it (the host's resync line end is counted
     * with the noise before it). */
    if (is_noise(app)) {
      tinyslm_frame_parser_feed(&app->parser, &b, 1);
    }
    app->line_start = 1;
  } else if (app->parser.len == 0 && b == ':' && app->line_start) {
    app->in_command = 1;
    app->command[0] = b;
    app->command_len = 1;
  } else {
    /* Inside a frame (parser.len > 0) every byte is the frame's, PCM can hold any
     * value; a ':' after skipped bytes is a lost frame's PCM. */
    app->line_start = 0; /* a frame delivered by this byte sets it again */
    tinyslm_frame_parser_feed(&app->parser, &b, 1);
    if (app->parser.len == 0 && !app->line_start && b < STRAY_BELOW) {
      /* Skipped, and no typed line holds it: a stray frame's header or PCM. The rest of
       * that frame is at most TINYSLM_FRAME_MAX_BYTES - 3 bytes (this is its type byte
       * at the earliest), so the noise lapses one frame's length later. */
      noise_for(app, TINYSLM_FRAME_MAX_BYTES);
    }
    if (app->parser.len == 0 && (b == '\n' || b == '\r')) {
      /* A line end that ended a broken frame candidate (a lone 0xA5 before it) is
       * still the host's resync: the ':' after it starts a command. */
      app->line_start = 1;
    }
  }
}

/* The line end b ends the command line being collected. */
static void end_command(tinyslm_kws_app_t *app, uint8_t b) {
  if (app->discarding) {
    /* an overlong command, already answered with line_too_long */
  } else if (has_stray(app) || (is_noise(app) && !is_well_formed(app))) {
    /* Holding a stray frame's byte, or among such bytes and not spelt as a typed command
     * (":info", the host's resync, is): their PCM, not a command. Counted as garbage, the
     * line end too while the noise lasts (as every line end between frames). */
    drop_command(app);
    feed_between(app, b);
    return;
  } else {
    handle_command(app);
    app->noise_left = 0; /* the host's own line: what follows is its again */
  }
  app->in_command = 0;
  app->discarding = 0;
  app->command_len = 0;
  app->line_start = 1;
}

void tinyslm_kws_app_feed(tinyslm_kws_app_t *app, const uint8_t *data, size_t len) {
  size_t i;
  if (app == 0 || !app->ready || (data == 0 && len > 0)) {
    return;
  }
  for (i = 0; i < len; ++i) {
    const uint8_t b = data[i];
    if (app->noise_left != 0) {
      --app->noise_left; /* one byte further from the last stray byte or broken frame */
    }
    if (app->in_command && b < STRAY_BELOW) {
      /* In a ':' line (kept or discarded): a stray frame's byte, as feed_between says. */
      noise_for(app, TINYSLM_FRAME_MAX_BYTES);
    }
    if (!app->in_command) {
      feed_between(app, b);
    } else if (b >= 0x80u) {
      /* Not a command (they are ASCII) but noise that held a ':', and b may be the
       * next frame's sync byte: the bytes go to the parser, which counts them as
       * garbage, and b starts its hunt for a frame. */
      drop_command(app);
      feed_between(app, b);
    } else if (b == '\n' || b == '\r') {
      end_command(app, b);
    } else if (app->discarding) {
      /* the rest of an overlong command */
    } else if (app->command_len < sizeof(app->command)) {
      app->command[app->command_len++] = b;
    } else if (is_noise(app) || has_stray(app)) {
      /* Too long for :info, among a stray frame's bytes: garbage, not line_too_long. */
      drop_command(app);
      feed_between(app, b);
    } else {
      tinyslm_json_t o;
      tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
      tinyslm_json_raw(&o, "{\"error\":\"line_too_long\",\"max\":");
      tinyslm_json_uint(&o, (unsigned long)sizeof(app->command));
      tinyslm_json_raw(&o, "}");
      tinyslm_json_end_line(&o);
      app->discarding = 1;
    }
  }
}

/* The stream's frames stopped (see TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES): back to the
 * microphone. The parser is reset too, so the bytes of a frame cut off half way do not
 * swallow the next command line. */
static void close_stale_stream(tinyslm_kws_app_t *app) {
  tinyslm_json_t o;
  app->serial_stream = 0;
  app->stream_idle = 0;
  tinyslm_listen_reset(&app->listen);
  tinyslm_frame_parser_init(&app->parser, on_frame, on_frame_error, app);
  app->line_start = 1;
  app->noise_left = 0;
  tinyslm_json_begin(&o, app->cfg.write, app->cfg.write_ctx);
  tinyslm_json_raw(&o, "{\"error\":\"stream_timeout\"}");
  tinyslm_json_end_line(&o);
}

/* n more samples' time without a frame on the open stream. Compared as a remainder
 * (stream_idle < TIMEOUT always holds), so the count cannot overflow whatever n is. */
static void stream_wait(tinyslm_kws_app_t *app, size_t n) {
  if (n < TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES - app->stream_idle) {
    app->stream_idle += (uint32_t)n;
  } else {
    close_stale_stream(app);
  }
}

uint32_t tinyslm_kws_app_feed_samples(tinyslm_kws_app_t *app, const int16_t *samples, size_t n) {
  if (app == 0 || !app->ready) {
    return 0;
  }
  if (app->serial_stream) {
    stream_wait(app, n);
    return 0; /* this batch was heard while the stream was open: dropped */
  }
  return tinyslm_listen_feed(&app->listen, samples, n);
}

void tinyslm_kws_app_idle(tinyslm_kws_app_t *app, size_t n_samples) {
  /* With no stream open there is no timeout to advance, and no audio to hear. */
  if (app == 0 || !app->ready || !app->serial_stream) {
    return;
  }
  stream_wait(app, n_samples);
}
