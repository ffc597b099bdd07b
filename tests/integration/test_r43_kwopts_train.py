"""``tinyslm train`` refuses, before the first epoch, a streaming rule that no validation
stream is long enough to fire on (kwopts report, defect 1): it calibrated threshold 0.000
and printed "0.00 false accepts per hour" on streams where the detector could not fire."""

from __future__ import annotations

import os
from pathlib import Path

from cli_support import assert_one_error_line, run_cli
from shared_paths import dataset_path, require_path


def yes_no_slice(data: Path) -> Path:
    """14 clips each of yes and no, and two background recordings, as symlinks: val
    streams of at most 11.5 s, test streams of at most 6.5 s."""
    root = require_path(dataset_path("speech_commands_dev"), "speech_commands_dev")
    for label in ("yes", "no"):
        (data / label).mkdir(parents=True)
        for wav in sorted((root / label).glob("*.wav"))[:14]:
            os.symlink(wav, data / label / wav.name)
    (data / "_background_noise_").mkdir()
    for name in ("white_noise.wav", "running_tap.wav"):
        os.symlink(root / "_background_noise_" / name, data / "_background_noise_" / name)
    return data


def test_a_rule_the_val_streams_cannot_fire_on_is_refused_before_training(
    tmp_path: Path,
) -> None:
    data = yes_no_slice(tmp_path / "ds")
    out = tmp_path / "m"
    args = ("train", str(data), "-o", str(out), "--keyword-model", "small", "--epochs", "1")
    proc = run_cli(*args, "--stride-ms", "980", "--average", "16")
    assert_one_error_line(
        proc,
        "--stride-ms 980 x --average 16: the first detection needs 15.69 s of audio, but the"
        " longest validation stream of ds is 11.50 s",
    )
    assert "lower --average to 11 or less (at --stride-ms 980)" in proc.stderr
    assert "--stride-ms to 700 or less (at --average 16)" in proc.stderr
    assert "epoch" not in proc.stdout.lower() and not out.exists()
