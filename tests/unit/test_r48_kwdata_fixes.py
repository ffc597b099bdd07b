"""Round 48's keyword-data fixes: the label bound before training, --extra-train labels
spelled otherwise and repeated recordings, keyword-named _unknown_ clips, shared speakers
by name only, a _silence_/ folder, JSONL line breaks, audio files beside the folders."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shared_paths import dataset_path, missing
from test_audio_dataset import CFG, SPEAKERS, WIN, make_folder, refused, tone

from tinyslm.audio.dataset import (
    SILENCE,
    UNKNOWN,
    AudioDatasetConfig,
    load_audio_dataset,
    load_training_clips,
)
from tinyslm.audio.detector import MAX_LABELS
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_manifest


def _takes(root: Path, words: dict[str, int], seed: int = 0) -> Path:
    """``words``: folder -> how many clips, named ``take<i>.wav`` (no speaker in them)."""
    for k, (word, count) in enumerate(words.items()):
        (root / word).mkdir(parents=True)
        for i in range(count):
            write_wav(root / word / f"take{i}.wav", tone(seed=seed + 100 * k + i))
    return root


def _one_line_error(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(DatasetError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# --- 1. more labels than the detector holds: refused before any training -------------


def test_more_labels_than_the_detector_holds_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyslm.audio import train as train_module
    from tinyslm.audio.fit import fit_audio

    words = {f"w{i:02d}": SPEAKERS[:6] for i in range(MAX_LABELS + 1)}
    root = make_folder(tmp_path / "many", words)

    def reached(*args: object, **kwargs: object) -> None:
        raise AssertionError("features or training reached")

    monkeypatch.setattr(train_module, "train_audio", reached)
    monkeypatch.setattr(train_module, "feature_sets", reached)
    config = train_module.AudioTrainConfig(size="small", epochs=1, cache_features=False)
    msg = _one_line_error(fit_audio, root, config)
    assert msg.startswith(f"{root}: {MAX_LABELS + 1} labels (w00, w01, "), msg
    assert f"at most {MAX_LABELS}, {SILENCE} and {UNKNOWN} included" in msg
    # No _silence_ here: every label but _unknown_ can be a keyword.
    assert f"list at most {MAX_LABELS - 1} keywords with --keywords" in msg


# --- 2. an --extra-train label spelled otherwise --------------------------------------


def test_an_extra_label_in_another_case_is_refused_under_keywords(tmp_path: Path) -> None:
    data_root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, UNKNOWN: SPEAKERS})
    words = replace(CFG, keywords=("yes", "no"))
    data = load_audio_dataset(data_root, words)
    extra = make_folder(tmp_path / "x", {"Yes": ["a", "b"], "no": ["c", "d"]})
    # Before: its 'Yes' clips were added as _unknown_, without a word.
    msg = _one_line_error(load_training_clips, extra, data, ("yes", "no"))
    assert f"{extra}: label 'Yes' (first: Yes/a_nohash_0.wav) differs from" in msg, msg
    assert "'yes' only in case; spell it 'yes'" in msg, msg


def test_an_extra_label_in_another_case_is_not_sent_to_keywords(tmp_path: Path) -> None:
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    extra = make_folder(tmp_path / "x", {"Yes": ["a", "b"]})
    msg = _one_line_error(load_training_clips, extra, data)
    assert "differs from" in msg and "only in case" in msg, msg
    assert "--keywords" not in msg, msg  # the advice that trained it as _unknown_


def test_a_new_extra_word_still_gets_the_keywords_advice(tmp_path: Path) -> None:
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    extra = make_folder(tmp_path / "x", {"maybe": ["a", "b"]})
    msg = _one_line_error(load_training_clips, extra, data)
    assert "label 'maybe' is not one of" in msg and "--keywords" in msg, msg


# --- 3. one recording in two --extra-train sets ---------------------------------------


def test_a_folder_and_a_list_of_its_files_add_each_recording_once(tmp_path: Path) -> None:
    data = load_audio_dataset(_takes(tmp_path / "d", {"yes": 14, "no": 14}), CFG)
    extra = _takes(tmp_path / "x", {"yes": 3, "no": 3}, seed=5000)
    rows = [f"{p.relative_to(extra).as_posix()},{p.parent.name}" for p in extra.glob("*/*.wav")]
    (tmp_path / "x.csv").write_text("\n".join(f"x/{row}" for row in sorted(rows)) + "\n")
    once = load_training_clips(extra, data)
    assert len(once.clips) == len(data.clips) + 6
    twice = load_training_clips(tmp_path / "x.csv", once)
    # Before: 6 more clips (each recording weighed double) and no note.
    assert len(twice.clips) == len(once.clips)
    assert twice.warnings[-1] == (
        f"{tmp_path / 'x.csv'}: 6 of its clips are recordings an earlier --extra-train set added"
        " (first: x.csv/x/no/take0.wav = x/no/take0.wav); each is read once (a repeat adds"
        " only weight)"
    ), twice.warnings


# --- 4. _unknown_/ clips named as a keyword -------------------------------------------


def test_unknown_clips_named_as_a_keyword_are_refused(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, UNKNOWN: SPEAKERS})
    for k, spk in enumerate(("s1", "s2")):
        write_wav(root / UNKNOWN / f"yes_{spk}_nohash_0.wav", tone(seed=7001 + k))
    assert refused(root) == (
        f"{root}: 2 clip(s) in {UNKNOWN}/ are named as the keyword 'yes' (first:"
        f" {UNKNOWN}/yes_s1_nohash_0.wav), so they would train it as {UNKNOWN}: move them"
        " into yes/ or out of the dataset"
    )


def test_unknown_clips_named_as_another_word_are_fine(tmp_path: Path) -> None:
    # With --keywords, a flattened download holds every other word: not refused.
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, "up": SPEAKERS})
    (root / UNKNOWN).mkdir()
    write_wav(root / UNKNOWN / "left_s1_nohash_0.wav", tone(seed=71))
    write_wav(root / UNKNOWN / "up_s2_nohash_0.wav", tone(seed=72))  # 'up' is _unknown_ here
    data = load_audio_dataset(root, replace(CFG, keywords=("yes", "no")))
    assert data.keywords == ("no", "yes")


def test_extra_unknown_clips_named_as_a_data_keyword_are_refused(tmp_path: Path) -> None:
    data_root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, UNKNOWN: SPEAKERS})
    data = load_audio_dataset(data_root, CFG)
    extra = tmp_path / "x"
    (extra / UNKNOWN).mkdir(parents=True)
    write_wav(extra / UNKNOWN / "Yes_s1_nohash_0.wav", tone(seed=81))
    msg = _one_line_error(load_training_clips, extra, data)
    assert "1 clip(s) in _unknown_/ are named as the keyword 'yes'" in msg, msg


def test_speech_commands_dev_still_loads() -> None:
    root = dataset_path("speech_commands_dev")
    if not root.is_dir():
        missing(f"Speech Commands dev subset not found at {root}")
    data = load_audio_dataset(root)
    # As before round 48, measured: no new refusal, warning or split (the round's checks
    # of copies, loose files and repeats all pass on it).
    assert data.labels == (
        SILENCE, UNKNOWN, "down", "left", "no", "right", "stop", "up", "yes",
    )  # fmt: skip
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [2284, 332, 347]
    assert data.warnings == () and data.split_warnings == ()


# --- 5. shared speakers are named speakers --------------------------------------------


def test_equal_unnamed_paths_are_no_shared_speaker(tmp_path: Path) -> None:
    data = load_audio_dataset(_takes(tmp_path / "d", {"yes": 14, "no": 14}), CFG)
    assert any(c.split != "train" for c in data.clips)
    extra = _takes(tmp_path / "x", {"yes": 14, "no": 14}, seed=9000)
    added = load_training_clips(extra, data)
    assert not any("speaker(s) also in" in w for w in added.warnings), added.warnings


def test_a_named_speaker_in_a_held_out_split_is_still_said(tmp_path: Path) -> None:
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    extra = tmp_path / "x"
    (extra / "yes").mkdir(parents=True)
    write_wav(extra / "yes" / "spk30_nohash_5.wav", tone(seed=4242))  # spk30: test
    added = load_training_clips(extra, data)
    assert any("1 speaker(s) also in" in w for w in added.warnings), added.warnings


# --- 7. a _silence_/ folder -----------------------------------------------------------


def test_a_silence_folder_is_read_as_a_lists_silence_label(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / SILENCE).mkdir()
    for i in range(6):
        write_wav(root / SILENCE / f"s{i}.wav", tone(n=WIN, amp=30, seed=500 + i))
    folder = load_audio_dataset(root, CFG)  # before: "unknown special folder"
    rows = [f"{p.relative_to(root).as_posix()},{p.parent.name}" for p in root.glob("*/*.wav")]
    (root / "list.csv").write_text("\n".join(sorted(rows)) + "\n")
    listed = load_audio_dataset(root / "list.csv", CFG)
    assert folder.labels == listed.labels == (SILENCE, "no", "yes")
    got = [(c.label, c.split, c.source) for c in folder.clips]
    assert got == [(c.label, c.split, c.source) for c in listed.clips]
    assert sum(c.label == SILENCE for c in folder.clips) == 6


# --- 8. JSONL lines -------------------------------------------------------------------


def test_jsonl_lines_end_at_newlines_only(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    rows = [
        {"path": "yes/spk00_nohash_0.wav", "label": "yes", "note": "a\u2028b\x85c\x0cd"},
        {"path": "yes/spk01_nohash_0.wav", "label": "y\u2028es"},
    ]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (root / "l.jsonl").write_text(text, encoding="utf-8", newline="")
    # Before: "line 1: invalid JSON"; the bad label is on line 2.
    msg = refused(root / "l.jsonl")
    assert msg == f"{root / 'l.jsonl'}: line 2: label 'y\\u2028es' has control characters"


def test_jsonl_with_cr_line_ends_still_reads(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS[:3], "no": SPEAKERS[:3]})
    rows = [f'{{"path": "{p.relative_to(root).as_posix()}", "label": "{p.parent.name}"}}'
            for p in sorted(root.glob("*/*.wav"))]  # fmt: skip
    (root / "l.jsonl").write_text("\r".join(rows) + "\r", newline="")
    config = AudioDatasetConfig(window_samples=WIN, training_rules=False)
    assert len(load_audio_dataset(root / "l.jsonl", config).clips) == len(rows)


# --- 9. audio files beside the label folders; "1 clip" ---------------------------------


def test_audio_files_beside_the_label_folders_are_said(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    write_wav(root / "take99.wav", tone(seed=99))
    (root / "memo.m4a").write_bytes(b"\0" * 16)
    (root / "README.txt").write_text("notes\n")
    data = load_audio_dataset(root, CFG)
    assert data.warnings == (
        "1 .wav file(s) beside the label folders are not in a label folder, so not read"
        " (first: take99.wav): move each into its <label>/ folder",
        "1 audio file(s) that are not .wav were skipped (first: memo.m4a); tinyslm reads"
        " .wav clips only: convert them to 16 kHz mono 16-bit .wav with sox or ffmpeg",
    )


def test_weakest_label_of_one_clip_is_one_clip() -> None:
    from tinyslm.audio.fit import summary_rows

    m = keyword_manifest()
    metrics = {**m.metrics, "per_class": {"yes": [0.0, 1], "no": [1.0, 3]}}
    rows = dict(summary_rows(replace(m, metrics=metrics)))
    assert rows["weakest label"].endswith(" of 1 clip"), rows["weakest label"]


def test_a_keyword_dataset_loads_clean(tmp_path: Path) -> None:
    # None of the new checks fires on an ordinary dataset.
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    assert data.warnings == () and np.all([len(c.samples) == WIN for c in data.clips])
