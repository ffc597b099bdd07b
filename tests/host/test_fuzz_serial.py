"""Seeded libFuzzer runs (ASan+UBSan) of the serial-facing C, bytes arriving in any chunks.

Three targets in tests/fuzz/ (each one's header says what it checks):

- ``fuzz_serial_text.c``: the text core's line input (tinyslm_core.c feed, line and
  ``:`` commands, tokenizer, gate, JSON writer) in chunks of 0..N bytes cut by a
  PRNG the input seeds, then byte by byte (same output), then with receive
  overflows and direct lines between the chunks; every output line strict JSON.
- ``fuzz_serial_kws.c``: the keyword app's bytes (frames, CRC, commands, resync) the
  same way, with microphone batches between the chunks and a short stream timeout so
  the microphone can close a stream half way through a frame; and again (``kws_project``)
  with the header defaults that generated projects build with (49 frames, a 2 s
  timeout, 32-byte commands), from a one-second stream that reaches the model, with
  and without its END, for fewer inputs and under 30 s.
- ``fuzz_serial_dsp.c``: the front end on any PCM (full-scale square waves
  included) and the detector on any configuration and score stream.

Each run is fixed: ``-seed=1`` and exactly RUNS inputs from the seeds below (a
phrase line, ``:info``, ``:do``, a START/AUDIO/END stream from the repo's own
frame encoder), so a finding reproduces. tests/fuzz/ holds the longer, time-bounded
runs of the same code (test_core_fuzz.py, test_kws_app_fuzz.py,
test_audio_frames_fuzz.py). A missing clang or libFuzzer skips, or fails where
TINYSLM_REQUIRE_TOOLCHAIN is set (libfuzzer.libfuzzer_clang); a text core with a
planted off-by-one in its line buffer must be caught by the same run.
"""

from __future__ import annotations

import dataclasses
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from libfuzzer import assert_finding, assert_no_finding, run_libfuzzer

from tinyslm.audio.frames import FRAME_AUDIO, FRAME_END, FRAME_START, encode_frame, stream_bytes

pytestmark = [pytest.mark.slow, pytest.mark.toolchain]

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "fuzz"
COMMON = REPO / "firmware" / "common"
TEXT = REPO / "firmware" / "text"
AUDIO = REPO / "firmware" / "audio"
CORE_C = TEXT / "tinyslm_core.c"

# Text seeds: 4 configuration bytes (see the target), then the serial bytes.
TEXT_SEEDS = (
    b"\x03\x10\x07\x01turn on the lights\n:info\n:do lights_on\n",
    b"\x02\x40\x0f\x21:do caf\xc3\xa9\r\n \t\nx\xe2\x80\xa8y\r:do nope\n:x\n",
    b"\x01\x2b\x47\x00" + b"a" * 400 + b"\nb\n",  # longer than any line limit
    b"\x00\x01\x80\x33\xff\xfe\xc0\xaf\x00\x1b[A\n" + "caf\u00e9 \U0001f600".encode() + b"\n",
)


def _kws_seeds() -> tuple[bytes, ...]:
    # 3 configuration bytes (the first ones: the lowest threshold, window 1, stride 1;
    # then window 2, its own levels), then frames from tinyslm.audio.frames (the host's
    # encoder): 1000 samples are 3 front-end frames, so 2 inferences and detections.
    tone = (np.sin(np.arange(1000) / 3) * 20000).astype(np.int16)
    chirp = (np.sin(np.arange(1000) ** 2 / 4000) * 32000).astype(np.int16)
    loud = np.where(np.arange(256) % 32 < 16, 32767, -32768).astype("<i2").tobytes()
    return (
        b"\x80\x00\x00" + stream_bytes(tone, 250),
        b"\x05\x05\x85" + stream_bytes(chirp, 250),
        b"\x00\x80\x00:info\r\n:nope\n\n:" + b"y" * 20 + b"\n",
        b"\x20\x42\x81"
        + encode_frame(FRAME_START, 0)
        + encode_frame(FRAME_AUDIO, 7, loud[:400])
        + b":info\n\xa5\x5a\x02"
        + encode_frame(FRAME_END, 9),
    )


def _dsp_seeds() -> tuple[bytes, ...]:
    square = bytes([0x02]) + bytes([0xFF, 0x00, 0xAA, 0x55, 0x0F, 0xF0]) * 120
    pcm = bytes([0x00]) + (np.sin(np.arange(900) / 5) * 32767).astype("<i2").tobytes()
    scores = b"\x07\x80\x80\x7f\x10\x20" * 12
    detector = b"\x01\x05\x03\x40\x10\x02\x03\x00" + scores
    return square, pcm, detector


@dataclass(frozen=True)
class Target:
    harness: str
    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    runs: int
    max_len: int
    defines: tuple[str, ...] = field(default=())
    max_time_s: int = 120


TEXT_SOURCES = (TEXT / "tinyslm_tokenizer.c", COMMON / "tinyslm_json.c", COMMON / "tinyslm_gate.c")
KWS_SOURCES = tuple(
    AUDIO / f"{n}.c"
    for n in ("tinyslm_kws_app", "tinyslm_listen", "tinyslm_audio_frontend",
              "tinyslm_kws_detector", "tinyslm_audio_frames")
)  # fmt: skip
TARGETS = {
    "text": Target(
        "fuzz_serial_text.c", (CORE_C, *TEXT_SOURCES), (COMMON, TEXT), runs=8000, max_len=2048
    ),
    "kws": Target(
        "fuzz_serial_kws.c",
        (*KWS_SOURCES, COMMON / "tinyslm_json.c"),
        (COMMON, AUDIO),
        runs=800,
        max_len=3072,
        defines=(
            "TINYSLM_KWS_FRAMES=2",
            "TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES=600u",
            "TINYSLM_KWS_MAX_COMMAND=8",
        ),
    ),
    "dsp": Target(
        "fuzz_serial_dsp.c",
        (AUDIO / "tinyslm_audio_frontend.c", AUDIO / "tinyslm_kws_detector.c"),
        (AUDIO,),
        runs=5000,
        max_len=2048,
    ),
}
# One second of audio (49 frames need 15,840 samples), 32,523 bytes with the
# configuration bytes: under the target's input cap for 49 frames (35,032).
_SECOND = b"\x80\xc0\x00" + stream_bytes((np.sin(np.arange(16000) / 3) * 20000).astype(np.int16))
TARGETS["kws_project"] = dataclasses.replace(
    TARGETS["kws"],
    # Each long input runs the front end ~150 times in each of three passes: ~8
    # inputs a second on a loaded 2-core machine, so 120 end inside the bound.
    runs=120,
    max_len=len(_SECOND) + 512,
    defines=(),  # the header defaults: no board passes TINYSLM_* flags
    max_time_s=30,
)
SEEDS = {
    "text": TEXT_SEEDS,
    "kws": _kws_seeds(),
    "kws_project": (*_kws_seeds(), _SECOND, _SECOND[:-8]),  # with and without its END
    "dsp": _dsp_seeds(),
}


def fuzz(
    name: str, work: Path, replace: dict[Path, Path] | None = None
) -> subprocess.CompletedProcess[str]:
    """Build target ``name`` (sources swapped per ``replace``) in ``work`` and run it:
    exactly ``runs`` inputs (a stalled machine fails on the run count, not on time)."""
    target = TARGETS[name]
    sources = [HERE / target.harness, *((replace or {}).get(s, s) for s in target.sources)]
    return run_libfuzzer(
        sources,
        [HERE, *target.include_dirs],
        SEEDS[name],
        work,
        defines=target.defines,
        runs=target.runs,
        max_time_s=target.max_time_s,
        max_len=target.max_len,
    )


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_serial_fuzz_target_is_clean(name: str, tmp_path: Path) -> None:
    assert_no_finding(fuzz(name, tmp_path), TARGETS[name].runs)


def test_a_planted_line_buffer_overrun_is_caught(tmp_path: Path) -> None:
    # One byte past line_cap (the target's guard bytes, or ASan) on the long seed line.
    text = CORE_C.read_text()
    needle = "app->line_len < app->cfg.line_cap"
    assert text.count(needle) == 1
    planted = tmp_path / "tinyslm_core.c"
    planted.write_text(text.replace(needle, "app->line_len <= app->cfg.line_cap"))
    assert_finding(fuzz("text", tmp_path / "run", {CORE_C: planted}))
