"""Round 52 (h2): keyword folders and names as users bring them: Speech Commands-style
names in upper case, and the special classes spelled as words (``unknown``, ``silence``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from audio_clips import WIN, word_folders

from tinyslm.audio.dataset import (
    NOISE,
    SILENCE,
    UNKNOWN,
    AudioDatasetConfig,
    load_audio_dataset,
    speaker_of,
)
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError

CFG = AudioDatasetConfig(window_samples=WIN)


def test_speaker_of_reads_nohash_in_any_case() -> None:
    assert speaker_of("yes/SPK07_NOHASH_0.wav") == "SPK07"
    assert speaker_of("yes/spk07_NoHash_3.WAV") == "spk07"
    assert speaker_of(f"{UNKNOWN}/BED_SPK07_NOHASH_0.WAV") == "SPK07"
    # Speech Commands' own names are read as before.
    assert speaker_of("yes/0a7c2a8d_nohash_3.wav") == "0a7c2a8d"
    assert speaker_of("yes/recording-01.wav") is None


def test_upper_case_names_keep_each_speaker_on_one_side(tmp_path: Path) -> None:
    # 30 speakers, 4 clips each: split one file at a time (as these names were), most
    # speakers had clips on two sides of the split, so the figures were optimistic.
    rng = np.random.default_rng(0)
    for word in ("yes", "no"):
        (tmp_path / word).mkdir()
        for s in range(30):
            for n in range(4):
                clip = rng.integers(-3000, 3001, WIN).astype(np.int16)
                write_wav(tmp_path / word / f"SPK{s:02d}_NOHASH_{n}.WAV", clip)
    dataset = load_audio_dataset(tmp_path, CFG)
    sides: dict[str, set[str]] = defaultdict(set)
    for clip in dataset.clips:
        sides[Path(clip.source).name.split("_")[0]].add(clip.split)
    assert len(sides) == 30
    assert {s: v for s, v in sides.items() if len(v) > 1} == {}
    # The speakers still reach every split (by their hash, not one file at a time).
    assert {c.split for c in dataset.clips} == {"train", "val", "test"}


@pytest.mark.parametrize(
    ("folder", "special"),
    [("unknown", UNKNOWN), ("Silence", SILENCE), ("noise", SILENCE), ("background-noise", NOISE)],
)
def test_a_special_class_spelled_as_a_word_is_refused(
    tmp_path: Path, folder: str, special: str
) -> None:
    # Trained as a keyword to detect, the device said "unknown" for every other word.
    root = word_folders(tmp_path, "yes", "no", folder)
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(root, CFG)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"label {folder!r} would be trained as a keyword" in msg
    assert f"not as the {special} class" in msg


def test_a_special_class_spelled_as_a_word_is_kept_where_asked(tmp_path: Path) -> None:
    root = word_folders(tmp_path, "yes", "no", "unknown")
    kept = load_audio_dataset(root, replace(CFG, keywords=("yes", "no", "unknown")))
    assert "unknown" in kept.labels
    relabelled = load_audio_dataset(root, replace(CFG, unknown_words=("unknown",)))
    assert relabelled.labels == (UNKNOWN, "no", "yes")
    # Checking a model (eval) scores the data as it is.
    scored = load_audio_dataset(root, replace(CFG, training_rules=False))
    assert "unknown" in scored.labels


def test_a_list_label_spelled_as_a_special_class_is_refused(tmp_path: Path) -> None:
    root = word_folders(tmp_path / "data", "yes", "no", "silence")
    rows = [f"{p.relative_to(root)},{p.parent.name}" for p in sorted(root.rglob("*.wav"))]
    listing = root / "list.csv"
    listing.write_text("path,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"label 'silence' would be trained as a keyword"):
        load_audio_dataset(listing, CFG)


def test_clips_without_sound_are_said(tmp_path: Path) -> None:
    # A muted microphone records zeros, a failed conversion one sample: both were read as
    # recordings of their word, unsaid.
    root = word_folders(tmp_path, "yes", "no")
    write_wav(root / "yes" / "spk03_nohash_0.wav", np.zeros(WIN, np.int16))
    write_wav(root / "no" / "spk05_nohash_0.wav", np.full(1, 7, np.int16))
    dataset = load_audio_dataset(root, CFG)
    notes = [w for w in dataset.warnings if "hold no sound" in w]
    assert notes == [
        "2 clip(s) of words hold no sound (every sample the same; first:"
        " no/spk05_nohash_0.wav), so they are no recording of their label: a muted"
        f" microphone or a failed conversion? remove them (silence belongs in {SILENCE}/"
        f" or {NOISE}/)"
    ]
    # Per split too (eval's lines): every split that holds one says how many of its own.
    splits = {c.source: c.split for c in dataset.clips}
    for source in ("yes/spk03_nohash_0.wav", "no/spk05_nohash_0.wav"):
        assert any(
            split == splits[source] and "hold no sound" in note
            for split, note in dataset.split_warnings
        )
    # A sounding dataset says nothing of it, and silence clips are silence.
    (root / SILENCE).mkdir()
    for n in range(2):
        write_wav(root / SILENCE / f"s{n}.wav", np.zeros(WIN, np.int16))
    (root / "yes" / "spk03_nohash_0.wav").unlink()
    (root / "no" / "spk05_nohash_0.wav").unlink()
    assert not [w for w in load_audio_dataset(root, CFG).warnings if "no sound" in w]
