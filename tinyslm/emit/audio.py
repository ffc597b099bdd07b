"""The audio modality's template values: the window, the detector, the microphone.

The keyword firmware's front end (``firmware/audio/``: its tables and
``tinyslm_audio_config.h``) and its feature window (``tinyslm_listen.h``) are fixed
C sources, so a project can only carry a model made for them: :func:`check_model`
refuses any other with one line before anything is rendered (the generated
``tinyslm_settings.c`` checks it again at compile time).
"""

from __future__ import annotations

from typing import Any

from tinyslm.audio.detector import MAX_LABELS, MAX_WINDOW
from tinyslm.audio.frames import MAX_PAYLOAD, OVERHEAD, SAMPLES_PER_FRAME
from tinyslm.audio.frontend import FrontendSpec
from tinyslm.audio.spec import KeywordSpec
from tinyslm.boards import Board
from tinyslm.emit.actions import action_context
from tinyslm.emit.kws_glue import mic_buffers, mic_context, wiring_rows
from tinyslm.emit.text import TFLM_GLUE_BYTES, SerialRam, describe_ram
from tinyslm.errors import ModelError
from tinyslm.info import KWS_MAX_COMMAND
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


# sizeof(tinyslm_kws_app_t)'s pointers, counters and padding on a 32-bit target: what
# kws_app_bytes adds to the arrays it counts (tests/host/test_r50_budget_static.py).
KWS_APP_FIELDS_BYTES = 188

# The values templates/<family>-audio/src/main.cc.j2 declares (kRxRing; rx_chunk and
# kRxRingBytes, passed to uart_driver_install with no event queue); the test reads them
# back from a rendered project.
AUDIO_SERIAL = {
    "esp32": SerialRam(static=256, driver_ring=4096),
    "stm32": SerialRam(static=2048),
}


def kws_app_bytes() -> int:
    """sizeof(tinyslm_kws_app_t) (firmware/audio/tinyslm_kws_app.h) on a 32-bit target.

    Its arrays from the constants the C sizes them with (the firmware's front end and
    window, the detector's and the frame format's limits), plus the fields between them.
    """
    fe = FIRMWARE_FRONTEND
    window = FIRMWARE_FRAMES * fe.num_bins  # tinyslm_listen_t: features[]
    listen = window + fe.num_bins + MAX_LABELS  # ... frame[], scores[]
    front_end = 2 * fe.window_samples + 2 * 4 * fe.fft_size  # pending[] int16, re[] im[] int32
    detector = MAX_WINDOW * MAX_LABELS + 4 * MAX_LABELS  # ring[][] int8, sum[] int32
    parser = MAX_PAYLOAD + OVERHEAD  # tinyslm_frame_parser_t: buf[]
    samples = 2 * SAMPLES_PER_FRAME  # one AUDIO frame, unpacked to int16
    return listen + front_end + detector + parser + samples + KWS_MAX_COMMAND + KWS_APP_FIELDS_BYTES


def ram_bytes(board: Board, manifest: Manifest) -> tuple[int, str]:
    """RAM besides the arena that the budget check counts for a keyword project.

    Counted: the microphone's DMA buffers (on the ESP32 the I2S driver's, from ESP-IDF's
    heap), the glue's sample block, the keyword app's state (the listening loop's
    feature window, the front end's FFT scratch and pending window, the detector, the
    frame parser, an AUDIO frame's samples, the command line), the TFLM glue's
    interpreter and op resolver, and the serial receive buffers: on the STM32 the
    interrupt's ring, on the ESP32 the read chunk and the UART driver's 4 KiB RX ring
    (heap). Left to what the board keeps beside ``arena_ram_kb`` (its ``ram_kb`` less
    the arena budget): the SDK's own RAM (HAL handles, ESP-IDF and FreeRTOS, the
    drivers' bookkeeping), the stacks, the heap's overhead and the glue's few scalars.
    """
    del manifest  # the firmware's buffers are fixed: check_model refuses any other model
    buffers = mic_buffers(board)
    parts = [
        ("microphone DMA", buffers.dma),
        ("sample block", buffers.work),
        (
            f"keyword app (feature window {FIRMWARE_FRAMES * FIRMWARE_FRONTEND.num_bins})",
            kws_app_bytes(),
        ),
        ("TFLM glue", TFLM_GLUE_BYTES),
        *AUDIO_SERIAL[board.family].parts(),
    ]
    return describe_ram(parts)
