"""--extra-train never trains on the dataset's own validation or test clips.

``train DATA --extra-train DATA`` (or a copy of DATA) put every clip that picks the
epoch and the threshold, and is scored as "test", into training, with only a warning
about shared speakers: every figure was a training figure.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder

from tinyslm.audio.dataset import load_audio_dataset, load_training_clips
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
    # spk16 is a val speaker; make_folder's clips differ by folder order, so these are
    # other recordings of that speaker, not copies.
    leak = make_folder(tmp_path / "leak", {"no": ["spk16", "tts1"], "yes": ["tts2", "tts3"]})
    (warning,) = load_training_clips(leak, data).warnings
    assert "speaker(s) also in" in warning
