"""tinyslm.audio.dataset: Speech Commands folders and lists, the speaker split, every refusal."""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shared_paths import dataset_path, missing

from tinyslm.audio.dataset import (
    NOISE,
    SILENCE,
    SPLITS,
    UNKNOWN,
    AudioDatasetConfig,
    fit_to_window,
    load_audio_dataset,
    load_training_clips,
    speaker_of,
    which_set,
    with_training_clips,
)
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError

WIN = 1600  # a 0.1 s window keeps the files tiny
CFG = AudioDatasetConfig(window_samples=WIN)
# Speakers whose which_set(10, 10) is train (most), val (spk10, spk16) or test (spk07, spk30).
SPEAKERS = [f"spk{i:02d}" for i in range(12)] + ["spk16", "spk30"]


def tone(n: int = 800, amp: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-amp, amp + 1, n).astype(np.int16)


def make_folder(root: Path, words: dict[str, list[str]], noise: int = 0, fresh: int = 0) -> Path:
    """``words``: folder -> speaker names; one clip per speaker (two for the first).

    Each word's clips are its own (seeded by the word's name): the same clip under two
    labels is refused, and the same word in two folders made by two calls is the same
    recordings (a copy, as the --extra-train refusals need). ``fresh`` > 0: other
    recordings of the words (an --extra-train set of new voices: a copy of DATA's
    training clips is read once).
    """
    for word, speakers in words.items():
        (root / word).mkdir(parents=True)
        base = zlib.crc32(word.encode("utf-8")) * 1000 + 7919 * fresh
        for j, spk in enumerate(speakers):
            prefix = f"w{j % 3}_" if word == UNKNOWN else ""
            write_wav(root / word / f"{prefix}{spk}_nohash_0.wav", tone(seed=base + j))
            if j == 0:
                write_wav(root / word / f"{prefix}{spk}_nohash_1.wav", tone(seed=base + 999))
    if noise:
        (root / NOISE).mkdir()
        for k in range(noise):
            write_wav(root / NOISE / f"noise{k}.wav", tone(20 * WIN, 500, seed=1000 + k))
    return root


def refused(path: Path, config: AudioDatasetConfig = CFG) -> str:
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(path, config)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# --- the split ------------------------------------------------------------------------


def test_which_set_agrees_with_speech_commands_testing_list() -> None:
    # Speakers listed in Speech Commands' own testing_list.txt (10 % val, 10 % test).
    for speaker in ("2aa787cf", "ffa76c4a", "24ad3ebe", "0ea0e2f4", "85834399", "27c30960"):
        assert which_set(speaker, 10, 10) == "test", speaker
    # and a few of this project's dev subset that it puts in train and val
    assert [which_set(s, 10, 10) for s in ("00f0204f", "01d22d03")] == ["train", "train"]
    assert [which_set(s, 10, 10) for s in ("060cd039", "099d52ad")] == ["val", "val"]


def test_speaker_names() -> None:
    assert speaker_of("yes/0a7c2a8d_nohash_3.wav") == "0a7c2a8d"
    assert speaker_of(f"{UNKNOWN}/bed_0a7c2a8d_nohash_0.wav") == "0a7c2a8d"
    assert speaker_of("yes/bed_0a7c2a8d_nohash_0.wav") == "bed_0a7c2a8d"  # not flattened
    assert speaker_of("yes/recording-01.wav") is None
    # A list may spell the folder another way; the file is the same, and so is its speaker.
    assert speaker_of(f"{UNKNOWN}/x/../bed_0a7c2a8d_nohash_0.wav") == "0a7c2a8d"
    assert speaker_of(f"{UNKNOWN}/./bed_0a7c2a8d_nohash_0.wav") == "0a7c2a8d"
    assert speaker_of(f"{UNKNOWN}/../yes/bed_0a7c2a8d_nohash_0.wav") == "bed_0a7c2a8d"


def test_no_speaker_on_two_sides_and_stable(tmp_path: Path) -> None:
    words = {"yes": SPEAKERS, "no": SPEAKERS[::-1], UNKNOWN: SPEAKERS}
    root = make_folder(tmp_path / "d", words)
    first = load_audio_dataset(root, CFG)
    sides: dict[str, set[str]] = {}
    for clip in first.clips:
        sides.setdefault(clip.speaker, set()).add(clip.split)
    assert all(len(s) == 1 for s in sides.values()), sides
    # the unknown words' speakers (w0_spk01_...) are the same people as in yes/ and no/
    assert set(sides) == set(SPEAKERS)
    assert {s: next(iter(v)) for s, v in sides.items()} == {
        s: which_set(s, 10, 10) for s in SPEAKERS
    }
    assert {next(iter(v)) for v in sides.values()} == set(SPLITS)
    # same files, another seed and a second load: the same split, clip for clip
    again = load_audio_dataset(root, AudioDatasetConfig(window_samples=WIN, seed=99))
    assert [(c.source, c.split) for c in again.clips] == [(c.source, c.split) for c in first.clips]
    assert first.labels == (UNKNOWN, "no", "yes")


def test_names_without_speakers_are_split_by_seeded_file_hash(tmp_path: Path) -> None:
    for k, word in enumerate(("on", "off")):
        (tmp_path / word).mkdir()
        for i in range(40):
            write_wav(tmp_path / word / f"take{i}.wav", tone(seed=100 * k + i))
    a = load_audio_dataset(tmp_path, CFG)
    b = load_audio_dataset(tmp_path, CFG)
    c = load_audio_dataset(tmp_path, AudioDatasetConfig(window_samples=WIN, seed=1))
    split = [(x.source, x.split) for x in a.clips]
    assert split == [(x.source, x.split) for x in b.clips]
    assert split != [(x.source, x.split) for x in c.clips]
    assert all(x.speaker == x.source for x in a.clips)
    assert set(Counter(x.split for x in a.clips)) == set(SPLITS)


def test_real_speech_commands_subset_is_speaker_disjoint() -> None:
    root = dataset_path("speech_commands_dev")
    if not root.is_dir():
        missing(f"Speech Commands dev subset not found at {root}")
    data = load_audio_dataset(root)
    speakers = {s: {c.speaker for c in data.split(s) if c.label != SILENCE} for s in SPLITS}
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    assert len(speakers["test"]) > 50 and len(speakers["train"]) > 400
    assert data.labels[:2] == (SILENCE, UNKNOWN) and len(data.keywords) == 7
    assert all(len(c.samples) == 16000 for c in data.clips)


# --- window, silence, unknown ---------------------------------------------------------


def test_short_clips_are_centred_and_long_ones_trimmed_to_the_loudest_window() -> None:
    short = fit_to_window(np.ones(600, np.int16), WIN)
    assert len(short) == WIN and short[499] == 0 and short[500] == 1 and short[1099] == 1
    assert short[1100] == 0
    loud = np.zeros(3 * WIN, np.int16)
    loud[2000:2100] = 20000
    fitted = fit_to_window(loud, WIN)
    assert len(fitted) == WIN and int(np.abs(fitted.astype(np.int32)).sum()) == 100 * 20000


def test_long_clip_trimmed_with_a_warning_and_too_long_refused(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    write_wav(root / "yes" / "spk00_nohash_7.wav", tone(2 * WIN))
    data = load_audio_dataset(root, CFG)
    assert any("1 clip(s) longer" in w and "yes/spk00_nohash_7.wav" in w for w in data.warnings)
    write_wav(root / "yes" / "spk00_nohash_8.wav", tone(3 * WIN + 1))
    msg = refused(root)
    assert "spk00_nohash_8.wav" in msg and "longer than 3 windows" in msg


def test_silence_from_background_noise_keeps_splits_apart_in_time(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}, noise=2)
    data = load_audio_dataset(root, CFG)
    assert data.labels[0] == SILENCE
    silence = [c for c in data.clips if c.label == SILENCE]
    assert {c.split for c in silence} == set(SPLITS)
    spans = {(r.source, s): (a, b) for r in data.noise for s, a, b in r.spans}
    for clip in silence:
        source, offset = clip.source.rsplit("@", 1)
        a, b = spans[(source, clip.split)]
        assert a <= int(offset) and int(offset) + WIN <= b, clip.source
        assert len(clip.samples) == WIN
    again = load_audio_dataset(root, CFG)
    assert [c.source for c in again.clips] == [c.source for c in data.clips]


def test_unknown_words_are_relabelled(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, "maybe": SPEAKERS})
    cfg = AudioDatasetConfig(window_samples=WIN, unknown_words=("maybe",))
    data = load_audio_dataset(root, cfg)
    assert data.labels == (UNKNOWN, "no", "yes")
    msg = refused(root, AudioDatasetConfig(window_samples=WIN, unknown_words=("nope",)))
    assert "--unknown-words names 'nope', which has no clips (its words: maybe, no, yes)" in msg


def _per_split(data: object, label: str) -> Counter[str]:
    return Counter(c.split for c in data.clips if c.label == label)  # type: ignore[attr-defined]


def test_keywords_make_every_other_word_unknown_and_cap_it(tmp_path: Path) -> None:
    """--keywords yes,no on four words: 'maybe' and 'later' become _unknown_, a speaker
    stays on one side across words, and _unknown_ (twice a keyword's clips in every split)
    keeps as many clips per split as the largest keyword there, from both words."""
    words = {"yes": SPEAKERS, "no": SPEAKERS[:9], "maybe": SPEAKERS, "later": SPEAKERS}
    root = make_folder(tmp_path / "d", words)
    cfg = AudioDatasetConfig(window_samples=WIN, keywords=("yes", "no"))
    data = load_audio_dataset(root, cfg)
    assert data.labels == (UNKNOWN, "no", "yes")
    unknown = [c for c in data.clips if c.label == UNKNOWN]
    assert {c.source.split("/")[0] for c in unknown} == {"maybe", "later"}
    split_of = {c.speaker: c.split for c in data.clips if c.label == "yes"}
    assert all(split_of[c.speaker] == c.split for c in unknown)
    kept, largest = _per_split(data, UNKNOWN), _per_split(data, "yes")
    assert kept == largest  # 'yes' is the largest keyword in every split
    for split in SPLITS:  # drawn in turn from both words
        by_word = Counter(c.source.split("/")[0] for c in unknown if c.split == split)
        assert abs(by_word["maybe"] - by_word["later"]) <= 1, (split, by_word)
    (note,) = data.warnings
    assert f"{UNKNOWN} has more clips than the largest keyword: kept" in note
    assert f"{kept['train']} of {2 * largest['train']} in train" in note
    again = load_audio_dataset(root, cfg)
    assert [c.source for c in again.clips] == [c.source for c in data.clips]
    whole = load_audio_dataset(
        root, AudioDatasetConfig(window_samples=WIN, keywords=("yes", "no"), cap_unknown=False)
    )
    assert _per_split(whole, UNKNOWN) == Counter({s: 2 * n for s, n in largest.items()})
    assert whole.warnings == ()
    # The same words as a list file give the same clips.
    rows = [f"{w}/{f.name},{w}" for w in words for f in sorted((root / w).glob("*.wav"))]
    listed = root / "list.csv"
    listed.write_text("path,label\n" + "\n".join(rows) + "\n")
    from_list = load_audio_dataset(listed, cfg)
    assert sorted((c.source, c.label, c.split) for c in from_list.clips) == sorted(
        (c.source, c.label, c.split) for c in data.clips
    )


def test_a_big_unknown_folder_is_capped_over_its_words(tmp_path: Path) -> None:
    """Speech Commands' flattened _unknown_/<word>_<speaker>_nohash_<n>.wav, three times a
    keyword's clips: the draw keeps each of its words."""
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / UNKNOWN).mkdir()
    for word in ("bed", "cat", "dog"):
        for j, spk in enumerate(SPEAKERS):
            # Each word's own recordings: one take under three names is copies (a note).
            seed = 500 + 100 * ("bed", "cat", "dog").index(word) + j
            write_wav(root / UNKNOWN / f"{word}_{spk}_nohash_0.wav", tone(seed=seed))
    data = load_audio_dataset(root, CFG)
    assert _per_split(data, UNKNOWN) == _per_split(data, "yes")
    train = [c for c in data.clips if c.label == UNKNOWN and c.split == "train"]
    by_word = Counter(Path(c.source).name.split("_")[0] for c in train)
    assert sorted(by_word) == ["bed", "cat", "dog"]
    assert max(by_word.values()) - min(by_word.values()) <= 1, by_word
    assert load_audio_dataset(root, replace(CFG, cap_unknown=False)).warnings == ()


def test_a_small_unknown_class_is_not_touched(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, UNKNOWN: SPEAKERS})
    data = load_audio_dataset(root, CFG)
    assert data.warnings == ()
    assert _per_split(data, UNKNOWN) == _per_split(data, "yes")


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ({"keywords": ("yes", "nope")}, "--keywords names 'nope', which has no clips (its"
         " words: maybe, no, yes)"),
        ({"keywords": ("yes",)}, "only one keyword ('yes'); a keyword model needs at least 2"),
        ({"keywords": ("yes", UNKNOWN)}, f"--keywords names '{UNKNOWN}': a word, not a"),
        ({"unknown_words": (NOISE,)}, f"--unknown-words names '{NOISE}': a word"),
        ({"keywords": ("yes", "no"), "unknown_words": ("no",)}, "'no' is in both --keywords"),
    ],
)  # fmt: skip
def test_word_choices_are_refused_with_one_line(
    tmp_path: Path, words: dict[str, tuple[str, ...]], message: str
) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, "maybe": SPEAKERS})
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(root, AudioDatasetConfig(window_samples=WIN, **words))  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)


# --- list files -----------------------------------------------------------------------


def test_folders_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    # On a case-sensitive disk 'Yes/' and 'yes/' were two keywords no model can tell apart.
    root = make_folder(tmp_path / "d", {"Yes": SPEAKERS, "yes": SPEAKERS, "no": SPEAKERS})
    msg = refused(root)
    assert (
        msg
        == f"{root / 'yes'}: differs from {root / 'Yes'} only in case; put its clips in one folder"
    )


def test_csv_and_jsonl_lists(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    rows = [(f"{w}/{s}_nohash_0.wav", w) for w in ("yes", "no") for s in SPEAKERS]
    csv = root / "list.csv"
    csv.write_text("path,label\n" + "".join(f"{p},{lb}\n" for p, lb in rows) + ",,\n")
    from_csv = load_audio_dataset(csv, CFG)
    assert from_csv.labels == ("no", "yes") and len(from_csv.clips) == len(rows)
    assert {c.speaker for c in from_csv.clips} == set(SPEAKERS)
    jsonl = root / "list.jsonl"
    given = ["train", "val", "test", "training"]
    lines = [
        json.dumps({"path": p, "label": lb, "split": given[i % 4]})
        for i, (p, lb) in enumerate(rows)
    ]
    noise = root / "noise.wav"
    write_wav(noise, tone(20 * WIN, 500))
    lines.append(json.dumps({"path": "noise.wav", "label": NOISE}))  # no split: split in time
    jsonl.write_text("\n".join(lines) + "\n\n")
    from_jsonl = load_audio_dataset(jsonl, CFG)
    assert from_jsonl.labels[0] == SILENCE and len(from_jsonl.noise) == 1
    by_source = {c.source: c.split for c in from_jsonl.clips}
    for i, (p, _) in enumerate(rows):
        assert by_source[p] == {"training": "train"}.get(given[i % 4], given[i % 4])


def test_a_list_written_on_windows_reads_as_the_same_clips(tmp_path: Path) -> None:
    # Clip names without a speaker, so the split is the seeded hash of each path as
    # listed: '\\' and '/' must name the same clips and put them on the same side.
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    for w in ("yes", "no"):
        for f in (root / w).iterdir():
            f.rename(f.with_name(f.name.replace("_nohash_", "-take")))
    names = [f"{w}/{f.name}" for w in ("yes", "no") for f in sorted((root / w).iterdir())]
    (root / "unix.csv").write_text("".join(f"{n},{n.split('/')[0]}\n" for n in names))
    (root / "win.csv").write_text(
        "".join(f"{n.replace('/', chr(92))},{n.split('/')[0]}\r\n" for n in names)
    )
    unix = load_audio_dataset(root / "unix.csv", CFG)
    win = load_audio_dataset(root / "win.csv", CFG)
    assert [(c.source, c.split, c.label) for c in win.clips] == [
        (c.source, c.split, c.label) for c in unix.clips
    ]
    assert {c.split for c in unix.clips} == {"train", "val", "test"}
    (root / "gone.csv").write_text("yes\\nothing.wav,yes\n")
    assert "line 1: yes\\nothing.wav does not exist" in refused(root / "gone.csv")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("path,label\nyes/missing.wav,yes\n", "line 2: yes/missing.wav does not exist"),
        ("yes/spk00_nohash_0.wav\n", "line 1: expected path,label[,split]"),
        ("yes/spk00_nohash_0.wav,yes,holdout\n", "split 'holdout'"),
        ("yes/spk00_nohash_0.wav,yes,train\nno/spk00_nohash_0.wav,no\n", "every clip or for none"),
        ('yes/spk00_nohash_0.wav,"ye\ns"\n', "control characters"),
        ("path,label\n", "no clips listed"),
        ("yes/spk00_nohash_0.wav,\n", "empty path or label"),
        ('yes/spk00_nohash_0.wav,"' + "y" * 200_000 + '"\n', "line 1: field larger than"),
        # A quote never closed is named on its own line, not where the csv module gave up.
        ('path,label\n"yes/a.wav,yes\n' + "no/b.wav,no\n" * 20_000, "line 2: field larger than"),
        ('path,label\n"yes/a.wav,yes\nno/b.wav,no\n', "line 2: expected path,label[,split], got 1"),
        ('"yes/a.wav,yes\nno/b.wav,no\nno/c.wav,no\n', "opened on line 1 runs on to line 3"),
        ("x" * 300 + "/a.wav,yes\n", "line 1: " + "x" * 300 + "/a.wav: File name too long"),
        # Two keywords no model can tell apart ('Yes' and 'yes' were both trained).
        (
            "yes/spk00_nohash_0.wav,yes\nno/spk00_nohash_0.wav,no\nyes/spk01_nohash_0.wav,Yes\n",
            "line 3: label 'Yes' differs from 'yes' (line 1) only in case; spell it one way",
        ),
    ],
)
def test_bad_csv_lists(tmp_path: Path, text: str, words: str) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / "list.csv").write_text(text)
    msg = refused(root / "list.csv")
    assert words in msg and "list.csv" in msg, msg


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{not json", "line 1: invalid JSON"),
        ('{"path": "yes/a.wav", "label": ' + "9" * 5000 + "}", "line 1: invalid JSON (Exceeds"),
        ("[" * 100_000, "line 1: invalid JSON (nested too deeply)"),
        ('["yes/a.wav", "yes"]', "expected an object"),
        ('{"path": "yes/spk00_nohash_0.wav", "label": "yes", "split": 3}', "'split' must be"),
    ],
)
def test_bad_jsonl_lists(tmp_path: Path, line: str, words: str) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / "list.jsonl").write_text(line + "\n")
    assert words in refused(root / "list.jsonl")


# --- refusals ---------------------------------------------------------------------------


def test_names_that_are_not_utf8_are_refused_in_one_line(tmp_path: Path) -> None:
    """Bytes from another system's encoding: labels, speaker hashes and cache keys are
    text, so such a name is refused, named, instead of failing deep in the split."""
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    clip = next((root / "yes").iterdir())
    os.rename(clip, os.fsencode(root / "yes") + b"/caf\xe9_nohash_0.wav")
    assert "yes/caf\\xe9_nohash_0.wav: the name is not UTF-8" in refused(root)
    root = make_folder(tmp_path / "e", {"yes": SPEAKERS, "no": SPEAKERS})
    os.rename(root / "no", os.fsencode(root) + b"/n\xffo")
    assert "n\\xffo: the name is not UTF-8" in refused(root)


def test_missing_empty_and_wrong_kind(tmp_path: Path) -> None:
    assert "no such file or folder" in refused(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert "no keyword folders" in refused(tmp_path / "empty")
    (tmp_path / "x.txt").write_text("hi")
    assert "expected a folder or a .csv/.jsonl" in refused(tmp_path / "x.txt")


def test_keyword_folder_without_wavs(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / "stop").mkdir()
    (root / "stop" / "notes.txt").write_text("no audio here")
    assert refused(root).endswith("stop: no .wav files")


def test_single_keyword(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, UNKNOWN: SPEAKERS}, noise=1)
    assert "only one keyword ('yes'); a keyword model needs at least 2" in refused(root)


def test_label_with_one_clip_or_one_speaker(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "a", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / "up").mkdir()
    write_wav(root / "up" / "spk00_nohash_0.wav", tone(seed=7001))
    assert "label 'up' has 1 clip (up/spk00_nohash_0.wav)" in refused(root)
    write_wav(root / "up" / "spk00_nohash_1.wav", tone(seed=7002))
    msg = refused(root)
    assert "label 'up': all 2 clips are from speaker 'spk00'" in msg, msg


def test_label_without_a_training_speaker(tmp_path: Path) -> None:
    # spk07 and spk30 both hash to test
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, "up": ["spk07", "spk30"]})
    assert "label 'up': none of its 2 speakers falls in the training split" in refused(root)


def test_unknown_special_folder(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / "_noise_").mkdir()
    assert "_noise_: unknown special folder" in refused(root)
    (root / "_noise_").rmdir()
    (root / ".cache").mkdir()  # hidden folders are not data
    assert load_audio_dataset(root, CFG).labels == ("no", "yes")


def test_hidden_files_are_not_clips(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}, noise=1)
    before = load_audio_dataset(root, CFG)
    # What copying from a Mac leaves: AppleDouble '._' files (no audio) next to every
    # clip and recording, and .DS_Store.
    for wav in [*root.glob("*/*.wav")]:
        (wav.parent / f"._{wav.name}").write_bytes(b"\x00\x05\x16\x07" + bytes(78))
        (wav.parent / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    after = load_audio_dataset(root, CFG)
    assert [c.source for c in after.clips] == [c.source for c in before.clips]
    assert after.labels == before.labels
    # A folder holding only hidden files holds no clips.
    (root / "up").mkdir()
    (root / "up" / "._spk00_nohash_0.wav").write_bytes(bytes(82))
    assert refused(root).endswith("up: no .wav files")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"RIFF\x00\x00", "no RIFF/WAVE header"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00"
         b"\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x10\x00\x00\x01\x02", "truncated WAV"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00"
         b"\x10\xb1\x02\x00\x04\x00\x10\x00data\x04\x00\x00\x00\x01\x02\x03\x04", "44100 Hz"),
    ],
    ids=["unreadable", "truncated", "wrong-format"],
)  # fmt: skip
def test_a_bad_wav_is_named(tmp_path: Path, raw: bytes, words: str) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / "no" / "spk03_nohash_5.wav").write_bytes(raw)
    msg = refused(root)
    assert msg.startswith(str(root / "no" / "spk03_nohash_5.wav")) and words in msg, msg


def test_background_recording_shorter_than_the_window(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}, noise=1)
    write_wav(root / NOISE / "short.wav", tone(WIN - 1))
    assert "short.wav: background recording of 0.0999 s is shorter than the 0.1 s" in refused(root)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"val_percent": 60.0, "test_percent": 40.0},
        {"val_percent": -1.0},
        {"window_samples": 0},
        {"silence_percent": 101.0},
        {"max_clip_windows": 0},
    ],
)
def test_bad_config(kwargs: dict[str, float]) -> None:
    with pytest.raises(DatasetError):
        AudioDatasetConfig(**kwargs)  # type: ignore[arg-type]


def test_extra_training_clips_join_train_only(tmp_path: Path) -> None:
    words = {"yes": SPEAKERS, "no": SPEAKERS}
    data = load_audio_dataset(make_folder(tmp_path / "real", words, noise=1), CFG)
    extra_root = make_folder(
        tmp_path / "extra", {"yes": ["tts1", "tts2"], "no": ["tts3", "tts4"]}, fresh=1
    )
    mixed = load_training_clips(extra_root, data)
    added = mixed.clips[len(data.clips) :]
    assert mixed.clips[: len(data.clips)] == data.clips  # DATA's clips as they were
    assert len(added) == 6 and {c.split for c in added} == {"train"}
    assert {c.speaker for c in added} == {"tts1", "tts2", "tts3", "tts4"}
    assert all(c.source.startswith("extra/") for c in added)
    # Validation and test (epoch, threshold, figures) stay DATA's own speakers.
    for split in ("val", "test"):
        assert mixed.split(split) == data.split(split)
    assert mixed.labels == data.labels and mixed.noise is data.noise
    assert mixed.warnings == data.warnings
    # A held-out speaker in the extra set would leak into training: said, not hidden.
    leak = make_folder(
        tmp_path / "leak", {"yes": ["spk16", "tts1"], "no": ["tts2", "tts3"]}, fresh=1
    )
    (warning,) = load_training_clips(leak, data).warnings
    assert "1 speaker(s) also in" in warning and "(first: spk16)" in warning


def test_extra_training_clips_take_the_same_word_choices(tmp_path: Path) -> None:
    """--keywords yes,no: the extra set's 'maybe' is _unknown_ there too, and it need not
    have every word --keywords or --unknown-words names."""
    words = {"yes": SPEAKERS, "no": SPEAKERS, "maybe": SPEAKERS, "later": SPEAKERS}
    cfg = AudioDatasetConfig(window_samples=WIN, keywords=("yes", "no"))
    data = load_audio_dataset(make_folder(tmp_path / "real", words), cfg)
    extra = make_folder(
        tmp_path / "extra", {"yes": ["a", "b"], "no": ["c", "e"], "maybe": ["d", "f"]}, fresh=1
    )
    mixed = load_training_clips(extra, data, keywords=("yes", "no"), unknown_words=("sure",))
    added = mixed.clips[len(data.clips) :]
    assert Counter(c.label for c in added) == {"yes": 3, "no": 3, UNKNOWN: 3}
    with pytest.raises(DatasetError, match="label 'maybe' is not one of"):
        load_training_clips(extra, data)


def test_extra_training_clips_refusals(tmp_path: Path) -> None:
    data = load_audio_dataset(
        make_folder(tmp_path / "real", {"yes": SPEAKERS, "no": SPEAKERS}), CFG
    )
    other = make_folder(tmp_path / "other", {"yes": ["a", "b"], "stop": ["c", "d"]})
    with pytest.raises(DatasetError, match=r"label 'stop' is not one of .*real's labels"):
        load_training_clips(other, data)
    noisy = make_folder(tmp_path / "noisy", {"yes": ["a", "b"], "no": ["c", "d"]}, noise=1)
    mixed = load_training_clips(noisy, data)
    assert not any(c.label == SILENCE for c in mixed.clips)  # the extra's noise is not used
    assert any("recordings are not used" in w for w in mixed.warnings)
    longer = load_audio_dataset(noisy, AudioDatasetConfig(window_samples=2 * WIN))
    with pytest.raises(DatasetError, match="clips of 3200 samples"):
        with_training_clips(data, longer)


# --- round 33: inputs that were taken silently or failed deep in the loader --------------


def test_one_voice_or_one_word_is_extra_training_material(tmp_path: Path) -> None:
    # --extra-train applied the split's rules: a user's own recordings (one speaker) or
    # one synth voice, or a set with a single word, was refused though nothing is split.
    data = load_audio_dataset(
        make_folder(tmp_path / "real", {"yes": SPEAKERS, "no": SPEAKERS}), CFG
    )
    one_voice = make_folder(tmp_path / "voice", {"yes": ["me"], "no": ["me"]}, fresh=1)
    one_word = make_folder(tmp_path / "word", {"yes": ["a", "b"]}, fresh=1)
    for extra in (one_voice, one_word):
        mixed = load_training_clips(extra, data)
        assert len(mixed.clips) > len(data.clips), extra
    # Only the split's counts are dropped: a clip that cannot be read is still refused.
    (one_voice / "no" / "me_nohash_1.wav").write_bytes(b"RIFF\x00\x00")
    with pytest.raises(DatasetError, match=r"no/me_nohash_1\.wav") as info:
        load_training_clips(one_voice, data)
    assert "\n" not in str(info.value)


def test_list_paths_are_one_spelling_and_listed_once(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    for i in range(20):
        write_wav(root / "yes" / f"take{i}.wav", tone(seed=500 + i))
        write_wav(root / "no" / f"take{i}.wav", tone(seed=600 + i))
    rows = [f"{w}/take{i}.wav,{w}\n" for w in ("yes", "no") for i in range(20)]
    (root / "plain.csv").write_text("".join(rows))
    (root / "dot.csv").write_text("".join("./" + r for r in rows))
    plain = {c.source: c.split for c in load_audio_dataset(root / "plain.csv", CFG).clips}
    dot = {c.source: c.split for c in load_audio_dataset(root / "dot.csv", CFG).clips}
    assert dot == plain  # "./yes/take0.wav" hashed to another split before
    # A plain list splits its files as the folder layout does (both hash "yes/take0.wav").
    folder = {c.source: c.split for c in load_audio_dataset(root, CFG).clips}
    assert {source: folder[source] for source in plain} == plain
    assert len(set(plain.values())) > 1  # the seeded hash put the takes on several sides
    twice = "".join(rows) + "yes/./take0.wav,no\n"
    (root / "twice.csv").write_text(twice)
    assert "line 41: yes/take0.wav is already listed on line 1" in refused(root / "twice.csv")


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"path": "yes/\udcff.wav", "label": "yes"}, "line 2: 'yes/\\udcff.wav' is not UTF-8"),
        ({"path": "yes/spk01_nohash_0.wav", "label": "_unknown"}, "special label '_unknown'"),
        ({"path": "yes/a\nb.wav", "label": "yes"}, "path 'yes/a\\nb.wav' has control characters"),
    ],
)
def test_odd_list_rows_are_refused(tmp_path: Path, row: dict[str, str], words: str) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    # The file whose non-UTF-8 name (b"\xff.wav") json.dumps wrote as "\udcff"; a file
    # system that takes UTF-8 names only refuses it, and the line is refused all the same.
    with contextlib.suppress(OSError):
        write_wav(root / "yes" / "\udcff.wav", tone())
    first = json.dumps({"path": "no/spk00_nohash_0.wav", "label": "no"})
    (root / "list.jsonl").write_text(first + "\n" + json.dumps(row) + "\n")
    assert words in refused(root / "list.jsonl")


def test_list_cells_are_stripped_and_the_header_may_follow_a_blank_line(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    rows = [(f"{w}/{s}_nohash_0.wav", w) for w in ("yes", "no") for s in SPEAKERS]
    # "yes " in JSONL was a third keyword; the CSV reader already stripped its cells.
    lines = [json.dumps({"path": f" {p}", "label": f"{lb} ", "split": "train "}) for p, lb in rows]
    (root / "list.jsonl").write_text("\n".join(lines) + "\n")
    with_split = load_audio_dataset(root / "list.jsonl", CFG)
    assert with_split.labels == ("no", "yes") and {c.split for c in with_split.clips} == {"train"}
    (root / "list.csv").write_text("\npath,label\n" + "".join(f"{p},{lb}\n" for p, lb in rows))
    assert load_audio_dataset(root / "list.csv", CFG).labels == ("no", "yes")
    # A row of blanks is skipped by the loader; the modality sniffer skips it too.
    from tinyslm.modality import AUDIO, modality_of_data

    (root / "blanks.csv").write_text("  ,\npath,label\n" + "".join(f"{p},{lb}\n" for p, lb in rows))
    assert modality_of_data(root / "blanks.csv").name == AUDIO
    assert load_audio_dataset(root / "blanks.csv", CFG).labels == ("no", "yes")


def test_clips_the_folder_layout_would_leave_out_are_refused(tmp_path: Path) -> None:
    nested = make_folder(tmp_path / "nested", {"yes": SPEAKERS, "no": SPEAKERS})
    (nested / "yes" / "session2").mkdir()
    write_wav(nested / "yes" / "session2" / "spk40_nohash_0.wav", tone())
    assert "yes/session2: a folder inside a label folder" in refused(nested)
    dangling = make_folder(tmp_path / "dangling", {"yes": SPEAKERS, "no": SPEAKERS})
    os.symlink(tmp_path / "nowhere.wav", dangling / "no" / "broken.wav")
    assert "no/broken.wav: not a readable file" in refused(dangling)
    control = make_folder(tmp_path / "control", {"yes": SPEAKERS, "a\nb": SPEAKERS})
    assert "the name has control characters" in refused(control)


def test_a_list_with_a_byte_order_mark_is_audio(tmp_path: Path) -> None:
    # The loaders read utf-8-sig; the modality sniffer read utf-8, so "\ufeffpath" was
    # not a header and train called the list text data ("missing column(s) text").
    from tinyslm.modality import AUDIO, modality_of_data

    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    rows = [(f"{w}/{s}_nohash_0.wav", w) for w in ("yes", "no") for s in SPEAKERS]
    bom = "\ufeff"
    (root / "list.csv").write_text(
        bom + "path,label\r\n" + "".join(f"{p},{lb}\r\n" for p, lb in rows)
    )
    (root / "list.jsonl").write_text(
        bom + "".join(json.dumps({"path": p, "label": lb}) + "\n" for p, lb in rows)
    )
    for name in ("list.csv", "list.jsonl"):
        assert modality_of_data(root / name).name == AUDIO, name
        assert load_audio_dataset(root / name, CFG).labels == ("no", "yes")
