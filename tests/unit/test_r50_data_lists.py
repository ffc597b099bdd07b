"""Round 50: keyword lists and layouts. A list's speaker is the list's spelling (a name
written in NFC for a file macOS saved in NFD was split by the NFD name's hash here, where
the file system tells the two apart, and by the NFC one's where it does not); a dataset
given by its parent folder is named as such; an --extra-train list's _unknown_ rows are
named by their label, not by their path's folder."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder, refused, tone

from tinyslm.audio.dataset import (
    UNKNOWN,
    AudioDataset,
    load_audio_dataset,
    load_training_clips,
    which_set,
)
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError


def test_a_listed_speaker_is_split_as_the_list_spells_it(tmp_path: Path) -> None:
    rows = ["path,label"]
    for k, word in enumerate(("yes", "no")):
        (tmp_path / word).mkdir()
        for i in range(12):
            listed = f"jos\u00e9{i}_nohash_0.wav"  # NFC, as a list written on Linux has it
            on_disk = unicodedata.normalize("NFD", listed)  # as macOS saved the file
            write_wav(tmp_path / word / on_disk, tone(seed=100 * k + i))
            rows.append(f"{word}/{listed},{word}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = load_audio_dataset(tmp_path / "list.csv", CFG)
    assert len(data.clips) == 24
    for clip in data.clips:
        speaker = clip.source.split("/")[1].removesuffix("_nohash_0.wav")
        assert unicodedata.is_normalized("NFC", speaker)
        assert clip.speaker == speaker, ascii(clip.speaker)
        assert clip.split == which_set(speaker, 10, 10)
    # The NFD hash put josé0 in train; the list's own spelling puts it in test.
    assert {c.split for c in data.clips if c.speaker == "jos\u00e90"} == {"test"}


def test_a_dataset_one_level_down_is_named_as_such(tmp_path: Path) -> None:
    """Given the folder above a dataset, the refusal only said to put the label folders'
    clips into the dataset's folder (one label of every word)."""
    make_folder(tmp_path / "data" / "speech_commands", {"yes": SPEAKERS, "no": SPEAKERS})
    inner = tmp_path / "data" / "speech_commands"
    assert refused(tmp_path / "data") == (
        f"{inner / 'no'}: a folder inside a label folder; put its clips directly in {inner},"
        f" or, if the folders in speech_commands are labels, give {inner} as the dataset"
    )
    # Session folders beside clips: a label folder after all, so only its own advice.
    nested = make_folder(tmp_path / "nested", {"yes": SPEAKERS, "no": SPEAKERS})
    (nested / "yes" / "session2").mkdir()
    write_wav(nested / "yes" / "session2" / "spk40_nohash_0.wav", tone())
    assert refused(nested).endswith(f"put its clips directly in {nested / 'yes'}")
    # An unknown word's folder is no dataset either.
    words = make_folder(tmp_path / "words", {"yes": SPEAKERS, "no": SPEAKERS})
    (words / UNKNOWN / "bed").mkdir(parents=True)
    write_wav(words / UNKNOWN / "bed" / "spk40_nohash_0.wav", tone())
    assert refused(words).endswith(f"put its clips directly in {words / UNKNOWN}")


# --- an --extra-train list's _unknown_ rows beside DATA without that class --------------


def _extra_list(root: Path, labels: list[str]) -> Path:
    """A list whose clips all sit in clips/ (the folder is no word)."""
    (root / "clips").mkdir(parents=True)
    rows = ["path,label"]
    for i, label in enumerate(labels):
        write_wav(root / "clips" / f"c{i}.wav", tone(seed=500 + i))
        rows.append(f"clips/c{i}.wav,{label}")
    (root / "list.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "list.csv"


def _extra_refused(listed: Path, data: AudioDataset, **words: tuple[str, ...]) -> str:
    with pytest.raises(DatasetError) as info:
        load_training_clips(listed, data, **words)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def test_an_extra_lists_unknown_rows_are_named_by_their_label(tmp_path: Path) -> None:
    """It said "its word 'clips', trained as _unknown_ (--keywords)": the path's folder as
    the word, and --keywords where none was given, for the list's own _unknown_ rows."""
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    d = tmp_path / "d"
    listed = _extra_list(tmp_path / "x", ["yes", "no", UNKNOWN, "bed"])
    assert _extra_refused(listed, data) == (
        f"{listed}: its {UNKNOWN} clips have no class in {d}, which has no {UNKNOWN}/ folder"
        f" (nor a word trained as {UNKNOWN}): add {UNKNOWN}/ clips to {d}, or take its"
        f" {UNKNOWN} rows out of the list"
    )
    words = _extra_list(tmp_path / "y", ["yes", "no", "bed"])
    assert _extra_refused(words, data, keywords=("yes", "no")) == (
        f"{words}: its word 'bed', trained as {UNKNOWN} (--keywords), has no class in {d},"
        f" which has no {UNKNOWN}/ folder (nor a word trained as {UNKNOWN}): add {UNKNOWN}/"
        f" clips to {d}, or drop that --extra-train list"
    )
    assert _extra_refused(words, data).endswith("or drop that --extra-train list")
