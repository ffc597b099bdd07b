"""A bounded libFuzzer run of tests/fuzz/fuzz_kws_app.c (ASan+UBSan) over the keyword app.

Arbitrary bytes reach tinyslm_kws_app_feed (chunked two ways), then a frame's
length of zeros and ``:info``, then the microphone path; behind the app run the
real listening loop, front end, detector, frame parser and JSON writer, with
``TINYSLM_KWS_FRAMES=2`` so that short inputs reach the model (a stand-in that
also fails now and then) and the detector. Any sanitizer report, trap (a broken
promise: see the target's header comment) or crash fails this test. An app with
a planted bound error (a command buffer one byte too short for its check) must be
caught by the same run.

A second, shorter run builds the app with the header defaults, as generated
projects do (no board passes TINYSLM_* flags): 49 frames, a 32000-sample stream
timeout, a 32-byte command buffer. Its seeds hold a stream of one second, long
enough to reach the model, with and without its END (the microphone then closes
it with {"error":"stream_timeout"}); it stops after PROJECT_RUNS inputs, under a
time bound of its own, PROJECT_MAX_TIME_S.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from libfuzzer import MAX_TIME_S, assert_finding, assert_no_finding, run_libfuzzer

from tinyslm.audio.frames import FRAME_AUDIO, encode_frame, stream_bytes

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
COMMON = REPO / "firmware" / "common"
APP_C = AUDIO / "tinyslm_kws_app.c"
FUZZ_C = REPO / "tests" / "fuzz" / "fuzz_kws_app.c"
OTHERS = [
    *(AUDIO / f"{n}.c" for n in ("tinyslm_listen", "tinyslm_audio_frontend",
                                 "tinyslm_kws_detector", "tinyslm_audio_frames")),
    COMMON / "tinyslm_json.c",
]  # fmt: skip
SEEDS = (
    stream_bytes((np.sin(np.arange(1400) / 3) * 20000).astype(np.int16), 200),
    b":info\r\n:nope\n\n:" + b"y" * 40 + b"\n",
    encode_frame(FRAME_AUDIO, 7, bytes(range(256)) * 2) + b":info\n\xa5\x5a\x02",
)


# One second of audio (the model's 49 frames need 15,840 samples) as 256-sample frames:
# 32,520 bytes, under the target's input cap for 49 frames (33,496). Once with its
# END frame (8 bytes) and once without, so the stream is left open.
_SECOND = stream_bytes((np.sin(np.arange(16000) / 3) * 20000).astype(np.int16), 256)
PROJECT_SEEDS = (*SEEDS, _SECOND, _SECOND[:-8])
# Inputs of a project-settings run: ~60 a second on a 2-core machine running the test
# suite (each long input runs the front end ~150 times), ~20 a second with three more
# jobs beside it (round 53: 650 of the 800 within 30 s, and the run counted as failed).
# The count bounds the run; the time bound only stops a hung one, so it leaves room.
PROJECT_RUNS = 800
PROJECT_MAX_TIME_S = 4 * MAX_TIME_S


def _fuzz(work: Path, app: Path = APP_C) -> subprocess.CompletedProcess[str]:
    # The listen loop and the app agree on the window size through the define.
    return run_libfuzzer(
        [FUZZ_C, app, *OTHERS], [AUDIO, COMMON], SEEDS, work, defines=("TINYSLM_KWS_FRAMES=2",)
    )


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_kws_app(tmp_path: Path) -> None:
    runs = assert_no_finding(_fuzz(tmp_path / "real"))
    print(f"\nkeyword app fuzz: {runs} runs, no finding")


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_kws_app_with_the_projects_settings(tmp_path: Path) -> None:
    # No defines: the header defaults, which every generated project builds with.
    proc = run_libfuzzer(
        [FUZZ_C, APP_C, *OTHERS], [AUDIO, COMMON], PROJECT_SEEDS, tmp_path,
        runs=PROJECT_RUNS, max_time_s=PROJECT_MAX_TIME_S, max_len=len(_SECOND) + 512,
    )  # fmt: skip
    assert_no_finding(proc, PROJECT_RUNS)
    print(f"\nkeyword app fuzz, project settings: {PROJECT_RUNS} runs, no finding")


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_catches_a_planted_bound_error(tmp_path: Path) -> None:
    text = APP_C.read_text()
    needle = "app->command_len < sizeof(app->command)"
    assert text.count(needle) == 1
    planted = tmp_path / "tinyslm_kws_app.c"
    planted.write_text(text.replace(needle, "app->command_len <= sizeof(app->command)"))
    assert_finding(_fuzz(tmp_path / "planted", planted))
