"""One recording twice in a keyword dataset: under two labels refused, across splits said."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder, refused, tone

from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset, which_set
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError


def test_a_clip_copied_into_another_label_is_refused(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    shutil.copyfile(root / "yes" / "spk03_nohash_0.wav", root / "no" / "zz9_nohash_0.wav")
    assert refused(root) == (
        f"{root}: no/zz9_nohash_0.wav (no) and yes/spk03_nohash_0.wav (yes) are the same"
        " recording under two labels: keep the one that is right"
    )


def test_a_list_with_one_recording_under_two_labels_is_refused(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    shutil.copyfile(root / "yes" / "spk05_nohash_0.wav", root / "copy.wav")
    rows = ["path,label"] + [
        f"{p.relative_to(root).as_posix()},{p.parent.name}" for p in sorted(root.glob("*/*.wav"))
    ]
    (root / "list.csv").write_text("\n".join([*rows, "copy.wav,no"]) + "\n")
    msg = refused(root / "list.csv")
    assert "yes/spk05_nohash_0.wav (yes) and copy.wav (no) are the same recording" in msg, msg


def test_eval_refuses_it_too(tmp_path: Path) -> None:
    # Scoring such data counts one of the two wrong whatever the model says.
    root = tmp_path / "one"
    for k, label in enumerate(("yes", "no")):
        (root / label).mkdir(parents=True)
        write_wav(root / label / "spk00_nohash_0.wav", tone(seed=k))
    shutil.copyfile(root / "yes" / "spk00_nohash_0.wav", root / "no" / "spk00_nohash_1.wav")
    config = AudioDatasetConfig(window_samples=CFG.window_samples, training_rules=False)
    assert "are the same recording under two labels" in refused(root, config)


def test_silent_clips_under_two_labels_are_not_one_recording(tmp_path: Path) -> None:
    # Digital silence padded to the window is every silent take: not a copy.
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    for label in ("yes", "no"):
        write_wav(root / label / "quiet_nohash_0.wav", np.zeros(800, np.int16))
    assert load_audio_dataset(root, CFG).labels == ("no", "yes")


def _name_in(split: str, label: str, start: int) -> str:
    """A speakerless clip name the seeded (seed 0) file hash puts in ``split``."""
    for i in range(start, start + 2000):
        name = f"take {i}.wav"
        if which_set(f"0:{label}/{name}", 10, 10) == split:
            return name
    raise AssertionError(f"no name for {split}")


def test_a_held_out_copy_of_a_training_clip_is_said_per_split(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for k, label in enumerate(("on", "off")):
        (root / label).mkdir(parents=True)
        for i in range(40):
            write_wav(root / label / f"take {i}.wav", tone(seed=100 * k + i))
    clean = load_audio_dataset(root, CFG)
    assert not any("copies of training clips" in w for w in clean.warnings), clean.warnings
    trained = next(c for c in clean.clips if c.label == "on" and c.split == "train")
    copy = _name_in("test", "on", 1000)
    shutil.copyfile(root / trained.source, root / "on" / copy)
    also_train = _name_in("train", "on", 1000)  # a copy on the same side is no leak
    shutil.copyfile(root / trained.source, root / "on" / also_train)
    data = load_audio_dataset(root, CFG)
    note = (
        f"1 test clip(s) are copies of training clips (first: on/{copy} = {trained.source});"
        " the test figures will be optimistic: remove the copies"
    )
    assert note in data.warnings
    assert data.warnings_for("test") == (note,)
    # No leak, but one recording twice in training: said since round 49.
    assert data.warnings_for("train") == (
        f"1 train clip(s) are copies of other train clips (first: on/{also_train} ="
        f" {trained.source}); training weighs such a recording once per copy: remove the"
        " copies",
    )
    assert data.warnings_for("val") == ()


def test_an_extra_training_copy_under_another_label_is_refused(tmp_path: Path) -> None:
    from tinyslm.audio.dataset import load_training_clips

    real = make_folder(tmp_path / "real", {"yes": SPEAKERS, "no": SPEAKERS})
    data = load_audio_dataset(real, CFG)
    trained = next(c for c in data.clips if c.label == "yes" and c.split == "train")
    extra = tmp_path / "more"
    for k, label in enumerate(("yes", "no")):
        (extra / label).mkdir(parents=True)
        for i in range(2):
            write_wav(extra / label / f"spk4{k}{i}_nohash_0.wav", tone(seed=9000 + 10 * k + i))
    shutil.copyfile(real / trained.source, extra / "no" / "spk44_nohash_0.wav")
    with pytest.raises(DatasetError) as info:
        load_training_clips(extra, data)
    assert str(info.value) == (
        f"{extra}: {trained.source} (yes) and more/no/spk44_nohash_0.wav (no) are the same"
        " recording under two labels: keep the one that is right"
    )
