/*
 * libFuzzer target: what the keyword app's serial frames feed, driven directly
 * (firmware/audio/tinyslm_audio_frontend.c and tinyslm_kws_detector.c). Built by
 * tests/host/test_fuzz_serial.py with
 *   clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
 *     -Ifirmware/audio tests/fuzz/fuzz_serial_dsp.c
 *     firmware/audio/tinyslm_{audio_frontend,kws_detector}.c
 *
 * The first byte picks the unit:
 *   - even: the front end on host-chosen PCM. The samples are the input as
 *     little-endian int16, or (bit 1 set) one bit per sample choosing -32768 or
 *     +32767, the loudest square waves a host can send: the FFT, power and log
 *     steps must stay free of signed overflow (UBSan) for every such window.
 *     Fed in chunks from the input's own bytes, as the frame payloads arrive.
 *   - odd: the detector under any configuration and score stream (a broken or
 *     hostile model's scores, any clock): a detection names a keyword below
 *     num_labels that is not masked, with score_milli in 0..1000.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tinyslm_audio_frontend.h"
#include "tinyslm_kws_detector.h"

#define MAX_SAMPLES 4096

static void check(int cond) {
  if (!cond) {
    __builtin_trap();
  }
}

static void fuzz_frontend(const uint8_t *data, size_t size) {
  static tinyslm_audio_frontend_t fe;
  static int16_t samples[MAX_SAMPLES];
  int8_t frame[TINYSLM_AUDIO_BINS + 1];
  size_t n = 0, used = 0, i;
  int produced;
  const int square = (data[0] & 2u) != 0;
  const size_t chunk = 1u + (size_t)data[0] * 3u;

  if (square) {
    for (i = 1; i < size && n + 8 <= MAX_SAMPLES; ++i) {
      int bit;
      for (bit = 0; bit < 8; ++bit) {
        samples[n++] = ((data[i] >> bit) & 1u) ? (int16_t)32767 : (int16_t)-32768;
      }
    }
  } else {
    for (i = 1; i + 1 < size && n < MAX_SAMPLES; i += 2) {
      samples[n++] = (int16_t)(uint16_t)((unsigned)data[i] | (unsigned)data[i + 1] << 8);
    }
  }
  tinyslm_audio_frontend_reset(&fe);
  frame[TINYSLM_AUDIO_BINS] = 0x5A;
  while (used < n) {
    const size_t take = n - used < chunk ? n - used : chunk;
    size_t got = 0;
    while (got < take) {
      const size_t k = tinyslm_audio_frontend_feed(&fe, samples + used + got, take - got, frame,
                                                   &produced);
      check(k <= take - got && (k > 0 || produced) && fe.filled <= TINYSLM_AUDIO_WINDOW);
      got += k;
    }
    used += take;
  }
  check(frame[TINYSLM_AUDIO_BINS] == 0x5A);
}

static void fuzz_detector(const uint8_t *data, size_t size) {
  static tinyslm_kws_detector_t det;
  static int8_t levels[TINYSLM_KWS_MAX_LABELS];
  tinyslm_kws_detector_config_t cfg;
  tinyslm_kws_detection_t hit;
  size_t off, i;
  uint32_t t = 0;

  if (size < 8) {
    return;
  }
  memset(&cfg, 0, sizeof(cfg));
  cfg.num_labels = (uint8_t)(data[1] % (TINYSLM_KWS_MAX_LABELS + 2u)); /* some refused */
  cfg.window = (uint8_t)(data[2] % (TINYSLM_KWS_MAX_WINDOW + 2u));
  cfg.threshold_q = (int8_t)data[3];
  cfg.suppression_ms = (uint32_t)data[4] << (data[5] & 31u);
  cfg.non_keyword_mask = (uint32_t)data[6] | (uint32_t)data[7] << 9;
  for (i = 0; i < TINYSLM_KWS_MAX_LABELS; ++i) {
    levels[i] = (int8_t)(data[3] ^ (uint8_t)(i * 29u));
  }
  cfg.label_threshold_q = (data[0] & 2u) ? levels : 0;
  if (tinyslm_kws_detector_init(&det, &cfg) != TINYSLM_KWS_OK) {
    return;
  }
  tinyslm_kws_detector_reset(&det);
  for (off = 8; off + 1u + cfg.num_labels <= size; off += 1u + cfg.num_labels) {
    /* the clock: steps of any size, wrapping; a step byte of 0 resets the stream */
    if (data[off] == 0) {
      tinyslm_kws_detector_reset(&det);
    }
    t += (uint32_t)data[off] * 0x01010101u;
    if (tinyslm_kws_detector_push(&det, (const int8_t *)(data + off + 1), t, &hit)) {
      check(hit.label < cfg.num_labels && ((cfg.non_keyword_mask >> hit.label) & 1u) == 0);
      check(hit.score_milli <= 1000u && hit.t_ms == t);
    }
    check(det.head < cfg.window && det.count <= cfg.window);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  if (data[0] & 1u) {
    fuzz_detector(data, size);
  } else {
    fuzz_frontend(data, size);
  }
  return 0;
}
