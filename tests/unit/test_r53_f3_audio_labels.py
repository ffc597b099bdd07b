"""Round 53 (f3): keyword labels as users bring them.

- Labels that are one word in NFKC and lower case (``yes`` in fullwidth letters, as a
  CJK input method types it, beside ``yes``) were two keywords no model can tell apart
  (``ß`` against ``ss``: tests/unit/test_r53_rvf3_label_key.py); ``Yes`` beside ``yes``
  has been refused since round 40.
- Under ``--keywords``, a ``noise/`` or ``silence/`` folder (refused as a keyword in plain
  ``train`` since round 52) was relabelled ``_unknown_`` and trained as unknown words
  without a word: now a warning names it and where such recordings belong.
- ``_unknown_/john_doe_nohash_0.wav`` is speaker ``doe`` (the flattened folder's
  ``<word>_`` is dropped): documented, not changed (it would move Speech Commands' splits);
  the naming the documentation advises keeps the speaker whole.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from audio_clips import WIN, word_folders

from tinyslm.audio.dataset import (
    NOISE,
    SILENCE,
    SPLITS,
    UNKNOWN,
    AudioDatasetConfig,
    load_audio_dataset,
    speaker_of,
)
from tinyslm.audio.synth import RECORD
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError

CFG = AudioDatasetConfig(window_samples=WIN)
FULLWIDTH_YES = "\uff59\uff45\uff53"  # 'yes' in fullwidth letters
REPO = Path(__file__).resolve().parents[2]


def _refused(path: Path, config: AudioDatasetConfig = CFG) -> str:
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(path, config)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def test_a_folder_that_is_a_keyword_in_nfkc_is_refused(tmp_path: Path) -> None:
    root = word_folders(tmp_path, "no", "yes", FULLWIDTH_YES)
    assert _refused(root) == (
        f"{root / FULLWIDTH_YES}: differs from {root / 'yes'} only in compatibility form"
        " (fullwidth letters, ligatures ...: both are 'yes' in NFKC); put its clips in one"
        " folder"
    )


def test_a_list_label_that_is_a_keyword_in_nfkc_is_refused(tmp_path: Path) -> None:
    root = word_folders(tmp_path / "data", "no", "yes", "zz")
    # zz's clips labelled 'YES' in fullwidth capitals: rows 2-31 no, 32-61 yes, 62- zz.
    rows = [f"{p.relative_to(root)},{p.parent.name}" for p in sorted(root.rglob("*.wav"))]
    rows = [r.replace(",zz", ",\uff39\uff25\uff33") for r in rows]
    listing = root / "list.csv"
    listing.write_text("path,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert _refused(listing) == (
        f"{listing}: line 62: label '\uff39\uff25\uff33' differs from 'yes' (line 32) only in"
        " case and compatibility form (fullwidth letters, ligatures ...: both are 'yes' in"
        " NFKC, lower case); spell it one way"
    )


def test_unknown_clips_named_as_a_keyword_in_nfkc_are_refused(tmp_path: Path) -> None:
    root = word_folders(tmp_path, "yes", "no", UNKNOWN, seed=3)
    write_wav(
        root / UNKNOWN / f"{FULLWIDTH_YES}_spk99_nohash_0.wav",
        np.random.default_rng(99).integers(-3000, 3001, WIN).astype(np.int16),
    )
    assert f"1 clip(s) in {UNKNOWN}/ are named as the keyword 'yes'" in _refused(root)


def test_labels_that_differ_in_nfkc_are_still_two_words(tmp_path: Path) -> None:
    # Folding goes no further than the same word: 'no' and 'nō' stay two labels.
    root = word_folders(tmp_path, "no", "n\u014d", "yes")
    assert load_audio_dataset(root, CFG).labels == ("no", "n\u014d", "yes")


@pytest.mark.parametrize(
    ("folder", "special"),
    [("noise", SILENCE), ("Silence", SILENCE), ("background-noise", NOISE)],
)
def test_keywords_say_a_silence_or_noise_folder_they_relabel(
    tmp_path: Path, folder: str, special: str
) -> None:
    root = word_folders(tmp_path, "yes", "no", "up", folder)
    config = replace(CFG, keywords=("yes", "no"))
    dataset = load_audio_dataset(root, config)
    assert dataset.labels == (UNKNOWN, "no", "yes")
    note = (
        f"folder {folder}/ (30 clip(s)) spells the {special} class as a word; --keywords"
        f" trains it as {UNKNOWN} (other words): clips of silence or noise belong in"
        f" {SILENCE}/, long recordings in {NOISE}/ (--unknown-words {folder} keeps it an"
        " unknown word without this warning)"
    )
    assert [w for w in dataset.warnings if "class as a word" in w] == [note]
    # Said with each split's warnings too (eval prints those of the split it scores).
    for split in SPLITS:
        assert note in dataset.warnings_for(split)


def test_keywords_say_a_list_label_spelling_noise(tmp_path: Path) -> None:
    root = word_folders(tmp_path / "data", "yes", "no", "noise")
    rows = [f"{p.relative_to(root)},{p.parent.name}" for p in sorted(root.rglob("*.wav"))]
    listing = root / "list.csv"
    listing.write_text("path,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    warnings = load_audio_dataset(listing, replace(CFG, keywords=("yes", "no"))).warnings
    assert [w for w in warnings if "class as a word" in w] == [
        f"label 'noise' (30 clip(s)) spells the {SILENCE} class as a word; --keywords trains"
        f" it as {UNKNOWN} (other words): clips of silence or noise belong in {SILENCE}/,"
        f" long recordings in {NOISE}/ (--unknown-words noise keeps it an unknown word"
        " without this warning)"
    ]


def test_keywords_say_nothing_where_the_relabel_is_meant(tmp_path: Path) -> None:
    root = word_folders(tmp_path, "yes", "no", "unknown", "noise")
    keywords = replace(CFG, keywords=("yes", "no"))
    said = [w for w in load_audio_dataset(root, keywords).warnings if "as a word" in w]
    assert len(said) == 1 and said[0].startswith("folder noise/"), said
    # unknown/ is what _unknown_ means; a word --unknown-words names is the user's choice.
    chosen = replace(keywords, unknown_words=("noise",))
    assert not [w for w in load_audio_dataset(root, chosen).warnings if "as a word" in w]
    # A tinyslm synth folder's own word is speech of the word: an unknown word indeed.
    (root / RECORD).write_text(json.dumps({"words": ["noise", "yes", "no"]}), encoding="utf-8")
    assert not [w for w in load_audio_dataset(root, keywords).warnings if "as a word" in w]


def test_the_unknown_folder_reads_its_word_off_a_speaker_name() -> None:
    # As docs/audio.md says: in _unknown_/ the part before its first '_' is the word, so
    # a speaker named with '_' loses its first part there; the name the docs advise keeps
    # it whole, so a speaker's keyword and unknown clips land on one side.
    assert speaker_of(f"{UNKNOWN}/john_doe_nohash_0.wav") == "doe"
    assert speaker_of("yes/john_doe_nohash_0.wav") == "john_doe"
    assert speaker_of(f"{UNKNOWN}/bed_john_doe_nohash_0.wav") == "john_doe"
    assert speaker_of(f"{UNKNOWN}/johndoe_nohash_0.wav") == "johndoe"
    doc = " ".join(REPO.joinpath("docs", "audio.md").read_text(encoding="utf-8").split())
    assert f"`{UNKNOWN}/john_doe_nohash_0.wav` is speaker `doe`" in doc
