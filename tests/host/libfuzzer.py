"""Bounded libFuzzer runs (ASan+UBSan) of a C99 target, shared by the fuzz tests.

Bounded both ways: at most RUNS inputs or MAX_TIME_S seconds, whichever comes
first. Under ASan+UBSan a run does 1,000 to 15,000 inputs/s depending on the
machine's load (200,000 runs took 40 to 170 s on a loaded 2-core machine); a run
that stops on time must still have tried MIN_RUNS inputs to count.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from core_harness import SANITIZER_ENV
from shared_paths import missing

from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

RUNS = 200_000
MAX_TIME_S = 30
# libFuzzer's own out-of-memory bound (its default), on top of the peak the fuzzer starts
# with: Linux carries a process's peak resident size across fork and exec into
# getrusage, so a fuzzer started by a pytest worker grown to 2 GB (TensorFlow) read
# "rss: 2059Mb" from its first input and stopped as out of memory.
RSS_LIMIT_MB = 2048
MIN_RUNS = 10_000
FLAGS = ("-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all")
_DONE = re.compile(r"Done (\d+) runs in \d+ second")


def libfuzzer_clang(work: Path) -> str:
    """clang, once it has linked a libFuzzer probe (else skip, or fail in CI)."""
    clang = shutil.which("clang")
    if clang is None:
        missing("clang is not on PATH (libFuzzer)")
    probe = work / "probe.c"
    probe.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n"
    )
    try:
        ccompile.compile_executable([probe], work / "probe", cflags=FLAGS, cc=[clang])
    except ToolchainError as exc:
        missing(f"clang cannot link libFuzzer here: {exc}")
    return clang


def run_libfuzzer(
    sources: Sequence[Path],
    include_dirs: Sequence[Path],
    seeds: Sequence[bytes],
    work: Path,
    *,
    defines: Sequence[str] = (),
    runs: int = RUNS,
    max_time_s: int = MAX_TIME_S,
    max_len: int = 4096,
) -> subprocess.CompletedProcess[str]:
    """Build the target into ``work`` and fuzz it from ``seeds`` (artifacts stay in ``work``)."""
    work.mkdir(parents=True, exist_ok=True)
    clang = libfuzzer_clang(work)
    exe = ccompile.compile_executable(
        list(sources),
        work / "fuzzer",
        include_dirs=list(include_dirs),
        defines=list(defines),
        cflags=["-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror", *FLAGS],
        cc=[clang],
    )
    corpus = work / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(seed)
    return subprocess.run(
        [
            str(exe),
            f"-runs={runs}",
            f"-max_total_time={max_time_s}",
            f"-max_len={max_len}",
            "-seed=1",
            "-timeout=10",
            f"-rss_limit_mb={RSS_LIMIT_MB + _peak_rss_mb()}",
            # A single allocation past the bound is still one (its default is the rss bound).
            f"-malloc_limit_mb={RSS_LIMIT_MB}",
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


def _peak_rss_mb() -> int:
    """This process's peak resident size in MB, which a child it starts inherits as its
    own (Linux's getrusage reports ru_maxrss in KB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + 1


def assert_no_finding(proc: subprocess.CompletedProcess[str], runs: int | None = None) -> int:
    """The run ended cleanly after enough inputs (exactly ``runs`` where given, for a run
    bounded by its count alone); returns how many it tried."""
    tail = proc.stderr[-4000:]
    assert proc.returncode == 0, tail
    done = _DONE.search(proc.stderr)
    assert done is not None, tail
    tried = int(done.group(1))
    if runs is None:
        assert MIN_RUNS <= tried <= RUNS, tail
    else:
        assert tried == runs, tail
    assert "ERROR" not in proc.stderr and "runtime error" not in proc.stderr, tail
    return tried


def assert_finding(proc: subprocess.CompletedProcess[str]) -> None:
    """The run stopped on a finding (a planted bug must be caught)."""
    found = ("deadly signal", "runtime error", "ERROR: AddressSanitizer")
    assert proc.returncode != 0 and any(f in proc.stderr for f in found), proc.stderr[-2000:]
