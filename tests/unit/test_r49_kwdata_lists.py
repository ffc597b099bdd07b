"""Round 49: keyword lists as --extra-train reads them. A list's split column places none
of an extra set's clips (all are training material), so its notes speak of no figures of
its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder

from tinyslm.audio.dataset import NOISE, load_audio_dataset, load_training_clips
from tinyslm.errors import DatasetError


def _extra_list(root: Path) -> Path:
    """An extra set with a list whose split column names val and test, one speaker (v1)
    in train and test, and a background row given a split."""
    make_folder(root, {"yes": ["v1", "v2"], "no": ["v3"]}, noise=1, fresh=3)
    rows = [
        "path,label,split",
        "yes/v1_nohash_0.wav,yes,train",
        "yes/v1_nohash_1.wav,yes,test",
        "yes/v2_nohash_0.wav,yes,val",
        "no/v3_nohash_0.wav,no,train",
        "no/v3_nohash_1.wav,no,train",
        f"{NOISE}/noise0.wav,{NOISE},test",
    ]
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    return root / "list.csv"


def test_an_extra_lists_split_column_is_said_unused_not_read_as_figures(tmp_path: Path) -> None:
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    listed = _extra_list(tmp_path / "x")
    mixed = load_training_clips(listed, data)
    added = mixed.clips[len(data.clips) :]
    assert len(added) == 5 and {c.split for c in added} == {"train"}
    # Before: "1 speaker has clips in more than one split (v1: train, test): the test
    # figures then hear voices the model trained on" (the figures are DATA's; v1's test
    # row was trained on), a background note on how the recording would be split (it is
    # not used at all), and the val and test rows joining training unsaid.
    assert mixed.warnings == (
        f"{listed}: its split column puts 2 clip(s) in val or test (first:"
        " yes/v1_nohash_1.wav), which is not used: every clip of an --extra-train set joins"
        " the training split (DATA's own splits give the figures)",
        f"{listed}: its {NOISE} recordings are not used for training",
    ), mixed.warnings


def test_a_train_only_split_column_needs_no_note(tmp_path: Path) -> None:
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    root = make_folder(tmp_path / "x", {"yes": ["v1"]}, fresh=3)
    listed = root / "list.jsonl"
    listed.write_text(
        '{"path": "yes/v1_nohash_0.wav", "label": "yes", "split": "training"}\n'
        '{"path": "yes/v1_nohash_1.wav", "label": "yes", "split": "train"}\n'
    )
    mixed = load_training_clips(listed, data)
    assert len(mixed.clips) == len(data.clips) + 2 and mixed.warnings == ()


def test_datas_own_list_keeps_its_split_column(tmp_path: Path) -> None:
    # The same list read as data to check a model on: its splits are the figures'.
    listed = _extra_list(tmp_path / "x")
    data = load_audio_dataset(listed, replace(CFG, training_rules=False))
    assert [c.split for c in data.clips if c.label == "yes"] == ["train", "test", "val"]
    assert any("1 speaker has clips in more than one split" in w for w in data.warnings)


def test_a_list_missing_one_split_says_which_line(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}, noise=1)
    rows = ["path,label,split", f"{NOISE}/noise0.wav,{NOISE},"]  # no split there is fine
    for i, p in enumerate(sorted(root.glob("[ny]*/*.wav"))):
        rows.append(f"{p.relative_to(root).as_posix()},{p.parent.name},{'' if i == 7 else 'train'}")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(root / "list.csv", CFG)
    # Before: "give a split for every clip or for none", not where among its rows.
    assert str(info.value) == (
        f"{root / 'list.csv'}: line 10: no split, while 29 of its 30 clips have one; give a"
        " split for every clip or for none"
    )


def test_an_extra_list_need_not_give_every_clip_a_split(tmp_path: Path) -> None:
    # Its split column places nothing, so a blank cell is no reason to refuse the set.
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    root = make_folder(tmp_path / "x", {"yes": ["v1"]}, fresh=3)
    listed = root / "list.csv"
    listed.write_text("yes/v1_nohash_0.wav,yes,test\nyes/v1_nohash_1.wav,yes,\n")
    mixed = load_training_clips(listed, data)
    assert len(mixed.clips) == len(data.clips) + 2
    assert mixed.warnings == (
        f"{listed}: its split column puts 1 clip(s) in val or test (first:"
        " yes/v1_nohash_0.wav), which is not used: every clip of an --extra-train set joins"
        " the training split (DATA's own splits give the figures)",
    )
