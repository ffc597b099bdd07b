"""Line coverage of firmware/tinyslm_core.c under the host protocol cases (gcov).

Builds tests/host/core_driver.c with --coverage, runs every protocol case, the
defensive self-test and the tokenizer over all FeatureSpec variants, then reads
gcov's JSON for tinyslm_core.c. Run with ``pytest -s`` to see the figure.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from core_harness import CORE_C, PROTOCOL_CASES, SPEC_VARIANTS, build_driver, random_text
from shared_paths import missing

COVERAGE_FLOOR = 97.0  # percent of executable lines


@pytest.mark.slow
@pytest.mark.toolchain
def test_core_line_coverage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gcc, gcov = shutil.which("gcc"), shutil.which("gcov")
    if gcc is None or gcov is None:
        missing("gcc and gcov are needed for coverage")
    monkeypatch.setenv("CC", gcc)  # gcov reads gcc's notes format
    drv = build_driver(tmp_path, "coverage")
    for case in PROTOCOL_CASES.values():
        case(drv)
    assert drv.run(["selftest"], b"") == b"selftest ok\n"
    rng = random.Random(3)
    texts = [random_text(rng) for _ in range(300)]
    for spec in SPEC_VARIANTS:
        drv.tokenize_batch(texts, spec)

    proc = subprocess.run(
        [gcov, "--json-format", "--stdout", "-o", str(tmp_path / "obj"), str(CORE_C)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    report = json.loads(proc.stdout.splitlines()[0])
    (entry,) = [f for f in report["files"] if Path(f["file"]).name == CORE_C.name]
    lines = entry["lines"]
    missed = sorted(ln["line_number"] for ln in lines if ln["count"] == 0)
    percent = 100.0 * (len(lines) - len(missed)) / len(lines)
    print(f"\ntinyslm_core.c line coverage: {percent:.1f}% of {len(lines)} lines; missed {missed}")
    assert percent >= COVERAGE_FLOOR, f"missed lines {missed}"
