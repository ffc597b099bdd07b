"""Line coverage of the text firmware's C core under the host cases (gcov).

Builds tests/host/core_driver.c with --coverage, replays every protocol case
(test_core_protocol.py), the defensive self-test and the tokenizer over all
FeatureSpec variants (test_core_tokenizer.py), then reads gcov's JSON for each C
file of the core: firmware/common/tinyslm_json.c and tinyslm_gate.c,
firmware/text/tinyslm_tokenizer.c and tinyslm_core.c. Every executable line of
every one of them must run. Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from core_harness import CORE_SOURCES, build_driver
from shared_paths import missing
from test_core_protocol import PROTOCOL_CASES
from test_core_tokenizer import SPEC_VARIANTS, random_text

COVERAGE_FLOOR = 100.0  # percent of executable lines, in each file


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
        [gcov, "--json-format", "--stdout", "-o", str(tmp_path / "obj"), *map(str, CORE_SOURCES)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    entries: dict[str, list[dict[str, int]]] = {}
    for line in proc.stdout.splitlines():
        for entry in json.loads(line)["files"]:
            entries.setdefault(Path(entry["file"]).name, []).extend(entry["lines"])
    assert sorted(entries.keys() & {p.name for p in CORE_SOURCES}) == sorted(
        p.name for p in CORE_SOURCES
    ), f"gcov reported {sorted(entries)}"
    total = hit = 0
    short = []
    for source in CORE_SOURCES:
        lines = entries[source.name]
        missed = sorted(ln["line_number"] for ln in lines if ln["count"] == 0)
        percent = 100.0 * (len(lines) - len(missed)) / len(lines)
        total += len(lines)
        hit += len(lines) - len(missed)
        print(
            f"\n{source.name} line coverage: {percent:.1f}% of {len(lines)} lines; missed {missed}"
        )
        if percent < COVERAGE_FLOOR:
            short.append(f"{source.name}: missed lines {missed}")
    print(f"C core line coverage: {100.0 * hit / total:.1f}% of {total} lines")
    assert not short, "; ".join(short)
