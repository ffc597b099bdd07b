"""Round 49: one recording twice in keyword data. An --extra-train set's copies of DATA's
training clips (or of its own clips) are read once with a note; DATA's copies inside one
split are kept and said; speech_commands_dev loads clip for clip as before."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from shared_paths import dataset_path, missing
from test_audio_dataset import CFG, SPEAKERS, make_folder

from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset, load_training_clips

NOTE_END = "; each is read once (a repeat adds only weight)"


def _data(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)


# --- 1. an --extra-train set that repeats DATA's own training clips ---------------------


def test_an_extra_copy_of_datas_training_clips_is_read_once(tmp_path: Path) -> None:
    data = _data(tmp_path)
    extra = make_folder(tmp_path / "x", {"yes": ["tts1"], "no": ["tts2"]}, fresh=1)
    trained = next(c for c in data.clips if c.label == "yes" and c.split == "train")
    shutil.copyfile(tmp_path / "d" / trained.source, extra / "yes" / "copy.wav")
    mixed = load_training_clips(extra, data)
    # Before: 5 clips added, the copied recording weighing twice in training, unsaid.
    added = mixed.clips[len(data.clips) :]
    assert len(added) == 4 and mixed.extra_clips == 4
    assert "x/yes/copy.wav" not in {c.source for c in added}
    assert mixed.warnings[-1] == (
        f"{extra}: 1 of its clips are {data.source}'s own training clips (first:"
        f" x/yes/copy.wav = {trained.source})" + NOTE_END
    ), mixed.warnings


def test_a_set_repeating_its_own_clip_adds_it_once(tmp_path: Path) -> None:
    data = _data(tmp_path)
    extra = make_folder(tmp_path / "x", {"yes": ["tts1"], "no": ["tts2"]}, fresh=1)
    shutil.copyfile(extra / "no" / "tts2_nohash_0.wav", extra / "no" / "tts2_nohash_7.wav")
    mixed = load_training_clips(extra, data)
    assert len(mixed.clips) == len(data.clips) + 4
    # The load's "counted once per copy" note is not passed on: it is read once.
    assert mixed.warnings == (
        f"{extra}: 1 of its clips are repeats of its own other clips (first:"
        " x/no/tts2_nohash_7.wav = x/no/tts2_nohash_0.wav)" + NOTE_END,
    ), mixed.warnings


def test_repeats_of_several_origins_are_one_line(tmp_path: Path) -> None:
    data = _data(tmp_path)
    first = make_folder(tmp_path / "a", {"yes": ["tts1"]}, fresh=1)
    once = load_training_clips(first, data)
    extra = make_folder(tmp_path / "b", {"no": ["tts2"]}, fresh=2)
    trained = next(c for c in data.clips if c.label == "yes" and c.split == "train")
    shutil.copyfile(tmp_path / "d" / trained.source, extra / "yes_copy.wav")
    (extra / "yes").mkdir()
    shutil.move(extra / "yes_copy.wav", extra / "yes" / "data_copy.wav")
    shutil.copyfile(first / "yes" / "tts1_nohash_0.wav", extra / "yes" / "earlier_copy.wav")
    twice = load_training_clips(extra, once)
    assert len(twice.clips) == len(once.clips) + 2  # b's two own 'no' clips
    note = twice.warnings[-1]
    assert "\n" not in note
    assert note == (
        f"{extra}: 2 of its clips are recordings training already has (1 from {data.source}'s"
        " training clips, 1 from an earlier set; first:"
        f" b/yes/data_copy.wav = {trained.source})" + NOTE_END
    ), note


# --- 2. copies inside one split of DATA: kept, and said ---------------------------------


def test_copies_inside_a_split_are_kept_and_said(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    clean = load_audio_dataset(root, CFG)
    # spk03 and spk05 are train speakers; spk07 and spk30 test ones (speaker hash).
    shutil.copyfile(root / "yes" / "spk03_nohash_0.wav", root / "yes" / "spk05_nohash_3.wav")
    shutil.copyfile(root / "no" / "spk07_nohash_0.wav", root / "no" / "spk30_nohash_3.wav")
    data = load_audio_dataset(root, CFG)
    assert len(data.clips) == len(clean.clips) + 2  # kept: no clip moves or goes
    train = (
        "1 train clip(s) are copies of other train clips (first: yes/spk05_nohash_3.wav ="
        " yes/spk03_nohash_0.wav); training weighs such a recording once per copy: remove"
        " the copies"
    )
    test = (
        "1 test clip(s) are copies of other test clips (first: no/spk30_nohash_3.wav ="
        " no/spk07_nohash_0.wav); the test figures count such a recording once per copy:"
        " remove the copies"
    )
    assert data.warnings == (train, test)
    assert data.warnings_for("train") == (train,) and data.warnings_for("test") == (test,)
    assert data.warnings_for("val") == ()
    # eval's rules: the split it scores counts them once per copy too.
    scoring = AudioDatasetConfig(window_samples=CFG.window_samples, training_rules=False)
    checked = load_audio_dataset(root, scoring)
    assert checked.warnings_for("train") == (
        train.replace("training weighs", "scoring the train split counts"),
    )
    assert checked.warnings_for("test") == (
        test.replace("the test figures count", "scoring the test split counts"),
    )


def test_speech_commands_dev_loads_clip_for_clip_as_before() -> None:
    """No same-split copies there (checked at round 49 against the round-48 loader: the
    same clips, splits and samples in the same order for seeds 0 and 1, with and without
    --keywords): its models keep their bytes."""
    root = dataset_path("speech_commands_dev")
    if not root.is_dir():
        missing(f"Speech Commands dev subset not found at {root}")
    data = load_audio_dataset(root)
    digest = hashlib.sha256()
    for c in data.clips:
        digest.update(f"{c.label}\t{c.split}\t{c.speaker}\t{c.source}\n".encode())
        digest.update(c.samples.tobytes())
    assert len(data.clips) == 2963 and data.warnings == ()
    assert digest.hexdigest() == PINNED, digest.hexdigest()


PINNED = "7411038964adf7c1911506abda5c17206d0c6abeca7bc0c0fce0615332349bb7"
