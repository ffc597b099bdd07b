"""A bounded libFuzzer run of tests/fuzz/fuzz_audio_frames.c (ASan+UBSan) over the frame parser.

The target feeds arbitrary bytes to tinyslm_frame_parser_feed (chunked two ways,
then followed by zeros and a valid frame) and traps on any broken promise (see
the target's header comment); any sanitizer report, trap or crash fails this
test. A parser with a planted bound error (lengths up to 8 bytes too long
accepted) must be caught by the same run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from core_harness import SANITIZER_ENV

from tinyslm import ccompile
from tinyslm.audio.frames import FRAME_AUDIO, encode_frame, stream_bytes
from tinyslm.errors import ToolchainError

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
FRAMES_C = AUDIO / "tinyslm_audio_frames.c"
FUZZ_C = REPO / "tests" / "fuzz" / "fuzz_audio_frames.c"
# Bounded both ways: at most RUNS inputs or MAX_TIME_S seconds, whichever comes
# first. Under ASan+UBSan a run does 1,000 to 15,000 inputs/s depending on the
# machine's load (200,000 runs took 40 to 170 s on a loaded 2-core machine); a run
# that stops on time must still have tried MIN_RUNS inputs to count.
RUNS = 200_000
MAX_TIME_S = 30
MIN_RUNS = 10_000
_DONE = re.compile(r"Done (\d+) runs in \d+ second")
FLAGS = ("-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all")
SEEDS = (
    stream_bytes(np.arange(-300, 300, 7, dtype=np.int16), 16),
    b"\x07noise\xa5\xa5\x5a\x09" + encode_frame(FRAME_AUDIO, 3, b"\x01\x02") + b"\xa5\x5a",
    b"\xa5\x5a\x02\x00\x00\x02" + bytes(40),  # a header of the largest audio frame
)


def _clang(tmp_path: Path) -> str:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang not installed (CI installs it)")
    probe = tmp_path / "probe.c"
    probe.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n"
    )
    try:
        ccompile.compile_executable([probe], tmp_path / "probe", cflags=FLAGS, cc=[clang])
    except ToolchainError as exc:
        pytest.skip(f"clang cannot link libFuzzer here: {exc}")
    return clang


def _fuzz(clang: str, parser_c: Path, work: Path) -> subprocess.CompletedProcess[str]:
    work.mkdir()
    exe = ccompile.compile_executable(
        [FUZZ_C, parser_c],
        work / "fuzz_audio_frames",
        include_dirs=[AUDIO],
        cflags=["-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror", *FLAGS],
        cc=[clang],
    )
    corpus = work / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed{i}").write_bytes(seed)
    return subprocess.run(
        [
            str(exe),
            f"-runs={RUNS}",
            f"-max_total_time={MAX_TIME_S}",
            "-max_len=4096",
            "-seed=1",
            "-timeout=10",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        errors="replace",
        cwd=work,  # crash-* artifacts stay in the temp folder
        env={**os.environ, **SANITIZER_ENV},
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_frame_parser(tmp_path: Path) -> None:
    proc = _fuzz(_clang(tmp_path), FRAMES_C, tmp_path / "real")
    tail = proc.stderr[-4000:]
    assert proc.returncode == 0, tail
    done = _DONE.search(proc.stderr)
    assert done is not None, tail
    runs = int(done.group(1))
    assert MIN_RUNS <= runs <= RUNS, tail
    assert "ERROR" not in proc.stderr and "runtime error" not in proc.stderr, tail
    print(f"\naudio frame parser fuzz: {runs} runs, no finding")


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_catches_a_planted_bound_error(tmp_path: Path) -> None:
    text = FRAMES_C.read_text()
    assert text.count("len > TINYSLM_FRAME_MAX_PAYLOAD ||") == 1
    planted = tmp_path / "tinyslm_audio_frames.c"
    planted.write_text(text.replace("len > TINYSLM_FRAME_MAX_PAYLOAD ||", "len > 520 ||"))
    proc = _fuzz(_clang(tmp_path), planted, tmp_path / "planted")
    # a trap of the target, or a sanitizer report on the corrupted parser state
    found = ("deadly signal", "runtime error", "ERROR: AddressSanitizer")
    assert proc.returncode != 0 and any(f in proc.stderr for f in found), proc.stderr[-2000:]
