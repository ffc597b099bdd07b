"""A bounded libFuzzer run of tests/fuzz/fuzz_line.c (ASan+UBSan) over the C core
(firmware/common/ JSON writer and gate, firmware/text/ tokenizer and line protocol).

The target feeds arbitrary bytes to tinyslm_app_feed and tinyslm_tokenize and
traps on any broken promise (see the target's header comment); any sanitizer
report, trap or crash fails this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from core_harness import CORE_SOURCES, FUZZ_C, INCLUDE_DIRS
from libfuzzer import assert_no_finding, run_libfuzzer

SEEDS = (
    b"\x20\x40\x07\x0dturn on the lights\n:info\n:x\r\n",
    b"\x00\xff\x0f\x80" + "caf\u00e9 \U0001f600 \u4e2d".encode() + b"\n\xff\xfe\xc0\xaf\n",
    b"\x10\x08\x3f\x00" + b"a" * 300 + b"\r\nb\n",
    b'\x00\x00\x00\x00:do lights_on\n:do caf\xc3\xa9\r:do \n:do lights_onx\n:do say "hi"\n',
)


@pytest.mark.slow
@pytest.mark.toolchain
def test_fuzz_feed_and_tokenize(tmp_path: Path) -> None:
    proc = run_libfuzzer([FUZZ_C, *CORE_SOURCES], INCLUDE_DIRS, SEEDS, tmp_path)
    runs = assert_no_finding(proc)
    print(f"\nfuzz: {runs} runs, no finding")
