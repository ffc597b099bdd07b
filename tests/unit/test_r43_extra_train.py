"""--extra-train never trains on the dataset's own validation or test clips.

``train DATA --extra-train DATA`` (or a copy of DATA) put every clip that picks the
epoch and the threshold, and is scored as "test", into training, with only a warning
about shared speakers: every figure was a training figure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder

from tinyslm.audio.dataset import load_audio_dataset, load_training_clips
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError


@pytest.mark.parametrize("copy", [False, True])
def test_the_dataset_itself_is_refused_as_extra_training_clips(tmp_path: Path, copy: bool) -> None:
    real = make_folder(tmp_path / "real", {"yes": SPEAKERS, "no": SPEAKERS})
    data = load_audio_dataset(real, CFG)
    extra = real
    if copy:
        extra = tmp_path / "renamed"
        shutil.copytree(real, extra)
        for wav in sorted(extra.rglob("*.wav")):  # other names, the same recordings
            wav.rename(wav.with_name("x" + wav.name))
    with pytest.raises(DatasetError) as info:
        load_training_clips(extra, data)
    held_out = sum(1 for c in data.clips if c.split in ("val", "test"))
    msg = str(info.value)
    assert "\n" not in msg
    assert f"{held_out} of its clips are" in msg and "validation or test clips" in msg
    assert "give --extra-train other recordings" in msg


def test_other_recordings_of_a_held_out_speaker_are_still_only_a_warning(
    tmp_path: Path,
) -> None:
    data = load_audio_dataset(
        make_folder(tmp_path / "real", {"yes": SPEAKERS, "no": SPEAKERS}), CFG
    )
    # spk16 is a val speaker; its clip here is other samples than DATA's spk16 clips
    # (make_folder seeds by folder and speaker index): another recording of that speaker.
    leak = make_folder(
        tmp_path / "leak", {"yes": ["tts1", "tts2"], "no": ["tts3", "spk16"]}, fresh=1
    )
    data_spk16 = {c.samples.tobytes() for c in data.clips if c.speaker == "spk16"}
    mixed = load_training_clips(leak, data)
    (added,) = [c for c in mixed.clips[len(data.clips) :] if c.speaker == "spk16"]
    assert added.samples.tobytes() not in data_spk16
    (warning,) = mixed.warnings
    assert "speaker(s) also in" in warning


def test_silent_takes_are_not_copies_of_each_other(tmp_path: Path) -> None:
    # Every silent clip is the same window once fitted: not one recording.
    real = make_folder(tmp_path / "real", {"yes": SPEAKERS, "no": SPEAKERS})
    for name in ("spk16_nohash_5.wav", "spk07_nohash_5.wav"):  # val and test speakers
        write_wav(real / "yes" / name, np.zeros(800, dtype=np.int16))
    data = load_audio_dataset(real, CFG)
    assert any(c.split != "train" and not c.samples.any() for c in data.clips)
    extra = make_folder(tmp_path / "extra", {"yes": ["tts1"], "no": ["tts2"]}, fresh=1)
    write_wav(extra / "yes" / "tts9_nohash_0.wav", np.zeros(1200, dtype=np.int16))
    mixed = load_training_clips(extra, data)
    assert len(mixed.clips) == len(data.clips) + 5
