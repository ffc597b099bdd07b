"""Round 43, keyword data as a user brings it (kwe2e report, defects 1-9): lists of WAV
files in other shapes, list paths, clips without speaker names, the threshold advice,
Unicode forms, format refusals, other audio files and the background folder's wording."""

from __future__ import annotations

import hashlib
import json
import struct
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_audio_dataset import CFG, SPEAKERS, WIN, refused, tone  # one set of tiny-clip helpers

from tinyslm.audio.dataset import (
    NOISE,
    UNKNOWN,
    AudioDatasetConfig,
    load_audio_dataset,
    which_set,
)
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError
from tinyslm.modality import AUDIO, TEXT, check_data_modality, modality_of_data


def make_folder(root: Path) -> Path:
    """yes/ and no/ with one clip per speaker of SPEAKERS (all splits present)."""
    for i, word in enumerate(("yes", "no")):
        (root / word).mkdir(parents=True)
        for j, spk in enumerate(SPEAKERS):
            write_wav(root / word / f"{spk}_nohash_0.wav", tone(seed=i * 100 + j))
    return root


def clip_rows(root: Path) -> list[tuple[str, str]]:
    return [(f"{w}/{s}_nohash_0.wav", w) for w in ("yes", "no") for s in SPEAKERS]


# --- 1: a list of WAV files is audio data, refused for what an audio list needs ----------


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("file.csv", "file,label,split\n{rows3}",
         "needs the header path,label (split optional), got file,label,split"),
        ("fname.csv", "filename,label\n{rows2}", "got filename,label"),
        ("semi.csv", "path;label;split\n{semi}",
         "line 1: fields are separated by ';'; separate them with ','"),
        ("nohead.csv", "{semi}", "line 1: fields are separated by ';'"),
        ("tabs.csv", "path\tlabel\n{tabs}", "separated by tabs"),
        ("tabs.tsv", "path\tlabel\n{tabs}", "expected a folder or a .csv/.jsonl list"),
        ("file.jsonl", "{jsonl}",
         "expected an object with string 'path' and 'label' ('split' optional)"
         " (got the keys file, label)"),
    ],
)  # fmt: skip
def test_a_list_of_wavs_in_another_shape_is_audio_and_refused_as_a_list(
    tmp_path: Path, name: str, text: str, words: str
) -> None:
    root = make_folder(tmp_path / "d")
    rows = clip_rows(root)
    data = root / name
    data.write_text(
        text.format(
            rows3="".join(f"{p},{lb},\n" for p, lb in rows),
            rows2="".join(f"{p},{lb}\n" for p, lb in rows),
            semi="".join(f"{p};{lb}\n" for p, lb in rows),
            tabs="".join(f"{p}\t{lb}\n" for p, lb in rows),
            jsonl="".join(json.dumps({"file": p, "label": lb}) + "\n" for p, lb in rows),
        )
    )
    # Before: TEXT, and train said "missing column(s) text", eval "holds text data".
    assert modality_of_data(data).name == AUDIO
    check_data_modality(data, AUDIO)  # not "holds text data (intents)"
    msg = refused(data)
    assert words in msg and "text" not in msg.replace(str(tmp_path), ""), msg


def test_a_headerless_list_with_the_keyword_text_is_audio(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("yes/a.wav,text\nno/b.wav,no\n")
    assert modality_of_data(tmp_path / "l.csv").name == AUDIO


def test_text_datasets_stay_text(tmp_path: Path) -> None:
    for text in (
        "text,label\nplay the file.wav,play\n",
        "path,text,label\na,hello,greet\n",
        "label;text\ngreet;hello\n",
        # malformed text datasets (review): their own refusal, not the audio loader's
        "turn on the light,on\nplay song.wav,play\n",
        "phrase,intent\nplay song.wav,play\n",
        "phrase,intent\nturn it up,up\nplay song.wav,play\n",
    ):
        (tmp_path / "t.csv").write_text(text)
        assert modality_of_data(tmp_path / "t.csv").name == TEXT, text
    for row in (
        {"text": "x.wav", "label": "a"},
        {"Text": "play a.wav", "label": "play"},
        {"utterance": "play a.wav", "intent": "play"},
    ):
        (tmp_path / "t.jsonl").write_text(json.dumps(row) + "\n")
        assert modality_of_data(tmp_path / "t.jsonl").name == TEXT, row


# --- 2: a header in another column order -----------------------------------------------


def test_a_header_in_another_order_reads_the_same_clips(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    rows = clip_rows(root)
    given = ["train", "val", "test", ""]
    (root / "pls.csv").write_text(
        "path,label,split\n"
        + "".join(f"{p},{lb},{given[i % 3]}\n" for i, (p, lb) in enumerate(rows))
    )
    (root / "psl.csv").write_text(
        "Path,Split,Label\n"
        + "".join(f"{p},{given[i % 3]},{lb}\n" for i, (p, lb) in enumerate(rows))
    )
    (root / "lp.csv").write_text("label,path\n" + "".join(f"{lb},{p}\n" for p, lb in rows))
    (root / "pl.csv").write_text("path,label\n" + "".join(f"{p},{lb}\n" for p, lb in rows))

    def seen(name: str) -> list[tuple[str, str, str]]:
        return [(c.source, c.label, c.split) for c in load_audio_dataset(root / name, CFG).clips]

    # Before: "line 1: split 'label' is not train, val or test".
    assert seen("psl.csv") == seen("pls.csv")
    assert seen("lp.csv") == seen("pl.csv")
    (root / "bad.csv").write_text("path,split,label\nyes/spk00_nohash_0.wav,yes\n")
    assert "line 2: expected 3 fields as the header names, got 2" in refused(root / "bad.csv")


# --- 3: list paths are relative to the list's folder --------------------------------------


def test_a_path_relative_to_the_current_folder_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    (root / "cwd.csv").write_text("path,label\nd/yes/spk00_nohash_0.wav,yes\n")
    msg = refused(Path("d/cwd.csv"))
    assert msg.startswith("d/cwd.csv: line 2: d/yes/spk00_nohash_0.wav does not exist"), msg
    assert "looked for d/d/yes/spk00_nohash_0.wav: list paths are relative to the list's" in msg
    assert "exists relative to the current folder: list it as yes/spk00_nohash_0.wav" in msg
    (root / "gone.csv").write_text("path,label\nyes/nothing.wav,yes\n")
    msg = refused(Path("d/gone.csv"))
    assert "relative to the list's folder)" in msg and "current folder" not in msg, msg


# --- 4: clips without speaker names -------------------------------------------------------


def _names(label: str, want: str, n: int, seed: int = 0) -> list[str]:
    """``n`` clip names without a speaker that the seeded hash puts in split ``want``
    (``"held"``: val or test) under folder ``label``."""
    out = []
    for i in range(1000):
        name = f"take {i}.wav"
        got = which_set(f"{seed}:{label}/{name}", 10, 10)
        if got == want or (want == "held" and got != "train"):
            out.append(name)
        if len(out) == n:
            return out
    raise AssertionError("no names found")


def test_clips_without_speakers_are_not_called_speakers(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d1")
    (root / "stop").mkdir()
    for i, name in enumerate(_names("stop", "held", 2)):
        write_wav(root / "stop" / name, tone(seed=500 + i))
    msg = refused(root)
    # Before: "none of its 2 speakers ...; add speakers or lower val/test percentages"
    # (train has no such option, and these clips carry no speaker).
    assert "label 'stop': none of its 2 clips falls in the training split" in msg, msg
    assert "speakers" not in msg.split("split; ")[1].replace("more speakers", "")
    assert "percentages" not in msg and "--seed" in msg, msg


def test_a_list_with_splits_names_its_split_column(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    rows = [(p, lb, "test" if lb == "no" else "train") for p, lb in clip_rows(root)]
    (root / "l.csv").write_text("".join(f"{p},{lb},{s}\n" for p, lb, s in rows))
    msg = refused(root / "l.csv")
    assert "none of its 14 clips falls in the training split; the list's split column" in msg


def test_an_empty_split_of_named_clips_names_the_seed(tmp_path: Path) -> None:
    from tinyslm.audio.train import AudioTrainConfig, train_audio

    root = tmp_path / "d3"
    for k, label in enumerate(("yes", "no")):
        (root / label).mkdir(parents=True)
        for i, name in enumerate(_names(label, "train", 3)):
            write_wav(root / label / name, tone(seed=100 * k + i))
    dataset = load_audio_dataset(root, CFG)
    assert {c.split for c in dataset.clips} == {"train"}
    with pytest.raises(DatasetError) as info:
        train_audio(dataset, AudioTrainConfig(), None)
    msg = str(info.value)
    # Before: "the val split has no clips; add speakers or clips".
    assert msg.startswith("the val split has no clips; ") and "--seed" in msg, msg
    assert "add speakers" not in msg, msg


# --- 5: the threshold advice names only what the val streams lacked -----------------------


def test_threshold_advice_is_built_from_the_val_streams() -> None:
    from tinyslm.audio.fit import threshold_advice

    def advice(q: int, found: bool, noise: float, unknown: float, source: str = "") -> str | None:
        streams = SimpleNamespace(
            threshold_q=q, threshold_found=found, val_noise_seconds=noise,
            val_unknown_seconds=unknown,
        )  # fmt: skip
        return threshold_advice(streams, "", source)  # type: ignore[arg-type]

    assert advice(40, True, 9.0, 6.0) is None
    # Round 48: a threshold chosen on streams without noise or unknown words said nothing.
    bare = advice(40, True, 0.0, 0.0)
    assert bare == (
        f"the validation streams have no background noise ({NOISE}) and {UNKNOWN} recordings,"
        f" so threshold_q 40 was chosen without them: add background noise ({NOISE}) and"
        f" {UNKNOWN} recordings to check it there"
    )
    no_noise = advice(40, True, 0.0, 6.0)
    assert no_noise is not None and f"no background noise ({NOISE}), so" in no_noise
    assert UNKNOWN not in no_noise
    # Round 48 review: "without them" of one kind, and where to add it (an --extra-train
    # set's noise never reaches the validation streams).
    assert advice(40, True, 0.0, 6.0, "data/kws") == (
        f"the validation streams have no background noise ({NOISE}), so threshold_q 40 was"
        f" chosen without it: add background noise ({NOISE}) to data/kws to check it there"
    )
    assert advice(40, True, 9.0, 0.0, "data/kws") == (
        f"the validation streams have no {UNKNOWN} recordings, so threshold_q 40 was chosen"
        f" without it: add {UNKNOWN} recordings to data/kws to check it there"
    )
    named = advice(127, False, 0.0, 6.0, "data/kws")
    assert named is not None and named.endswith(f"add background noise ({NOISE}) to data/kws")
    both = advice(-128, True, 9.0, 6.0)
    # Before: "add background noise and _unknown_ recordings" to data that had both.
    assert both is not None and "even at the loosest threshold" in both
    assert "add " not in both and "fired on nothing in their 9.0 s of noise and 6.0 s" in both
    lacking = advice(-128, True, 9.0, 0.0)
    assert lacking is not None and f"add {UNKNOWN} recordings," in lacking
    assert "background noise" not in lacking
    every = advice(127, False, 0.0, 6.0)
    assert every is not None and every.endswith(f"add background noise ({NOISE})")
    fires = advice(127, False, 9.0, 6.0)
    assert fires is not None and "add " not in fires and "train longer" in fires


# --- 6: Unicode normalisation -------------------------------------------------------------


def test_a_list_finds_a_file_named_in_the_other_unicode_form(tmp_path: Path) -> None:
    root = tmp_path / "nfd"
    rows = ["path,label"]
    for k, label in enumerate(("yes", "no")):
        (root / label).mkdir(parents=True)
        for i in range(2):
            name = f"Aufnahme_{i}_über.wav"
            write_wav(root / label / unicodedata.normalize("NFD", name), tone(seed=100 * k + i))
            rows.append(f"{label}/{unicodedata.normalize('NFC', name)},{label}")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    config = AudioDatasetConfig(window_samples=WIN, training_rules=False)
    # Before: "line 2: yes/Aufnahme_0_über.wav does not exist".
    data = load_audio_dataset(root / "list.csv", config)
    assert len(data.clips) == 4
    # The clip keeps the list's spelling: the seeded split is the list's on every OS.
    expected = {
        f"{lb}/{unicodedata.normalize('NFC', f'Aufnahme_{i}_über.wav')}"
        for lb in ("yes", "no")
        for i in range(2)
    }
    assert {c.source for c in data.clips} == expected
    for c in data.clips:
        assert c.split == which_set(f"0:{c.source}", 10, 10)


# --- 7: a format refusal counts the other files in that format -----------------------------


def wav_48k_stereo(n: int = 800) -> bytes:
    pcm = np.zeros(2 * n, dtype="<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 2, 48000, 48000 * 4, 4, 16)
    return (
        b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(pcm)) + b"WAVE"
        + b"LIST" + struct.pack("<I", 5) + b"INFO!" + b"\x00"  # a chunk before fmt, padded
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", len(pcm)) + pcm
    )  # fmt: skip


def test_a_format_refusal_counts_the_others(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    one = root / "no" / "spk03_nohash_0.wav"
    one.write_bytes(wav_48k_stereo())
    msg = refused(root)
    assert "48000 Hz, 2 channel(s), 16-bit PCM" in msg and "more file" not in msg, msg
    (root / "yes" / "spk05_nohash_0.wav").write_bytes(wav_48k_stereo(1600))
    msg = refused(root)
    # Before: only the first file named; the user converted it and met the next.
    assert "(and 1 more file(s) of this dataset in this format: convert them all)" in msg, msg


# --- 8: other audio files are said, not skipped unsaid --------------------------------------


def test_audio_files_that_are_not_wav_are_named(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    before = load_audio_dataset(root, CFG)
    assert not before.warnings
    for i in (1, 2):
        (root / "yes" / f"New Recording {i}.m4a").write_bytes(b"\x00" * 64)
    (root / "no" / "notes.txt").write_text("not audio")
    after = load_audio_dataset(root, CFG)
    assert [c.source for c in after.clips] == [c.source for c in before.clips]
    assert after.warnings == (
        "2 audio file(s) that are not .wav were skipped (first: yes/New Recording 1.m4a);"
        " tinyslm reads .wav clips only: convert them to 16 kHz mono 16-bit .wav with sox"
        " or ffmpeg",
    )
    assert after.warnings_for("test") == after.warnings
    (root / "stop").mkdir()
    (root / "stop" / "a.m4a").write_bytes(b"\x00")
    (root / "stop" / "b.wave").write_bytes(b"\x00")
    msg = refused(root)
    # Before: "stop: no .wav files", nothing of what it holds.
    assert msg.endswith(
        "stop: no .wav files (its audio files are not .wav: 1 .m4a, 1 .wave; convert them to"
        " 16 kHz mono 16-bit .wav with sox or ffmpeg (or rename a .wave to .wav))"
    ), msg


# --- 9: the background folder's wording --------------------------------------------------


def test_background_refusals_speak_of_recordings_and_seconds(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    (root / NOISE).mkdir()
    write_wav(root / NOISE / "fan.wav", tone(WIN // 2))
    msg = refused(root)
    assert msg.endswith(
        "fan.wav: background recording of 0.05 s is shorter than the 0.1 s window;"
        " record at least 0.1 s (minutes are better)"
    ), msg
    (root / NOISE / "fan.wav").unlink()
    (root / NOISE / "Living room").mkdir()
    write_wav(root / NOISE / "Living room" / "a.wav", tone(20 * WIN))
    msg = refused(root)
    assert f"Living room: a folder inside {NOISE}; put its recordings directly in" in msg, msg
    assert "label folder" not in msg


# --- the seeded split of existing datasets is unchanged ------------------------------------


def _speech_commands_style(root: Path) -> None:
    k = 0
    for word in ("yes", "no", "up", UNKNOWN):
        (root / word).mkdir(parents=True)
        for i in range(30):
            spk = hashlib.sha1(f"{word}{i % 17}".encode()).hexdigest()[:8]
            pre = f"w{i % 3}_" if word == UNKNOWN else ""
            write_wav(root / word / f"{pre}{spk}_nohash_{i}.wav", tone(seed=k))
            k += 1
        for i in range(6):
            write_wav(root / word / f"rec {i} über.wav", tone(seed=k))
            k += 1
    (root / NOISE).mkdir()
    write_wav(root / NOISE / "n.wav", tone(40 * WIN, seed=9))


def test_a_speech_commands_style_folder_splits_exactly_as_before(tmp_path: Path) -> None:
    _speech_commands_style(tmp_path / "sc")
    # Fingerprints taken before round 43's changes (labels, and each clip's label,
    # split, speaker and source).
    for seed, fingerprint in ((0, "9677395fb99ec589"), (1, "dffa6c2203323771")):
        data = load_audio_dataset(
            tmp_path / "sc", AudioDatasetConfig(window_samples=WIN, seed=seed)
        )
        rows = [(c.label, c.split, c.speaker, c.source) for c in data.clips]
        got = hashlib.sha256(repr((data.labels, rows)).encode()).hexdigest()[:16]
        assert got == fingerprint, seed


def test_eval_of_clips_without_speakers_says_how_they_are_split(tmp_path: Path) -> None:
    from tinyslm.audio.evaluate import load_for_model

    root = tmp_path / "v_one"
    for k, label in enumerate(("yes", "no")):
        (root / label).mkdir(parents=True)
        write_wav(root / label / _names(label, "train", 1)[0], tone(seed=k))
    manifest = SimpleNamespace(
        features=SimpleNamespace(window_samples=WIN), seed=0, labels=("yes", "no")
    )
    with pytest.raises(DatasetError) as info:
        load_for_model(root, "test", manifest, print)  # type: ignore[arg-type]
    msg = str(info.value)
    # Before: "clips are split by speaker as training splits them" of clips with no speaker.
    assert "split 'test' has no clips" in msg and "one by one with the model's seed" in msg, msg
    assert "--split all scores every clip" in msg


def test_skipped_and_key_names_are_shown_on_one_line(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    (root / "yes" / "memo\n1.m4a").write_bytes(b"\x00")
    (root / "yes" / "memo\udcff.mp3").write_bytes(b"\x00")  # not UTF-8
    note = load_audio_dataset(root, CFG).warnings[0]
    assert note.startswith("2 audio file(s) that are not .wav were skipped (first: 'yes/memo")
    assert "\n" not in note and note.isprintable()
    note.encode("utf-8")
    (root / "l.jsonl").write_text(json.dumps({"fi\nle": "yes/a.wav", "label": "yes"}) + "\n")
    msg = refused(root / "l.jsonl")
    assert "(got the keys 'fi\\nle', label)" in msg, msg
