"""A bounded libFuzzer run of tests/fuzz/fuzz_audio_frames.c (ASan+UBSan) over the frame parser.

The target feeds arbitrary bytes to tinyslm_frame_parser_feed (chunked two ways,
then followed by zeros and a valid frame) and traps on any broken promise (see
the target's header comment); any sanitizer report, trap or crash fails this
test. A parser with a planted bound error (lengths up to 8 bytes too long
accepted) must be caught by the same run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from libfuzzer import assert_finding, assert_no_finding, run_libfuzzer

from tinyslm.audio.frames import FRAME_AUDIO, encode_frame, stream_bytes

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
FRAMES_C = AUDIO / "tinyslm_audio_frames.c"
FUZZ_C = REPO / "tests" / "fuzz" / "fuzz_audio_frames.c"
SEEDS = (
    stream_bytes(np.arange(-300, 300, 7, dtype=np.int16), 16),
    b"\x07noise\xa5\xa5\x5a\x09" + encode_frame(FRAME_AUDIO, 3, b"\x01\x02") + b"\xa5\x5a",
    b"\xa5\x5a\x02\x00\x00\x02" + bytes(40),  # a header of the largest audio frame
)


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_frame_parser(tmp_path: Path) -> None:
    proc = run_libfuzzer([FUZZ_C, FRAMES_C], [AUDIO], SEEDS, tmp_path / "real")
    runs = assert_no_finding(proc)
    print(f"\naudio frame parser fuzz: {runs} runs, no finding")


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_catches_a_planted_bound_error(tmp_path: Path) -> None:
    text = FRAMES_C.read_text()
    assert text.count("len > TINYSLM_FRAME_MAX_PAYLOAD ||") == 1
    planted = tmp_path / "tinyslm_audio_frames.c"
    planted.write_text(text.replace("len > TINYSLM_FRAME_MAX_PAYLOAD ||", "len > 520 ||"))
    proc = run_libfuzzer([FUZZ_C, planted], [AUDIO], SEEDS, tmp_path / "planted")
    # a trap of the target, or a sanitizer report on the corrupted parser state
    assert_finding(proc)
