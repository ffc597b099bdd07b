"""Round 45, item 12: a benchmark's refusal of a setting names the option the user typed
and its range, as ``tinyslm train``'s does ("invalid training setting(s): epochs" and
"tilt_probability must be in 0..1" named neither the option nor, the first, the range)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tinyslm.text.dataset import demo_dataset_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_r42_benchmarks import _refused


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "invalid value for --epochs: 0 is not in the range 1<=x<=100000."),
        (
            ["--learning-rate", "-1"],
            "invalid value for --learning-rate: -1.0 is not in the range 0<x<=10.",
        ),
        (
            ["--buckets", "1"],
            "invalid value for --buckets: 1 is not in the range 2<=x<=2147483647.",
        ),
        (
            ["--distill", "--distill-alpha", "2"],
            "invalid value for --distill-alpha: 2.0 is not in the range 0<x<=1.",
        ),
    ],
)
def test_clinc150_refusal_names_the_option_and_its_range(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _refused("clinc150", ["--data", str(demo_dataset_path()), *argv], capsys)
    assert line.endswith(f"error: {message}"), line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tilt", "2"], "--tilt: tilt_probability must be in 0..1, got 2.0"),
        (["--freq-warp", "0.5"], "--freq-warp: freq_warp must be in 0..0.3, got 0.5"),
        (["--augment-copies", "-1"], "--augment-copies: augment_copies must be >= 0, got -1"),
        (["--sizes", "huge"], "--sizes: unknown model size 'huge'"),
    ],
)
def test_speech_commands_refusal_names_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"error: {message}" in _refused("speech_commands", argv, capsys)
