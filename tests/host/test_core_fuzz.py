"""A bounded libFuzzer run of tests/fuzz/fuzz_line.c (ASan+UBSan) over the core.

The target feeds arbitrary bytes to tinyslm_app_feed and tinyslm_tokenize and
traps on any broken promise (see the target's header comment); any sanitizer
report, trap or crash fails this test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from core_harness import CORE_C, FIRMWARE, FUZZ_C, SANITIZER_ENV

from tinyslm import ccompile
from tinyslm.errors import ToolchainError

# Bounded both ways: at most RUNS inputs or MAX_TIME_S seconds, whichever comes
# first. Under ASan+UBSan a run does 1,000 to 15,000 inputs/s depending on the
# machine's load (200,000 runs took 40 to 170 s on a loaded 2-core machine); a run
# that stops on time must still have tried MIN_RUNS inputs to count.
RUNS = 200_000
MAX_TIME_S = 30
MIN_RUNS = 10_000
_DONE = re.compile(r"Done (\d+) runs in \d+ second")
SEEDS = (
    b"\x20\x40\x07\x0dturn on the lights\n:info\n:x\r\n",
    b"\x00\xff\x0f\x80" + "caf\u00e9 \U0001f600 \u4e2d".encode() + b"\n\xff\xfe\xc0\xaf\n",
    b"\x10\x08\x3f\x00" + b"a" * 300 + b"\r\nb\n",
)


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_feed_and_tokenize(tmp_path: Path) -> None:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang not installed (CI installs it)")
    probe = tmp_path / "probe.c"
    probe.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n"
    )
    flags = ["-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all"]
    try:
        ccompile.compile_executable([probe], tmp_path / "probe", cflags=flags, cc=[clang])
    except ToolchainError as exc:
        pytest.skip(f"clang cannot link libFuzzer here: {exc}")

    exe = ccompile.compile_executable(
        [FUZZ_C, CORE_C],
        tmp_path / "fuzz_line",
        include_dirs=[FIRMWARE],
        cflags=["-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror", *flags],
        cc=[clang],
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed{i}").write_bytes(seed)
    proc = subprocess.run(
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
        cwd=tmp_path,  # crash-* artifacts stay in the temp folder
        env={**os.environ, **SANITIZER_ENV},
        timeout=300,
        check=False,
    )
    tail = proc.stderr[-4000:]
    assert proc.returncode == 0, tail
    done = _DONE.search(proc.stderr)
    assert done is not None, tail
    runs = int(done.group(1))
    assert MIN_RUNS <= runs <= RUNS, tail
    assert "ERROR" not in proc.stderr and "runtime error" not in proc.stderr, tail
    print(f"\nfuzz: {runs} runs, no finding")
