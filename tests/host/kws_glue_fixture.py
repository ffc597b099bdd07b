"""A keyword project's ``src/`` around the microphone glue, for the glue's compile tests.

``generate`` does not write keyword projects yet, so the tests assemble one here:
the family's keyword ``main.cc`` rendered from ``templates/<family>-audio/`` with
the values ``render_project`` computes for any project (``_glue``) plus the
microphone's (:func:`tinyslm.emit.kws_glue.mic_context`), the hand-written
``firmware/common`` and ``firmware/audio`` sources, and a settings header and
source for a small keyword model written below (what the generated
``tinyslm_settings.h``/``.c`` declare for a keyword project: the baud rate, the
model input type and ``tinyslm_kws_model_info``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tinyslm import __version__
from tinyslm.boards import Board
from tinyslm.emit.kws_glue import mic_context
from tinyslm.emit.project import _glue
from tinyslm.emit.render import banner, render
from tinyslm.resources import firmware_dir

SHA = "0" * 64
# TFLM's own sources are not part of the glue test (test_stm32_image.py links them).
TFLM_SOURCES = ("tinyslm_tflm.cc", "tinyslm_mean.cc", "tinyslm_mean.h")

SETTINGS_H = """\
// Settings of a four-label keyword model, for the microphone glue's compile tests.
#ifndef TINYSLM_SETTINGS_H_
#define TINYSLM_SETTINGS_H_

#include <stdint.h>

#include "tinyslm_kws_app.h"

#define TINYSLM_BAUD_RATE 115200
#define TINYSLM_NUM_LABELS 4
#define TINYSLM_INPUT_TYPE int8_t
#define TINYSLM_INPUT_ELEMENTS TINYSLM_KWS_FEATURES

#ifdef __cplusplus
extern "C" {
#endif

extern const tinyslm_kws_model_info_t tinyslm_kws_model_info;

#ifdef __cplusplus
}
#endif

#endif  // TINYSLM_SETTINGS_H_
"""

SETTINGS_C = """\
#include "tinyslm_settings.h"

static const char *const labels[TINYSLM_NUM_LABELS] = {"_silence_", "_unknown_", "yes", "no"};

const tinyslm_kws_model_info_t tinyslm_kws_model_info = {
    labels,
    TINYSLM_NUM_LABELS,
    {TINYSLM_NUM_LABELS, 3, 51, 1000u, 0x3u},
    2,
    699u,
    "0000000000000000000000000000000000000000000000000000000000000000",
    20000u,
    30000u,
    "CONV_2D,FULLY_CONNECTED,SOFTMAX",
    "test",
    "0.0.0",
};
"""

# The TFLM adapter's C API without TFLM behind it: the glue's calls resolve, and the
# scores never reach a keyword.
TFLM_STANDIN_C = """\
#include <string.h>

#include "tinyslm_settings.h"
#include "tinyslm_tflm.h"

int tinyslm_tflm_init(void) { return 0; }

int tinyslm_tflm_invoke(const void *input, size_t bytes, int8_t *scores) {
  (void)input;
  (void)bytes;
  memset(scores, -128, TINYSLM_NUM_LABELS);
  return 0;
}

const char *tinyslm_tflm_last_error(void) { return ""; }
"""


def kws_context(board: Board) -> dict[str, Any]:
    """The values kws main.cc reads: ``board``, ``glue`` (as render_project) and ``mic``."""
    return {
        "version": __version__,
        "model_sha256": SHA,
        "board": {
            "id": board.id,
            "name": board.name,
            "port": board.serial.port,
            "cpu_mhz": board.cpu_mhz,
        },
        "glue": _glue(board),
        "mic": mic_context(board),
    }


def render_kws_main(board: Board, templates: Path | None = None) -> str:
    template = f"{board.family}-audio/src/main.cc.j2"
    text = render(template, kws_context(board), templates)
    return banner("src/main.cc", __version__, SHA, board.id) + text


def write_kws_src(board: Board, src: Path, templates: Path | None = None) -> Path:
    """Fill ``src`` with the keyword main.cc, the firmware sources and the settings."""
    src.mkdir(parents=True, exist_ok=True)
    for folder in ("common", "audio"):
        for path in sorted((firmware_dir() / folder).iterdir()):
            if path.suffix in (".c", ".h", ".cc") and path.name not in TFLM_SOURCES:
                shutil.copyfile(path, src / path.name)
    (src / "main.cc").write_text(render_kws_main(board, templates), encoding="utf-8")
    (src / "tinyslm_settings.h").write_text(SETTINGS_H, encoding="utf-8")
    (src / "tinyslm_settings.c").write_text(SETTINGS_C, encoding="utf-8")
    return src
