"""A refused init leaves the audio parser and the detector unusable, and using them is harmless.

The headers say so: ``tinyslm_frame_parser_init`` needs an ``on_frame`` callback
and ``tinyslm_kws_detector_init`` a valid configuration. Firmware that ignores the
refusal must not crash or report detections: a parser whose init was refused
ignores its bytes (it used to call a NULL ``on_frame`` when a frame completed),
and a detector whose init was refused, even one that was working before (a NULL
configuration used to leave the old one in place), ignores its score vectors.
Built with ``-std=c99 -Wall -Wextra -Werror -pedantic`` under ASan+UBSan, as the
other host tests are.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from core_harness import SANITIZE_FLAGS, SANITIZER_ENV, sanitizers_work
from shared_paths import missing

from tinyslm.audio.frames import FRAME_AUDIO, FRAME_START, encode_frame
from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
HOST_FLAGS = ("-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pedantic")

# Feeds stdin to a parser set up without on_frame (the return value ignored, as
# careless firmware would), then prints what the parser reported.
PARSER_FEED = r"""
#include <stdio.h>
#include "tinyslm_audio_frames.h"
static unsigned errors;
static void on_error(tinyslm_frame_error_t err, uint32_t detail, void *ctx) {
  (void)err; (void)detail; (void)ctx;
  errors++;
}
int main(void) {
  static tinyslm_frame_parser_t parser;
  static uint8_t buf[4096];
  size_t got;
  tinyslm_frame_parser_init(&parser, 0, on_error, 0);
  while ((got = fread(buf, 1, sizeof(buf), stdin)) > 0) {
    tinyslm_frame_parser_feed(&parser, buf, got);
  }
  printf("frames %lu errors %u\n", (unsigned long)parser.frames, errors);
  return 0;
}
"""

PARSER_INIT = r"""
#include <stdio.h>
#include "tinyslm_audio_frames.h"
static void on_frame(uint8_t t, uint8_t s, const uint8_t *p, uint16_t n, void *ctx) {
  (void)t; (void)s; (void)p; (void)n; (void)ctx;
}
int main(void) {
  static tinyslm_frame_parser_t parser;
  printf("%d %d %d\n", tinyslm_frame_parser_init(&parser, 0, 0, 0),
         tinyslm_frame_parser_init(0, on_frame, 0, 0),
         tinyslm_frame_parser_init(&parser, on_frame, 0, 0));
  return 0;
}
"""

# A working detector (window 1: any keyword vector fires), then init with a NULL
# configuration, then with a refused one: each push after a refusal reports nothing.
DETECTOR_REINIT = r"""
#include <stdio.h>
#include "tinyslm_kws_detector.h"
int main(void) {
  static tinyslm_kws_detector_t det;
  tinyslm_kws_detector_config_t cfg = {4, 1, 0, 0u, 3u, 0};
  tinyslm_kws_detector_config_t bad = {1, 4, 0, 0u, 0u, 0};
  tinyslm_kws_detection_t hit;
  const int8_t word[4] = {-128, -128, 127, -128};
  int fired = 0, t;
  printf("init %d\n", tinyslm_kws_detector_init(&det, &cfg));
  printf("working %d\n", tinyslm_kws_detector_push(&det, word, 0u, &hit));
  printf("init %d\n", tinyslm_kws_detector_init(&det, 0));
  for (t = 1; t < 50; ++t) {
    fired += tinyslm_kws_detector_push(&det, word, (uint32_t)t * 40u, &hit);
  }
  printf("init %d\n", tinyslm_kws_detector_init(&det, &bad));
  for (t = 50; t < 100; ++t) {
    fired += tinyslm_kws_detector_push(&det, word, (uint32_t)t * 40u, &hit);
  }
  fired += tinyslm_kws_detector_push(0, word, 0u, &hit);
  printf("fired %d\n", fired);
  return 0;
}
"""


def _run(tmp_path: Path, name: str, source: str, firmware: str, stdin: bytes = b"") -> str:
    reason = sanitizers_work(tmp_path)
    if reason is not None:
        missing(reason)
    main = tmp_path / f"{name}.c"
    main.write_text(source)
    try:
        exe = ccompile.compile_executable(
            [main, AUDIO / firmware], tmp_path / name, include_dirs=[AUDIO],
            cflags=(*HOST_FLAGS, *SANITIZE_FLAGS),
        )  # fmt: skip
    except ToolchainError as exc:
        if "not found" in str(exc):
            missing(str(exc))
        raise
    proc = subprocess.run(
        [str(exe)], input=stdin, capture_output=True, timeout=60, check=False, env=SANITIZER_ENV
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout.decode()


def test_a_parser_without_on_frame_ignores_its_bytes(tmp_path: Path) -> None:
    # Whole frames, and garbage that the parser would report through on_error.
    stream = encode_frame(FRAME_START, 0) + b"noise" + encode_frame(FRAME_AUDIO, 1, bytes(64))
    out = _run(tmp_path, "feed", PARSER_FEED, "tinyslm_audio_frames.c", stream * 3)
    assert out.splitlines() == ["frames 0 errors 0"]


def test_a_parser_init_without_on_frame_is_refused(tmp_path: Path) -> None:
    out = _run(tmp_path, "init", PARSER_INIT, "tinyslm_audio_frames.c")
    assert out.split() == ["-1", "-1", "0"]


def test_a_detector_refused_after_working_reports_nothing(tmp_path: Path) -> None:
    out = _run(tmp_path, "reinit", DETECTOR_REINIT, "tinyslm_kws_detector.c")
    assert out.splitlines() == ["init 0", "working 1", "init -1", "init -1", "fired 0"]
