"""Round 42: a keyword list whose given splits put one speaker in two splits says so.

A CSV/JSONL list may give each clip's split. Where it put a speaker's clips
(``<speaker>_nohash_<n>.wav``) in train and in test, the speaker-disjoint split was lost
without a word and the test figures heard voices the model trained on. Now the dataset
carries a warning (train prints it; eval prints it for the split it scores); it is not
refused, as a user may mean it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder

from tinyslm.audio.dataset import AudioDataset, load_audio_dataset

WORDS = ("yes", "no")


def _load(tmp_path: Path, split: dict[tuple[str, str], str], suffix: str = ".csv") -> AudioDataset:
    """A list of make_folder's yes/no clips (one per speaker and word) with the splits
    ``split`` gives ((word, speaker) -> split; train where it gives none)."""
    root = tmp_path / "d"
    if not root.exists():
        make_folder(root, {w: SPEAKERS for w in WORDS})
    cells = [
        (f"{w}/{s}_nohash_0.wav", w, split.get((w, s), "train")) for w in WORDS for s in SPEAKERS
    ]
    if suffix == ".csv":
        text = "path,label,split\n" + "".join(f"{p},{lb},{sp}\n" for p, lb, sp in cells)
    else:
        text = "".join(
            json.dumps({"path": p, "label": lb, "split": sp}) + "\n" for p, lb, sp in cells
        )
    listed = root / f"list{suffix}"
    listed.write_text(text)
    return load_audio_dataset(listed, CFG)


def _mixed(dataset: AudioDataset) -> list[str]:
    return [w for w in dataset.warnings if "more than one split" in w]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_speaker_in_two_given_splits_is_named(tmp_path: Path, suffix: str) -> None:
    # spk00 says "yes" in training and "no" in test; spk01 "no" in validation; spk02 is
    # in validation alone (not named).
    given = {("no", "spk00"): "test", ("no", "spk01"): "val"}
    given |= {(w, "spk02"): "val" for w in WORDS}
    dataset = _load(tmp_path, given, suffix)
    note = (
        "2 speakers have clips in more than one split (spk00: train, test; spk01: train, val):"
        " the val and test figures then hear voices the model trained on"
    )
    assert _mixed(dataset) == [note]
    # Not refused: the splits are as given.
    assert {c.source: c.split for c in dataset.clips}["no/spk00_nohash_0.wav"] == "test"
    # eval scores one split: the held-out splits it concerns carry it, train does not.
    assert note in dataset.warnings_for("test")
    assert note in dataset.warnings_for("val")
    assert note not in dataset.warnings_for("train")


def test_more_than_three_speakers_are_counted_and_three_named(tmp_path: Path) -> None:
    given = {("no", s): "test" for s in SPEAKERS[:5]}
    assert _mixed(_load(tmp_path, given)) == [
        "5 speakers have clips in more than one split (spk00: train, test; spk01: train, test;"
        " spk02: train, test; ...): the test figures then hear voices the model trained on"
    ]


def test_val_and_test_sharing_a_speaker_without_train(tmp_path: Path) -> None:
    given = {("yes", "spk03"): "val", ("no", "spk03"): "test"}
    assert _mixed(_load(tmp_path, given)) == [
        "1 speaker has clips in more than one split (spk03: val, test): val and test then hear"
        " the same voices"
    ]


def test_no_note_for_disjoint_given_splits_or_tinyslms_own(tmp_path: Path) -> None:
    # Both words of a speaker on the same side: nothing to say.
    given = {(w, s): "test" for w in WORDS for s in SPEAKERS[:3]}
    assert _mixed(_load(tmp_path, given)) == []
    # Splits tinyslm derives are disjoint by speaker (no split column).
    root = tmp_path / "d"
    (root / "plain.csv").write_text(
        "".join(f"{w}/{s}_nohash_0.wav,{w}\n" for w in WORDS for s in SPEAKERS)
    )
    assert _mixed(load_audio_dataset(root / "plain.csv", CFG)) == []


def test_names_without_a_speaker_are_no_speakers(tmp_path: Path) -> None:
    # "take1.wav" in yes/ and in no/ is not one speaker: nothing in its name says so.
    root = make_folder(tmp_path / "d", {w: SPEAKERS for w in WORDS})
    for i, w in enumerate(WORDS):
        (root / w / "take1.wav").write_bytes(
            (root / w / f"{SPEAKERS[i]}_nohash_0.wav").read_bytes()
        )
    rows = [f"{w}/{s}_nohash_0.wav,{w},train\n" for w in WORDS for s in SPEAKERS]
    (root / "list.csv").write_text(
        "".join(rows) + "yes/take1.wav,yes,train\nno/take1.wav,no,test\n"
    )
    assert _mixed(load_audio_dataset(root / "list.csv", CFG)) == []
