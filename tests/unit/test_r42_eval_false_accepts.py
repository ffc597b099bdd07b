"""``tinyslm eval`` of a keyword model on data without keywords (round 42).

The field's first question about a keyword model is how often it fires on the room it
will sit in. Before, a folder of only ``_background_noise_`` recordings (an hour of the
user's kitchen) was refused ("no keyword folders with .wav files"), and one of only
``_unknown_`` clips too ("none of the model's keywords is in this dataset"): false
accepts could only be measured beside keywords. Now both are scored: noise streams for
false accepts per hour, unknown clips as clips and as the unknown-word stream. Data
whose words are all foreign to the model is still refused (the wrong dataset), with
where to put other words. Training keeps its rules.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.wav import write_wav
from tinyslm.cli import cli
from tinyslm.errors import DatasetError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

RATE = 16000


def _noise(path: Path, seconds: float, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_wav(path, (rng.normal(0, 2000, int(seconds * RATE))).clip(-32768, 32767))


def _tone_clips(folder: Path, n: int, base_hz: int = 300) -> None:
    """``n`` one-second clips of several speakers (a tone each: no real word); two
    folders need another ``base_hz`` each (one recording under two labels is refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(RATE) / RATE
    for i in range(n):
        samples = 8000 * np.sin(2 * np.pi * (base_hz + 40 * i) * t)
        write_wav(folder / f"spk{i:02d}_nohash_0.wav", samples)


def _eval(model: Path, data: Path, *args: str) -> tuple[int, str, dict | None]:
    result = CliRunner().invoke(cli, ["eval", str(model), str(data), *args, "--json", "-"])
    got = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, result.stderr, got


def test_background_audio_alone_gives_false_accepts_per_hour(tmp_path: Path) -> None:
    model = keyword_model_dir(tmp_path / "kw")
    data = tmp_path / "kitchen"
    _noise(data / "_background_noise_" / "a.wav", 12.0)
    _noise(data / "_background_noise_" / "b.wav", 8.0, seed=1)
    code, err, got = _eval(model, data, "--split", "all")
    assert code == 0, err
    assert got is not None
    assert got["clips"] == 0 and got["int8_accuracy"] is None and got["per_label"] == {}
    assert got["noise_seconds"] == 20.0
    assert isinstance(got["noise_false_accepts"], int)
    assert got["noise_fa_per_hour"] == round(got["noise_false_accepts"] * 3600 / 20.0, 2)
    assert got["false_rejection_rate"] is None and got["keyword_clips"] == 0
    assert not got["warnings"]
    got_all, n_all = got, got["noise_false_accepts"]
    # The default split streams each recording's last tenth, and says so.
    code, err, got = _eval(model, data)
    assert code == 0, err
    assert got is not None and got["noise_seconds"] == 2.0
    assert any("--split all streams all of it" in w for w in got["warnings"]), got["warnings"]
    # The table: no accuracy pretended, the false accepts shown.
    result = CliRunner().invoke(cli, ["eval", str(model), str(data), "--split", "all"])
    assert result.exit_code == 0, result.output
    assert "none (background audio only" in result.output
    assert "n/a, no keyword clips" in result.output
    noise_row = next(ln for ln in result.output.splitlines() if "false accepts per hour" in ln)
    assert noise_row.endswith(f"noise {got_all['noise_fa_per_hour']:.2f} ({n_all} in 20 s)")


def test_a_list_of_background_recordings_alone(tmp_path: Path) -> None:
    model = keyword_model_dir(tmp_path / "kw")
    _noise(tmp_path / "rec" / "room.wav", 5.0)
    listing = tmp_path / "rec" / "list.csv"
    listing.write_text("path,label\nroom.wav,_background_noise_\n", encoding="utf-8")
    code, err, got = _eval(model, listing, "--split", "all")
    assert code == 0, err
    assert got is not None and got["noise_seconds"] == 5.0 and got["clips"] == 0


def test_too_little_background_audio_in_the_split_is_refused(tmp_path: Path) -> None:
    """A 3 s recording's test tenth is under a second: no window to stream."""
    model = keyword_model_dir(tmp_path / "kw")
    data = tmp_path / "short"
    _noise(data / "_background_noise_" / "a.wav", 3.0)
    code, err, _ = _eval(model, data)
    assert code == 1
    # Background audio only: split in time (the speaker hint was beside the point).
    assert "split 'test' has under a window of background audio: each recording is split" in err
    assert "(0.30 s of the longest, under the 1.00 s window)" in err
    assert "--split all" in err
    assert _eval(model, data, "--split", "all")[0] == 0


def test_unknown_clips_alone_are_scored(tmp_path: Path) -> None:
    model = keyword_model_dir(tmp_path / "kw")
    data = tmp_path / "others"
    _tone_clips(data / "_unknown_", 6)
    code, err, got = _eval(model, data, "--split", "all")
    assert code == 0, err
    assert got is not None and got["clips"] == 6
    assert set(got["per_label"]) == {"_unknown_"}
    assert got["unknown_seconds"] > 6.0  # the clips in a row, with gaps
    assert got["keyword_clips"] == 0 and got["false_rejection_rate"] is None


def test_words_all_foreign_to_the_model_are_still_refused(tmp_path: Path) -> None:
    model = keyword_model_dir(tmp_path / "kw")
    data = tmp_path / "animals"
    _tone_clips(data / "cat", 3)
    _tone_clips(data / "dog", 3, base_hz=1300)
    code, err, _ = _eval(model, data, "--split", "all")
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"error: {data}: none of the model's keywords is in this dataset (its words: cat,"
        " dog); to measure false accepts on other words, put their clips in _unknown_/"
    )


def test_training_still_needs_keyword_folders(tmp_path: Path) -> None:
    data = tmp_path / "kitchen"
    _noise(data / "_background_noise_" / "a.wav", 3.0)
    with pytest.raises(DatasetError, match=r"no keyword folders with \.wav files"):
        load_audio_dataset(data, AudioDatasetConfig())
    listing = data / "list.csv"
    listing.write_text("path,label\n_background_noise_/a.wav,_background_noise_\n", "utf-8")
    with pytest.raises(DatasetError, match="no clips listed"):
        load_audio_dataset(listing, AudioDatasetConfig())


def test_trains_figures_beside_another_datasets_are_tagged_as_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: another dataset's test split read ``(train: ...)`` and
    ``trained_same_split: true``, as if like for like (text eval had the same flaw)."""
    from dataclasses import replace

    from kws import keyword_manifest

    # n_test 0: the folder renamed below has no clips, so it is the dataset train read (a
    # count other than the one scored is another dataset of that name, round 44).
    trained = {"dataset": "speech_commands_dev", "eval_split": "test", "n_test": 0}
    trained |= {"stream_split": "test", "int8_accuracy": 0.875, "noise_fa_per_hour": 0.0}
    trained |= {"noise_false_accepts": 0, "noise_seconds": 40.0}
    model = keyword_model_dir(tmp_path / "kw", replace(keyword_manifest(), metrics=trained))
    data = tmp_path / "kitchen"
    _noise(data / "_background_noise_" / "a.wav", 12.0)
    code, err, got = _eval(model, data, "--split", "all")
    assert code == 0, err
    assert got is not None
    assert got["trained_same_split"] is False and got["trained_same_dataset"] is False
    result = CliRunner().invoke(cli, ["eval", str(model), str(data), "--split", "all"])
    lines = result.output.splitlines()
    noise = next(ln for ln in lines if "false accepts per hour" in ln)
    assert noise.endswith("(train, speech_commands_dev test split: 0.00, 0 in 40 s)"), noise
    assert lines[-1].endswith(
        "speech_commands_dev, split test (not kitchen, the dataset scored here)"
    ), lines[-1]
    # The dataset train read, scored again: like for like, as before; also given as '.'
    # (whose name is '': it was called another dataset, "not , the dataset scored here").
    same = tmp_path / "speech_commands_dev"
    data.rename(same)
    code, err, got = _eval(model, same, "--split", "test")
    assert code == 0, err
    assert got is not None and got["trained_same_dataset"] is True
    assert got["trained_same_split"] is True
    monkeypatch.chdir(same)
    code, err, got = _eval(model, Path("."), "--split", "test")
    assert code == 0, err
    assert got is not None and got["trained_same_dataset"] is True
