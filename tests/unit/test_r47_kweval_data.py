"""Round 47 (kweval report, items 1, 2 and 7): data that ``eval`` / ``emulate --data``
scored dishonestly, and clips the loader took twice.

1. a data label that is the model's keyword spelled otherwise (``Yes/`` for ``yes``,
   ``café`` in NFD for the model's NFC) was scored as an unknown word; now refused;
2. a model without an ``_unknown_`` output never had its unknown-word false accepts
   measured (the clips were left out of the streams, "(no audio)");
7. a clip hard-linked into two label folders (or listed twice by two hard links) was
   two clips.

The committed fixture model (tests/fixtures/kws.py) is read; nothing here trains.
"""

from __future__ import annotations

import functools
import os
import sys
import unicodedata
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.evaluate import keyword_warnings, load_for_model, run_keyword_eval
from tinyslm.audio.wav import write_wav
from tinyslm.emulate.keywords import load_keyword_data
from tinyslm.errors import DatasetError
from tinyslm.manifest import Manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest  # noqa: E402

RATE = 16000
CAFE_NFC = "caf\u00e9"
CAFE_NFD = unicodedata.normalize("NFD", CAFE_NFC)


@functools.cache
def _manifest() -> Manifest:
    """The fixture's manifest (its arena probe is a subprocess: once)."""
    return keyword_manifest()


def _without(label: str) -> Manifest:
    base = _manifest()
    return replace(base, labels=tuple(lb for lb in base.labels if lb != label))


def _clips(folder: Path, label: str, n: int, seconds: float = 1.0) -> list[Path]:
    out = []
    for i in range(n):
        path = folder / label / f"spk{i}_nohash_0.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(hash((label, i)) % 2**32)
        write_wav(path, rng.normal(0, 800, int(seconds * RATE)).astype(np.int16))
        out.append(path)
    return out


def _refused(data: Path, manifest: Manifest, split: str = "all") -> str:
    with pytest.raises(DatasetError) as info:
        load_for_model(data, split, manifest, lambda _line: None)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- 1. the model's keyword spelled otherwise -------------------------------------------


def test_a_folder_of_the_keyword_in_another_case_is_refused(tmp_path: Path) -> None:
    # Before: its 2 clips were "_unknown_", every detection of "yes" a false accept.
    data = tmp_path / "d"
    _clips(data, "Yes", 2)
    _clips(data, "no", 2)
    assert _refused(data, _manifest()) == (
        f"{data / 'Yes'}: differs from the model's keyword 'yes' only in case; rename it 'yes'"
    )
    # emulate --data reads the data the same way
    with pytest.raises(DatasetError, match="only in case"):
        load_keyword_data(data, _manifest(), "all")


def test_a_lone_folder_of_the_keyword_in_another_case_is_named_as_such(tmp_path: Path) -> None:
    # Not "none of the model's keywords is in this dataset ... put their clips in _unknown_/".
    data = tmp_path / "d"
    _clips(data, "YES", 2)
    assert _refused(data, _manifest()).startswith(
        f"{data / 'YES'}: differs from the model's keyword 'yes' only in case"
    )


def test_a_list_label_of_the_keyword_in_another_case_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "d"
    paths = _clips(data, "no", 2) + _clips(data, "yes", 2)
    rows = "".join(f"{p.relative_to(data)},{'No' if 'no' in p.parts else 'yes'}\n" for p in paths)
    (data / "clips.csv").write_text("path,label\n" + rows)
    assert _refused(data / "clips.csv", _manifest()) == (
        f"{data / 'clips.csv'}: label 'No' differs from the model's keyword 'no' only in"
        " case; spell it 'no'"
    )


def test_a_folder_of_the_keyword_in_another_unicode_form_is_refused(tmp_path: Path) -> None:
    # macOS copies names in NFD: the table showed "scored as _unknown_  café", no
    # difference to see.
    base = _manifest()
    manifest = replace(base, labels=("_silence_", "_unknown_", "no", "up", CAFE_NFC))
    data = tmp_path / "d"
    _clips(data, CAFE_NFD, 2)
    _clips(data, "no", 2)
    assert _refused(data, manifest) == (
        f"{data / CAFE_NFD}: differs from the model's keyword {CAFE_NFC!r} only in Unicode"
        f" form (NFD against NFC); rename it {CAFE_NFC!r} in NFC"
    )


def test_other_words_are_still_scored_as_unknown(tmp_path: Path) -> None:
    data = tmp_path / "d"
    _clips(data, "yes", 2)
    _clips(data, "bed", 2)
    _, _, extra = load_for_model(data, "all", _manifest(), lambda _line: None)
    assert extra == ("bed",)


def test_training_refuses_two_labels_in_two_unicode_forms(tmp_path: Path) -> None:
    # One label in training's eyes is one label in eval's: 'café' in NFC and NFD were
    # two keywords that even look the same.
    data = tmp_path / "d"
    _clips(data, CAFE_NFC, 2)
    _clips(data, CAFE_NFD, 2)
    config = AudioDatasetConfig(window_samples=RATE, training_rules=False)
    with pytest.raises(DatasetError, match=r"only in Unicode form \(NF[CD] against NF[CD]\)"):
        load_audio_dataset(data, config)
    rows = "".join(
        f"{p.relative_to(data)},{label}\n"
        for label in (CAFE_NFC, CAFE_NFD)
        for p in sorted((data / label).iterdir())
    )
    (data / "clips.csv").write_text("path,label\n" + rows)
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(data / "clips.csv", config)
    assert str(info.value) == (
        f"{data / 'clips.csv'}: line 4: label {CAFE_NFD!r} differs from {CAFE_NFC!r}"
        " (line 2) only in Unicode form (NFD against NFC); spell it one way"
    )


# --- 2. a model without _unknown_: the unknown-word stream ------------------------------


def _loud_yes(windows: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """A stand-in model that hears "yes" in every window."""
    out = np.full((len(windows), len(labels)), -128, np.int8)
    out[:, labels.index("yes")] = 127
    return out


def test_eval_streams_unknown_words_for_a_model_without_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: unknown_seconds 0 and unknown words "n/a (no audio)" with 3 clips there.
    import tinyslm.audio.train as train

    manifest = _without("_unknown_")
    monkeypatch.setattr(train, "tflm_predict", lambda _m, w: _loud_yes(w, manifest.labels))
    data = tmp_path / "d"
    _clips(data, "_unknown_", 3)
    result = run_keyword_eval(data, "all", manifest, b"", lambda _line: None)
    summary = result.summary()
    assert summary["unknown_seconds"] > 3.0
    assert result.stream.unknown_false_accepts > 0  # every detection a false accept
    assert (result.clips, result.correct) == (3, 0)  # as clips: wrong, the model lacks it
    assert "_unknown_" not in dict((lb, n) for lb, n, _ in result.per_label)
    (warning,) = result.warnings
    assert warning == (
        "3 of 3 clips are of a class the model does not have (_unknown_ 3): they count as"
        " wrong as clips; they are streamed as unknown words"
    )


def test_emulate_data_streams_unknown_words_for_a_model_without_unknown(
    tmp_path: Path,
) -> None:
    # Before: refused, "nothing to stream ... (_unknown_ 3)".
    manifest = _without("_unknown_")
    data = tmp_path / "d"
    _clips(data, "_unknown_", 3)
    loaded = load_keyword_data(data, manifest, "all")
    assert [c.label for c in loaded.dataset.split(loaded.split)] == ["_unknown_"] * 3
    assert loaded.warnings == ()  # emulate scores no clip on its own: nothing is left out


def test_the_streams_still_leave_silence_clips_out(tmp_path: Path) -> None:
    # A _silence_ clip is in no stream (stream_material): such a split is still refused.
    manifest = _without("_silence_")
    data = tmp_path / "d"
    paths = _clips(data, "x", 2)
    (data / "clips.csv").write_text(
        "path,label\n" + "".join(f"{p.relative_to(data)},_silence_\n" for p in paths)
    )
    with pytest.raises(DatasetError, match=r"nothing to stream .* \(_silence_ 2\)"):
        load_keyword_data(data / "clips.csv", manifest, "all")


def test_the_warning_says_which_clips_the_streams_take(tmp_path: Path) -> None:
    data = tmp_path / "d"
    paths = _clips(data, "_unknown_", 2) + _clips(data, "yes", 2) + _clips(data, "x", 1)
    label = {"_unknown_": "_unknown_", "yes": "yes", "x": "_silence_"}
    rows = "".join(f"{p.relative_to(data)},{label[p.parent.name]}\n" for p in paths)
    (data / "clips.csv").write_text("path,label\n" + rows)
    manifest = replace(_manifest(), labels=("no", "up", "yes"))
    dataset, split, _ = load_for_model(data / "clips.csv", "all", manifest, lambda _line: None)
    assert keyword_warnings(dataset, "all", split, manifest) == (
        "3 of 5 clips are of a class the model does not have (_silence_ 1, _unknown_ 2): they"
        " count as wrong as clips; the streams take the _unknown_ clips as unknown words and"
        " leave the _silence_ clips out",
    )
    assert keyword_warnings(dataset, "all", split, manifest, clips_scored=False) == (
        "1 of 5 clips are of a class the model does not have (_silence_ 1): the streams"
        " leave them out",
    )


# --- 7. hard links ----------------------------------------------------------------------


def test_a_clip_hard_linked_into_a_second_label_folder_is_refused(tmp_path: Path) -> None:
    # Before: taken as a "yes" clip and a "no" clip (a symbolic link was refused).
    data = tmp_path / "d"
    first = _clips(data, "yes", 2)[0]
    _clips(data, "no", 2)
    os.link(first, data / "no" / "zz_copy.wav")
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(data, AudioDatasetConfig(window_samples=RATE, training_rules=False))
    assert str(info.value) == (
        f"{data / 'no' / 'zz_copy.wav'}: the same file as {first} (a hard link); a clip"
        " belongs in one place"
    )


def test_a_list_naming_one_file_by_two_hard_links_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = _clips(data, "yes", 2)[0]
    _clips(data, "no", 2)
    os.link(first, data / "no" / "zz_copy.wav")
    (data / "clips.csv").write_text("path,label\nyes/spk0_nohash_0.wav,yes\nno/zz_copy.wav,no\n")
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(data / "clips.csv", AudioDatasetConfig(training_rules=False))
    assert str(info.value) == (
        f"{data / 'clips.csv'}: line 3: no/zz_copy.wav is already listed on line 2"
        " (as yes/spk0_nohash_0.wav)"
    )


def test_how_labels_differ_names_case_and_unicode_form_and_a_mixed_name() -> None:
    import unicodedata

    from tinyslm.audio.dataset import how_labels_differ

    nfd = unicodedata.normalize("NFD", "Café")
    assert how_labels_differ(nfd, "café") == "only in case and Unicode form (NFD against NFC)"
    # One é composed, one decomposed: neither NFC nor NFD, not called NFD.
    mixed = "\u00e9e\u0301"
    assert how_labels_differ(mixed, "\u00e9\u00e9") == (
        "only in Unicode form (mixed NFC/NFD against NFC)"
    )
