"""Round 48, rev2 review of the keyword data: messages said only where they are true.

1. the held-out-copies warning ("the test figures will be optimistic") only in training's
   load: eval scored data the model never trained on, and named val figures under
   ``--split all``, which prints none;
2. an --extra-train set's ``_silence_/`` clips are dropped with a note, not silently;
3. eval / emulate --data refuse ``_unknown_/`` clips named as one of the MODEL's keywords;
4. a ``tinyslm synth`` folder's refusal says to synthesize every keyword, or no unknowns;
5. that refusal counts every keyword's clips;
6. the benchmark refuses more than 16 labels in train's words (its own advice).

The committed fixture model (keywords no, up, yes) is read; nothing here trains.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from test_audio_dataset import CFG, SPEAKERS, WIN, make_folder, tone

from tinyslm.audio.dataset import (
    SILENCE,
    UNKNOWN,
    load_audio_dataset,
    load_training_clips,
)
from tinyslm.audio.detector import MAX_LABELS
from tinyslm.audio.evaluate import keyword_warnings, load_for_model
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError
from tinyslm.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
from kws import keyword_manifest  # noqa: E402

COPY_NOTE = "copies of training clips"


@functools.cache
def _manifest() -> Manifest:
    """The fixture's manifest (its arena probe is a subprocess: once)."""
    return keyword_manifest()


def _one_line(call: object, *args: object) -> str:
    with pytest.raises(DatasetError) as info:
        call(*args)  # type: ignore[operator]
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# --- 1. held-out copies: training's load only ------------------------------------------


def _with_held_out_copies(root: Path) -> Path:
    """yes/no by speaker, with a train clip copied to a test (spk07) and a val (spk10)
    speaker's name: copies the split by speaker puts on the held-out side."""
    make_folder(root, {"yes": SPEAKERS, "no": SPEAKERS})
    for spk in ("spk07", "spk10"):
        shutil.copyfile(root / "yes" / "spk00_nohash_0.wav", root / "yes" / f"{spk}_nohash_1.wav")
    return root


def test_training_still_warns_about_held_out_copies(tmp_path: Path) -> None:
    data = load_audio_dataset(_with_held_out_copies(tmp_path / "d"), CFG)
    assert any(COPY_NOTE in w and "test figures" in w for w in data.warnings_for("test"))
    assert any(COPY_NOTE in w and "val figures" in w for w in data.warnings_for("val"))


def test_eval_of_data_the_model_did_not_learn_says_nothing_of_optimistic_figures(
    tmp_path: Path,
) -> None:
    data = _with_held_out_copies(tmp_path / "d")
    manifest = _manifest()
    for split in ("test", "all"):
        dataset, split_name, _ = load_for_model(data, split, manifest, lambda _line: None)
        said = keyword_warnings(dataset, split, split_name, manifest)
        assert not any("optimistic" in w for w in said), (split, said)
        # --split all prints one table of every clip: no val or test figures to name.
        assert not any("val figures" in w for w in said), (split, said)


# --- 2. an --extra-train set's _silence_ clips ------------------------------------------


def test_extra_silence_clips_are_said_not_used(tmp_path: Path) -> None:
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    extra = tmp_path / "x"
    for k, label in enumerate(("yes", SILENCE)):
        (extra / label).mkdir(parents=True)
        for i in range(2):
            write_wav(extra / label / f"e{k}{i}_nohash_0.wav", tone(n=WIN, seed=7000 + 10 * k + i))
    added = load_training_clips(extra, data)
    assert added.extra_clips == 2  # the yes clips only
    assert f"{extra}: its 2 {SILENCE} clip(s) are not used for training" in added.warnings


# --- 3. keyword-named _unknown_ clips, checked against the model's keywords -----------


def _eval_data(root: Path, unknown: list[str]) -> Path:
    """``no/`` clips and ``_unknown_/<name>`` clips, 1 s each (no 'yes' folder)."""
    for folder, names in (("no", [f"spk{i}_nohash_0.wav" for i in range(3)]), (UNKNOWN, unknown)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            write_wav(root / folder / name, tone(n=16000, seed=len(folder) * 100 + i))
    return root


def test_eval_refuses_unknown_clips_named_as_a_model_keyword(tmp_path: Path) -> None:
    data = _eval_data(tmp_path / "d", ["yes_a_nohash_0.wav", "bed_a_nohash_0.wav"])
    msg = _one_line(load_for_model, data, "all", _manifest(), lambda _line: None)
    assert f"1 clip(s) in {UNKNOWN}/ are named as the keyword 'yes'" in msg, msg
    assert "scored wrong (a miss, and in the streams a false accept)" in msg, msg
    assert "move them into yes/ or out of the dataset" in msg, msg


def test_speech_commands_dev_is_refused_for_a_model_with_the_keyword_go() -> None:
    from shared_paths import dataset_path, missing

    root = dataset_path("speech_commands_dev")
    if not root.is_dir():
        missing(f"Speech Commands dev subset not found at {root}")
    labels = (SILENCE, UNKNOWN, "go", "no", "yes")  # the review's case: go trained
    manifest = replace(_manifest(), labels=labels)
    msg = _one_line(load_for_model, root, "all", manifest, lambda _line: None)
    assert f"5 clip(s) in {UNKNOWN}/ are named as the keyword 'go'" in msg, msg
    # Only the split scored counts (a review found --split val refused for clips of the
    # train and test splits): 2 in test, none in val.
    msg = _one_line(load_for_model, root, "test", manifest, lambda _line: None)
    assert f"2 clip(s) in {UNKNOWN}/ are named as the keyword 'go'" in msg, msg
    dataset, _, _ = load_for_model(root, "val", manifest, lambda _line: None)
    val = dataset.split("val")
    assert val and not [c for c in val if c.source.startswith(f"{UNKNOWN}/go_")]


def test_eval_takes_unknown_clips_named_as_other_words(tmp_path: Path) -> None:
    data = _eval_data(tmp_path / "d", ["bed_a_nohash_0.wav", "go_a_nohash_0.wav"])
    dataset, _, _ = load_for_model(data, "all", _manifest(), lambda _line: None)
    assert sum(c.label == UNKNOWN for c in dataset.clips) == 2


# --- 4, 5. the refusal's count and advice -----------------------------------------------


def _data_and_extra(tmp_path: Path, unknown: dict[str, int]) -> tuple[object, Path]:
    data_root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, UNKNOWN: SPEAKERS})
    extra = tmp_path / "x"
    (extra / UNKNOWN).mkdir(parents=True)
    for k, (word, n) in enumerate(unknown.items()):
        for i in range(n):
            name = f"{word}_v{i}_nohash_0.wav"
            write_wav(extra / UNKNOWN / name, tone(seed=8000 + 10 * k + i))
    return load_audio_dataset(data_root, CFG), extra


def test_the_refusal_counts_every_keyword(tmp_path: Path) -> None:
    data, extra = _data_and_extra(tmp_path, {"yes": 2, "no": 3, "bed": 1})
    msg = _one_line(load_training_clips, extra, data)
    assert f"5 clip(s) in {UNKNOWN}/ are named as keywords (no 3, yes 2)" in msg, msg
    assert "so they would train them as _unknown_" in msg, msg
    assert "move them into no/ or yes/ or out of the dataset" in msg, msg


def test_a_synth_folder_is_told_to_synthesize_every_keyword(tmp_path: Path) -> None:
    data, extra = _data_and_extra(tmp_path, {"no": 2})
    (extra / "synth.json").write_text("{}")
    msg = _one_line(load_training_clips, extra, data)
    assert f"2 clip(s) in {UNKNOWN}/ are named as the keyword 'no'" in msg, msg
    assert f"'tinyslm synth no yes -o {extra} --force'" in msg, msg
    assert "'--unknown-clips 0'" in msg and "move them" not in msg, msg


# --- 6. the benchmark's label bound -----------------------------------------------------


def _benchmark() -> object:
    bench = ROOT / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_r48_kwrev", bench / "speech_commands.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(bench))
    return module


def test_the_benchmark_refuses_too_many_labels_as_train_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = {f"w{i:02d}": SPEAKERS[:6] for i in range(MAX_LABELS + 1)}
    root = make_folder(tmp_path / "many", words)
    argv = ["--data", str(root), "--sizes", "small", "--epochs", "1", "--quiet"]
    assert _benchmark().main(argv) == 2  # type: ignore[attr-defined]
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert err.startswith(f"error: {root}: {MAX_LABELS + 1} labels (w00, "), err
    assert f"at most {MAX_LABELS}, {SILENCE} and {UNKNOWN} included" in err, err
    # No --keywords in the benchmark: the dataset is what to change.
    assert "--keywords" not in err and f"at most {MAX_LABELS - 1} keyword folders" in err, err
