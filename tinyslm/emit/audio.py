"""The audio modality's template values: the window, the detector, the microphone.

The keyword firmware's front end (``firmware/audio/``: its tables and
``tinyslm_audio_config.h``) and its feature window (``tinyslm_listen.h``) are fixed
C sources, so a project can only carry a model made for them: :func:`check_model`
refuses any other with one line before anything is rendered (the generated
``tinyslm_settings.c`` checks it again at compile time).
"""

from __future__ import annotations

from typing import Any

from tinyslm.audio.frontend import FrontendSpec
from tinyslm.audio.spec import KeywordSpec
from tinyslm.boards import Board
from tinyslm.emit.actions import action_context
from tinyslm.emit.kws_glue import mic_buffers, mic_context, wiring_rows
from tinyslm.errors import ModelError
from tinyslm.manifest import Manifest

# What firmware/audio/ is built for (tinyslm_audio_config.h, tinyslm_listen.h).
FIRMWARE_FRONTEND = FrontendSpec()
FIRMWARE_FRAMES = 49


def check_model(spec: KeywordSpec) -> None:
    """Refuse a keyword model whose input the firmware's fixed front end cannot feed."""
    if spec.frontend != FIRMWARE_FRONTEND:
        raise ModelError(
            f"the keyword firmware's front end is {FIRMWARE_FRONTEND}; the model was trained "
            f"with {spec.frontend}"
        )
    if spec.frames != FIRMWARE_FRAMES:
        raise ModelError(
            f"the keyword firmware feeds {FIRMWARE_FRAMES}-frame windows; the model takes "
            f"{spec.frames} ({spec.window_samples} samples)"
        )


def template_context(board: Board, manifest: Manifest) -> dict[str, Any]:
    """``settings`` entries of ``templates/audio/`` and the microphone's ``mic`` values."""
    spec: KeywordSpec = manifest.features
    check_model(spec)
    return {
        "settings": {
            "frames": spec.frames,
            "bins": spec.frontend.num_bins,
            "stride_frames": spec.stride_frames,
            "stride_ms": spec.stride_ms,
            "average": spec.average,
            # Said in the README because phrases longer than it are missed more
            # (docs/audio.md, "Long phrases").
            "seen_whole_s": f"{spec.seen_whole_samples / spec.frontend.sample_rate:.2f}",
            "suppression_ms": spec.suppression_ms,
            "non_keyword_mask": sum(1 << i for i in set(spec.non_keywords)),
        },
        # Silence and unknown never fire: the starter names the keywords that do.
        "actions": action_context(
            [x for i, x in enumerate(manifest.labels) if i not in set(spec.non_keywords)]
        ),
        "mic": mic_context(board),
        "wiring": [
            {"signal": r.signal, "mcu_pin": r.mcu_pin, "mic_pin": r.mic_pin, "where": r.where}
            for r in wiring_rows(board)
        ],
    }


def ram_bytes(board: Board, manifest: Manifest) -> tuple[int, str]:
    """RAM besides the arena that the budget check counts for a keyword project.

    Counted: the microphone's DMA buffers (on the ESP32 the I2S driver's, from ESP-IDF's
    heap), the glue's sample block and the listening loop's feature window. Left to what
    the board keeps beside ``arena_ram_kb`` (its ``ram_kb`` less the arena budget, which
    also holds the SDK's RAM, the stacks and the heap): the rest of the keyword app's
    static state (the front end's FFT scratch and pending window, the frame parser, an
    AUDIO frame's samples: about 6.7 KB beside the window on a 32-bit target) and the
    serial receive ring (on the ESP32 the UART driver's 4 KB, from the heap).
    """
    spec: KeywordSpec = manifest.features
    buffers = mic_buffers(board)
    window = spec.frames * spec.frontend.num_bins
    total = buffers.dma + buffers.work + window
    return total, (
        f"microphone DMA {buffers.dma} + sample block {buffers.work} + feature window {window}"
    )
