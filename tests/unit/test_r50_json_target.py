"""A --json file may sit at the top of a keyword dataset folder, where the loader reads
nothing (synth.json lies there), but not in its folders nor as a .wav name beside them."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from tinyslm.cli import check_json_target


def _dataset(root: Path) -> Path:
    for sub in ("yes", "no", "_background_noise_"):
        (root / sub).mkdir(parents=True)
    return root


def test_the_top_of_a_dataset_folder_takes_a_json_file(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    check_json_target(data / "eval.json", (data,))  # no error: the loader reads no such file


@pytest.mark.parametrize("name", ["_background_noise_/f.wav", "yes/eval.json", "f.wav", "F.WAV"])
def test_a_json_file_that_would_join_the_dataset_is_refused(tmp_path: Path, name: str) -> None:
    data = _dataset(tmp_path / "data")
    with pytest.raises(click.UsageError, match="would join the dataset"):
        check_json_target(data / name, (data,))
