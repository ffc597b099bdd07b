/*
 * tinyslm text core (see tinyslm_core.h and docs/architecture.md): the serial
 * line protocol of a text project.
 *
 * Plain C99 with no heap, no stdio and no libc string functions, so the same
 * file builds for an ESP32, a Cortex-M7 and the host emulator. Output goes
 * through the common bounded JSON writer (tinyslm_json.h).
 */
#include "tinyslm_core.h"

tinyslm_decision_t tinyslm_decide(const tinyslm_model_info_t *model, const int8_t *scores) {
  tinyslm_gate_t gate;
  if (model == 0) {
    return tinyslm_gate_decide(0, scores);
  }
  gate.num_labels = model->num_labels;
  gate.score_scale = model->score_scale;
  gate.score_zero_point = model->score_zero_point;
  gate.threshold_q = model->threshold_q;
  gate.label_threshold_q = model->label_threshold_q;
  return tinyslm_gate_decide(&gate, scores);
}

/* ------------------------------------------------------------------------ */
/* Output lines.                                                             */
/* ------------------------------------------------------------------------ */

static void begin(tinyslm_json_t *o, const tinyslm_app_t *app) {
  tinyslm_json_begin(o, app->cfg.write, app->cfg.write_ctx);
}

static void write_error(const tinyslm_app_t *app, const char *name) {
  tinyslm_json_t o;
  begin(&o, app);
  tinyslm_json_raw(&o, "{\"error\":\"");
  tinyslm_json_raw(&o, name);
  tinyslm_json_raw(&o, "\"}");
  tinyslm_json_end_line(&o);
}

static void write_info(const tinyslm_app_t *app) {
  const tinyslm_model_info_t *m = app->cfg.model;
  tinyslm_json_t o;
  uint32_t i;
  int first = 1;

  begin(&o, app);
  tinyslm_json_raw(&o, "{\"info\":{\"version\":");
  tinyslm_json_string(&o, m->version);
  tinyslm_json_raw(&o, ",\"board\":");
  tinyslm_json_string(&o, m->board);
  if (app->cpu_hz != 0u) {
    tinyslm_json_raw(&o, ",\"cpu_hz\":");
    tinyslm_json_uint(&o, (unsigned long)app->cpu_hz);
  }
  tinyslm_json_raw(&o, ",\"model_sha256\":");
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
  if (m->label_threshold_q != 0) {
    /* Each intent whose own level differs, as recorded (or the score its level stands for). */
    tinyslm_json_raw(&o, ",\"label_thresholds\":{");
    for (i = 0; i < m->num_labels; ++i) {
      if (m->label_threshold_q[i] != m->threshold_q) {
        if (!first) {
          tinyslm_json_char(&o, ',');
        }
        first = 0;
        tinyslm_json_string(&o, m->labels[i]);
        tinyslm_json_char(&o, ':');
        tinyslm_json_milli(&o, m->label_threshold_milli != 0
                                   ? m->label_threshold_milli[i]
                                   : tinyslm_score_milli(m->score_scale, m->score_zero_point,
                                                         m->label_threshold_q[i]));
      }
    }
    tinyslm_json_char(&o, '}');
  }
  tinyslm_json_raw(&o, "}}");
  tinyslm_json_end_line(&o);
}

/* ------------------------------------------------------------------------ */
/* Serial protocol.                                                          */
/* ------------------------------------------------------------------------ */

int tinyslm_app_init(tinyslm_app_t *app, const tinyslm_app_config_t *cfg) {
  const tinyslm_model_info_t *m;
  uint32_t i;

  if (app == 0) {
    return -1;
  }
  /* A failed init leaves an app whose feed/handle_line do nothing. */
  app->cfg.model = 0;
  app->cfg.write = 0;
  app->cfg.infer = 0;
  app->line_len = 0;
  app->discarding = 0;
  app->on_answer = 0;
  app->on_answer_ctx = 0;
  app->cpu_hz = 0;
  if (cfg == 0 || cfg->model == 0 || cfg->infer == 0 || cfg->write == 0 ||
      cfg->line_buf == 0 || cfg->line_cap == 0 || cfg->ids_buf == 0 ||
      cfg->scores_buf == 0) {
    return -1;
  }
  m = cfg->model;
  if (m->labels == 0 || m->num_labels == 0 || m->features.seq_len == 0 ||
      m->features.buckets < 2u || m->features.buckets > 0x7FFFFFFFu) {
    return -1;
  }
  for (i = 0; i < m->num_labels; ++i) {
    if (m->labels[i] == 0) {
      return -1;
    }
  }
  app->cfg = *cfg;
  return 0;
}

int tinyslm_app_setup(tinyslm_app_t *app, const tinyslm_model_info_t *model,
                      tinyslm_infer_fn infer, tinyslm_write_fn write, tinyslm_clock_fn clock,
                      uint8_t *line_buf, size_t line_cap, int32_t *ids_buf, int8_t *scores_buf) {
  tinyslm_app_config_t cfg;
  cfg.model = model;
  cfg.infer = infer;
  cfg.infer_ctx = 0;
  cfg.write = write;
  cfg.write_ctx = 0;
  cfg.clock = clock;
  cfg.clock_ctx = 0;
  cfg.line_buf = line_buf;
  cfg.line_cap = line_cap;
  cfg.ids_buf = ids_buf;
  cfg.scores_buf = scores_buf;
  return tinyslm_app_init(app, &cfg);
}

void tinyslm_app_on_answer(tinyslm_app_t *app, tinyslm_answer_fn fn, void *ctx) {
  if (app == 0) {
    return;
  }
  app->on_answer = fn;
  app->on_answer_ctx = ctx;
}

void tinyslm_app_set_cpu_hz(tinyslm_app_t *app, uint32_t hz) {
  if (app == 0) {
    return;
  }
  app->cpu_hz = hz;
}

/* The user's action hook (src/tinyslm_actions.c), when one is set, for the answer line
 * just written. */
static void call_hook(const tinyslm_app_t *app, uint32_t index, uint32_t score_milli,
                      uint8_t local, const uint8_t *text, size_t text_len, uint8_t by_host) {
  tinyslm_answer_t a;
  if (app->on_answer == 0) {
    return;
  }
  a.intent = app->cfg.model->labels[index];
  a.index = index;
  a.score_milli = score_milli;
  a.local = local;
  a.text = text;
  a.text_len = text_len;
  a.by_host = by_host;
  app->on_answer(&a, app->on_answer_ctx);
}

static void handle_text(tinyslm_app_t *app, const uint8_t *line, size_t len) {
  const tinyslm_app_config_t *c = &app->cfg;
  const uint32_t t0 = c->clock != 0 ? c->clock(c->clock_ctx) : 0u;
  tinyslm_decision_t d;
  uint32_t us;
  int rc;
  tinyslm_json_t o;

  if (tinyslm_tokenize(&c->model->features, line, len, c->ids_buf) == 0) {
    /* Nothing the model reads (only punctuation, say): an all-padding input still gets
     * a top intent, which could run its action or send the host noise to escalate. */
    write_error(app, "no_tokens");
    return;
  }
  rc = c->infer(c->ids_buf, c->scores_buf, c->infer_ctx);
  if (rc != 0) {
    begin(&o, app);
    tinyslm_json_raw(&o, "{\"error\":\"inference_failed\",\"code\":");
    tinyslm_json_int(&o, (long)rc);
    tinyslm_json_char(&o, '}');
    tinyslm_json_end_line(&o);
    return;
  }
  d = tinyslm_decide(c->model, c->scores_buf);
  us = c->clock != 0 ? (uint32_t)(c->clock(c->clock_ctx) - t0) : 0u;

  begin(&o, app);
  tinyslm_json_raw(&o, "{\"intent\":");
  tinyslm_json_string(&o, c->model->labels[d.index]);
  tinyslm_json_raw(&o, ",\"score\":");
  tinyslm_json_milli(&o, d.score_milli);
  tinyslm_json_raw(&o, d.local ? ",\"route\":\"local\",\"us\":" : ",\"route\":\"escalate\",\"us\":");
  tinyslm_json_uint(&o, (unsigned long)us);
  if (!d.local) {
    tinyslm_json_raw(&o, ",\"text\":\"");
    tinyslm_json_escaped(&o, line, len);
    tinyslm_json_char(&o, '"');
  }
  tinyslm_json_char(&o, '}');
  tinyslm_json_end_line(&o);
  /* After the line: the host hears the answer even if the action takes time. */
  call_hook(app, d.index, d.score_milli, d.local, line, len, 0u);
}

/* The output index of the label spelled exactly name[0..len), or -1. */
static int32_t label_index(const tinyslm_model_info_t *m, const uint8_t *name, size_t len) {
  uint32_t i;
  for (i = 0; i < m->num_labels; ++i) {
    const char *label = m->labels[i];
    size_t k = 0;
    while (k < len && label[k] != '\0' && (uint8_t)label[k] == name[k]) {
      ++k;
    }
    if (k == len && label[k] == '\0') {
      return (int32_t)i;
    }
  }
  return -1;
}

/* ":do <intent>": the host's answer to a phrase this device escalated. The board acts
 * on it as on a local answer (the user's hook gets local 1, by_host 1), so an escalated
 * "dim the lights a bit" still dims the lights once the host has understood it. */
static void handle_do(tinyslm_app_t *app, const uint8_t *name, size_t len) {
  const tinyslm_model_info_t *m = app->cfg.model;
  const int32_t index = label_index(m, name, len);
  tinyslm_json_t o;

  if (index < 0) {
    write_error(app, "unknown_intent");
    return;
  }
  begin(&o, app);
  tinyslm_json_raw(&o, "{\"intent\":");
  tinyslm_json_string(&o, m->labels[index]);
  tinyslm_json_raw(&o, ",\"route\":\"host\"}");
  tinyslm_json_end_line(&o);
  /* The host decided: the user's code acts on it as on a local answer. */
  call_hook(app, (uint32_t)index, 1000u, 1u, name, len, 1u);
}

/* Space, tab, vertical tab, form feed: a line of only these is treated as
 * empty (ignored), as a blank line is; the README promises empty lines get no
 * answer, and a stray space must not cost an inference. */
static int is_blank(const uint8_t *line, size_t len) {
  size_t i;
  for (i = 0; i < len; ++i) {
    const uint8_t b = line[i];
    if (b != ' ' && b != '\t' && b != 0x0Bu && b != 0x0Cu) {
      return 0;
    }
  }
  return 1;
}

void tinyslm_app_handle_line(tinyslm_app_t *app, const uint8_t *line, size_t len) {
  if (app == 0 || app->cfg.write == 0 || line == 0 || is_blank(line, len)) {
    return;
  }
  if (line[0] == ':') {
    if (len == 5 && line[1] == 'i' && line[2] == 'n' && line[3] == 'f' && line[4] == 'o') {
      write_info(app);
    } else if (len >= 4 && line[1] == 'd' && line[2] == 'o' && line[3] == ' ') {
      handle_do(app, line + 4, len - 4);
    } else {
      write_error(app, "unknown_command");
    }
    return;
  }
  handle_text(app, line, len);
}

void tinyslm_app_rx_overflow(tinyslm_app_t *app) {
  if (app == 0 || app->cfg.write == 0) {
    return;
  }
  write_error(app, "rx_overflow");
  app->discarding = 1;
  app->line_len = 0;
}

void tinyslm_app_rx_error(tinyslm_app_t *app, const char *reason) {
  if (app == 0 || app->cfg.write == 0 || reason == 0) {
    return;
  }
  /* The shared start-up error writer: {"error":"rx_error","reason":R}, R escaped. */
  tinyslm_write_error(app->cfg.write, app->cfg.write_ctx, "rx_error", reason);
  app->discarding = 1;
  app->line_len = 0;
}

void tinyslm_app_feed(tinyslm_app_t *app, const uint8_t *data, size_t len) {
  size_t i;

  if (app == 0 || app->cfg.write == 0 || data == 0) {
    return;
  }
  for (i = 0; i < len; ++i) {
    const uint8_t b = data[i];
    if (b == '\n' || b == '\r') {
      if (!app->discarding && app->line_len > 0) {
        tinyslm_app_handle_line(app, app->cfg.line_buf, app->line_len);
      }
      app->discarding = 0;
      app->line_len = 0;
    } else if (app->discarding) {
      /* dropping the rest of an overlong line */
    } else if (app->line_len < app->cfg.line_cap) {
      app->cfg.line_buf[app->line_len++] = b;
    } else {
      tinyslm_json_t o;
      begin(&o, app);
      tinyslm_json_raw(&o, "{\"error\":\"line_too_long\",\"max\":");
      tinyslm_json_uint(&o, (unsigned long)app->cfg.line_cap);
      tinyslm_json_char(&o, '}');
      tinyslm_json_end_line(&o);
      app->discarding = 1;
      app->line_len = 0;
    }
  }
}
