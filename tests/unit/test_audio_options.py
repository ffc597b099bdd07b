"""tinyslm.audio.options: the --stride-ms rule that train and the keyword benchmark share."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tinyslm.audio.options import FRAME_MS, stride_frames_of

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "speech_commands.py"


def test_stride_ms_is_a_whole_number_of_front_end_frames() -> None:
    assert FRAME_MS == 20
    assert stride_frames_of(20) == 1 and stride_frames_of(400) == 20
    for bad in (0, -20, 10, 30, 410):
        with pytest.raises(ValueError, match=rf"--stride-ms {bad}: not a multiple"):
            stride_frames_of(bad)


def test_the_benchmark_takes_the_same_rule(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("speech_commands_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_args(["--stride-ms", "200"]).stride_frames == 10
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--stride-ms", "30"])
    assert exc.value.code == 2
    assert (
        "--stride-ms 30: not a multiple of the front end's 20 ms frame" in capsys.readouterr().err
    )
