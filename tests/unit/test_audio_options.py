"""tinyslm.audio.options: the --stride-ms rule that train and the keyword benchmark share."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tinyslm.audio.options import FRAME_MS, stride_frames_of

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "speech_commands.py"


def test_stride_ms_is_a_whole_number_of_front_end_frames() -> None:
    assert FRAME_MS == 20
    assert stride_frames_of(20) == 1 and stride_frames_of(400) == 20
    assert stride_frames_of(980) == 49  # the 49 frames of the 1 s window
    for bad in (30, 410, 970):
        with pytest.raises(ValueError, match=rf"--stride-ms {bad}: not a multiple"):
            stride_frames_of(bad)
    for bad in (0, -20, 10):
        with pytest.raises(ValueError, match=rf"--stride-ms {bad}: must be 20 to 980 ms$"):
            stride_frames_of(bad)


def test_a_stride_longer_than_the_window_is_refused() -> None:
    """Above 980 ms (49 frames) no window holds part of the audio between two inferences:
    --stride-ms 1200 was accepted and train said a keyword "up to 0.00 s" lies whole."""
    for bad in (1000, 1200, 5100, 5120):
        with pytest.raises(ValueError) as info:
            stride_frames_of(bad)
        assert str(info.value) == (
            f"--stride-ms {bad}: above the 980 ms that the model's 1 s window spans (49 frames"
            " of 20 ms), the device would never hear part of the audio between two inferences;"
            " give 20 to 980 ms"
        )


def _benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("speech_commands_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_benchmark_takes_the_same_rule(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _benchmark()
    args = bench.parse_args(["--stride-ms", "200", "--sizes", "small, default"])
    assert args.stride_frames == 10 and args.size_list == ["small", "default"]
    assert bench.train_config(args, "small").stride_frames == 10
    # Off by default, as the recipe; --tilt and --reverb turn the channel augmentation on.
    assert bench.train_config(args, "small").tilt_probability == 0.0
    roomy = bench.train_config(bench.parse_args(["--tilt", "0.5", "--reverb", "0.3"]), "default")
    assert (roomy.tilt_probability, roomy.reverb_probability) == (0.5, 0.3)
    # --sizes '' with --synthetic: the synthetic-only model alone (the committed run).
    assert bench.parse_args(["--sizes", "", "--synthetic"]).size_list == []
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--stride-ms", "30"])
    assert exc.value.code == 2
    assert (
        "--stride-ms 30: not a multiple of the front end's 20 ms frame" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--stride-ms", "6000"], "--stride-ms 6000: above the 980 ms that the model's 1 s"),
        (["--average", "0"], "average must be in 1..16, got 0"),
        (["--sizes", "huge"], "unknown model size 'huge' (known: small, default, large)"),
        (["--sizes", ","], "--sizes ',': no model size"),
        (["--epochs", "0", "--synthetic", "--sizes", "small"], "epochs must be >= 1, got 0"),
        (["--synth-train", "-1"], "--synth-train -1: voices per engine must be >= 0"),
        (["--reverb", "1.5"], "reverb_probability must be in 0..1, got 1.5"),
    ],
)
def test_the_benchmark_refuses_bad_settings_before_any_work(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _benchmark()
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    # One error line naming the problem (argparse's usage block no longer comes first).
    assert len(err) == 1 and "error:" in err[0], err
    assert line in err[0], err


def test_the_benchmarks_synthetic_voices_join_training_only(tmp_path: Path) -> None:
    """--synth-train: TTS clips of the keywords in the training split, as --extra-train."""
    from shared_paths import dataset_path, require_path, require_tool

    from tinyslm.audio.dataset import load_audio_dataset

    require_tool("espeak-ng", "flite", "festival")
    real = load_audio_dataset(require_path(dataset_path("speech_commands_dev"), "the dataset"))
    bench = _benchmark()
    mixed, info = bench.with_synthetic_keywords(
        real, bench.parse_args(["--synth-train", "1"]), tmp_path
    )
    added = mixed.clips[len(real.clips) :]
    # One voice per engine, two clips of each of the 7 keywords, no unknown words.
    assert info["speakers"] == 3 and info["clips"] == len(added) == 3 * 2 * 7
    assert {c.split for c in added} == {"train"} and "_unknown_" not in {c.label for c in added}
    for split in ("val", "test"):
        assert mixed.split(split) == real.split(split)
