"""A generated keyword project around the microphone glue, for the glue's compile tests.

:func:`write_kws_project` renders the project ``generate`` writes for a keyword
model (``render_project``: the family's ``templates/<family>-audio/src/main.cc.j2``
with the microphone's values, ``templates/audio`` settings, the hand-written
``firmware/common`` and ``firmware/audio`` sources, the model array) for the
committed keyword fixture model ``tests/fixtures/kws_model`` (C's listening-loop
fixture: ``model.tflite`` and ``labels.json``), with a manifest written here from
the flatbuffer itself. The arena figure is nominal: the glue tests build no
arena-sized interpreter (``test_stm32_image.py`` and the emulators measure real ones).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tinyslm import __version__
from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.spec import KeywordSpec
from tinyslm.boards import Board
from tinyslm.emit import render_project
from tinyslm.emit.actions import with_example
from tinyslm.flatbuffer import io_details, model_ops
from tinyslm.manifest import Manifest, sha256_hex
from tinyslm.modality import AUDIO
from tinyslm.operating_point import with_label_thresholds

KWS_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "kws_model"
NOMINAL_ARENA = 24 * 1024
NON_KEYWORDS = ("_silence_", "_unknown_")

# The TFLM adapter's C API without TFLM behind it, for builds that leave TFLM out
# (its own image test links the real one): the glue's calls resolve, and the scores
# never reach a keyword.
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
# What the stand-in replaces: the adapter, TFLM's MEAN kernel (both need TFLM's headers).
TFLM_SOURCES = ("src/tinyslm_tflm.cc", "src/tinyslm_mean.cc")


@cache
def keyword_model() -> tuple[Manifest, bytes]:
    """The fixture keyword model and a manifest for it (threshold: a mean score of 0.7)."""
    model = (KWS_MODEL / "model.tflite").read_bytes()
    labels = tuple(json.loads((KWS_MODEL / "labels.json").read_text(encoding="utf-8")))
    details = io_details(model)
    threshold_q = 51
    manifest = Manifest(
        tinyslm_version=__version__,
        model_sha256=sha256_hex(model),
        model_bytes=len(model),
        features=KeywordSpec(
            non_keywords=tuple(i for i, label in enumerate(labels) if label in NON_KEYWORDS)
        ),
        labels=labels,
        threshold=DetectorSpec.probability_of(threshold_q),
        threshold_q=threshold_q,
        output_quant=details.output_quant,
        input_quant=details.input_quant,
        arena_bytes=NOMINAL_ARENA,
        ops=model_ops(model),
        seed=0,
        train_config={},
        metrics={},
        modality=AUDIO,
    )
    return manifest, model


def write_model_dir(out: Path) -> Path:
    """The fixture keyword model as a ``tinyslm train`` output folder (for ``generate``)."""
    manifest, model = keyword_model()
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.tflite").write_bytes(model)
    manifest.write(out)
    return out


def write_kws_project(
    board: Board,
    out: Path,
    templates: Path | None = None,
    *,
    without_tflm: bool = False,
    own: dict[str, float] | None = None,
) -> Path:
    """Write the keyword project for ``board`` into ``out``; return ``out``.

    ``without_tflm``: the adapter and MEAN kernel are replaced by the stand-in above
    (``src/tinyslm_tflm_standin.c``) and ``lib/tflm`` is an empty library. The user's
    starter ``src/tinyslm_actions.c`` is written with its GPIO example uncommented, so
    that what the starter suggests for this board is compiled (and linked) here too.
    ``own``: keywords with thresholds of their own, as generate --label-threshold.
    """
    manifest, model = keyword_model()
    manifest = with_label_thresholds(manifest, own or {})
    plan = render_project(board, manifest, model, templates=templates)
    starters = {rel: with_example(d.decode()).encode() for rel, d in plan.starter_mapping().items()}
    assert starters, "no actions starter for a keyword project"
    for rel, data in {**plan.as_mapping(), **starters}.items():
        if without_tflm and rel in TFLM_SOURCES:
            continue
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if without_tflm:
        (out / "src" / "tinyslm_tflm_standin.c").write_text(TFLM_STANDIN_C, encoding="utf-8")
        lib = out / "lib" / "tflm"
        lib.mkdir(parents=True, exist_ok=True)
        (lib / "library.json").write_text(json.dumps({"name": "tflm", "build": {"flags": []}}))
    return out


def stm32_main_parts(main: str) -> tuple[str, str]:
    """The STM32H7 keyword ``main.cc``'s file-scope declarations (from the error repeat
    constant to the app) and its functions (from the PCM conversion to the hang guard):
    what a host harness compiles around stand-ins of the HAL."""
    decl_from = main.index("constexpr uint32_t kErrorRepeatMs")
    decl_to = main.index("tinyslm_kws_app_t app;") + len("tinyslm_kws_app_t app;")
    funcs_from = main.index("// 32-bit slot word -> 16-bit PCM")
    funcs_to = main.index("// Never hang silently")
    return main[decl_from:decl_to], main[funcs_from:funcs_to]


def compile_stm32_harness(src: Path, harness: str, root: Path, name: str) -> Path:
    """``harness`` (C++ around :func:`stm32_main_parts`) built with the keyword app's C
    sources of the project's ``src``; the executable's path."""
    from tinyslm.toolchain import ccompile

    (root / "harness.cc").write_text(harness, encoding="utf-8")
    sources = [src / f"{n}.c" for n in ("tinyslm_kws_app", "tinyslm_listen",
               "tinyslm_audio_frontend", "tinyslm_kws_detector", "tinyslm_audio_frames",
               "tinyslm_json", "tinyslm_settings")]  # fmt: skip
    return ccompile.compile_executable(
        [*sources, root / "harness.cc"], root / name, include_dirs=[src],
        cflags=["-std=c99", "-O1"],
        cxxflags=["-std=c++17", "-O1", "-Wall", "-Werror", "-Wno-unused-function",
                  "-Wno-unused-variable"],
    )  # fmt: skip
