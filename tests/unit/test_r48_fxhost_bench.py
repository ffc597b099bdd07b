"""Round 48, fxhost: the Speech Commands benchmark's false-accept rows in train's and
eval's words (``fa_text``): a stream the rule could not fire on read ``n/a (n/a in 6 s)``,
a count of nothing over seconds it could not count in."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

STREAMS = {
    "stride_ms": 400, "average": 2, "threshold_q": 100, "threshold_found": True,
    "false_rejection_rate": 0.25, "keyword_clips": 4, "keyword_false_accepts": 1,
    "noise_fa_per_hour": 1.234, "noise_false_accepts": 0, "noise_seconds": 12.0,
    "unknown_fa_per_hour": 0.0, "unknown_false_accepts": 0, "unknown_seconds": 9.0,
}  # fmt: skip


def _stream_rows(streams: dict[str, Any]) -> dict[str, str]:
    """``stream_rows`` of benchmarks/speech_commands.py (loaded as the script is run)."""
    import sys

    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_r48", BENCHMARKS / "speech_commands.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return dict(module.stream_rows("small", streams))


def test_measured_rows_are_unchanged() -> None:
    rows = _stream_rows(STREAMS)
    assert rows["[small] streams: false accepts per hour"] == (
        "noise 1.2 (0 in 12 s) (target <= 1), unknown words 0.0 (0 in 9 s)"
    )
    assert rows["[small] streams: false rejections"] == (
        "25.0% of 4 keywords (1 false accepts among them) (target <= 10%)"
    )


def test_a_stream_that_cannot_fire_reads_as_train_and_eval_say_it() -> None:
    unfired = {
        **STREAMS, "noise_fa_per_hour": None, "noise_false_accepts": None,
        "false_rejection_rate": None, "keyword_false_accepts": None,
    }  # fmt: skip
    rows = _stream_rows(unfired)
    assert rows["[small] streams: false accepts per hour"] == (
        "noise n/a (12 s, each stream too short for the rule to fire) (target <= 1),"
        " unknown words 0.0 (0 in 9 s)"
    )
    assert "n/a in 12 s" not in rows["[small] streams: false accepts per hour"]
    assert rows["[small] streams: false rejections"].startswith(
        "n/a of 4 keywords (n/a false accepts among them)"
    )
