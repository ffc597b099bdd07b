"""The text benchmarks write JSON only where ``--json`` says, never over tracked files.

``benchmarks/results/*.json`` are committed figures; a plain benchmark run used to
overwrite ``clinc150.json`` (and ``emulate_parity.json``) in the working tree.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tinyslm.text.dataset import demo_dataset_path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULTS = BENCHMARKS / "results"
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "1"]


def _load(name: str) -> Any:
    # emulate_parity imports clinc150 as a sibling module, as when run as a script.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _snapshot() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(RESULTS.glob("*.json"))}


@pytest.mark.parametrize("name", ["clinc150", "emulate_parity"])
def test_no_json_unless_asked(name: str) -> None:
    assert _load(name).parse_args([]).json is None


def test_clinc150_benchmark_writes_only_the_given_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _load("clinc150")
    monkeypatch.chdir(tmp_path)
    before = _snapshot()
    data = ["--data", str(demo_dataset_path()), *TINY, "--quiet"]
    assert bench.main(data) == 0
    assert _snapshot() == before and list(tmp_path.iterdir()) == []
    out = tmp_path / "figures" / "clinc.json"
    assert bench.main([*data, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["n_train"] == 920 and figures["config"]["dim"] == 8
    assert _snapshot() == before
