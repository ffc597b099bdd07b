"""``tinyslm eval`` on a keyword model: train's figures beside eval's, a complete
``--json``, and only the warnings and unknown words of the split it scores.

The committed fixture model (tests/fixtures/kws.py: labels _silence_, _unknown_, no, up,
yes) scores a list of synthetic clips with given splits, so nothing here trains.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from tinyslm.audio.wav import write_wav
from tinyslm.cli import cli
from tinyslm.operating_point import with_label_thresholds

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest, keyword_model_dir  # noqa: E402

# What a trained keyword manifest records on its test split (tinyslm.audio.fit).
TRAINED = {
    # The list _list writes: the dataset scored is the one train measured (like for like).
    "dataset": "list.csv",
    "eval_split": "test",
    "n_test": 40,
    "int8_accuracy": 0.875,
    "per_class": {
        "_silence_": [1.0, 4],
        "_unknown_": [0.5, 6],
        "no": [0.9, 10],
        "up": [0.8, 10],
        "yes": [0.9, 10],
    },
    "stream_split": "test",
    "false_rejection_rate": 0.25,
    "keyword_clips": 30,
    "keyword_hits": 22,
    "keyword_false_accepts": 1,
    "noise_seconds": 40.0,
    "noise_false_accepts": 0,
    "noise_fa_per_hour": 0.0,
    "unknown_seconds": 12.0,
    "unknown_false_accepts": 2,
    "unknown_fa_per_hour": 600.0,
}


def _clip(path: Path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    write_wav(path, (rng.normal(0, 2000, 16000)).clip(-32768, 32767).astype(np.int16))
    return str(path)


def _list(folder: Path, rows: list[tuple[str, str]]) -> Path:
    """A CSV list of ``(label, split)`` clips, one speaker each."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["path,label,split"]
    for i, (label, split) in enumerate(rows):
        lines.append(f"{_clip(folder / f'{label}_{i}_nohash_0.wav', i)},{label},{split}")
    out = folder / "list.csv"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _eval(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


def test_table_shows_trains_figures_and_json_has_every_printed_one(tmp_path: Path) -> None:
    """Before: no ``(train: ...)`` anywhere in the keyword table (text eval prints it),
    no noise_false_accepts / unknown_false_accepts in --json though the table prints
    them ("0 in 12 s"), and trained{} without unknown_fa_per_hour."""
    # The counts of the list scored: train's test split (round 44: other counts are
    # another list of that name, not like for like).
    trained = {**TRAINED, "n_test": 3, "keyword_clips": 3}
    model = keyword_model_dir(tmp_path / "kw", replace(keyword_manifest(), metrics=trained))
    data = _list(tmp_path / "data", [("yes", "test"), ("yes", "test"), ("no", "test")])
    code, out, err = _eval(str(model), str(data), "--json", str(tmp_path / "e.json"))
    assert code == 0, err
    got = json.loads((tmp_path / "e.json").read_text())
    lines = out.splitlines()
    assert lines[1].startswith("clips ") and lines[1].endswith("  (train: 87.50% of 3)")
    assert lines[2].endswith("(threshold q=51)  (train: 25.00% of 3)")
    s = got
    # No background recording here: the rule cannot fire on 0 s, so no count (null).
    assert s["noise_false_accepts"] is None
    assert lines[3].endswith("noise n/a (no audio)  (train: 0.00, 0 in 40 s)")
    assert lines[4].strip() == ("unknown words n/a (no audio)  (train: 600.00, 2 in 12 s)")
    assert lines[5].strip() == f"{s['keyword_false_accepts']} in the keyword stream  (train: 1)"
    assert any(line.endswith("clips right  (train: 90.00% of 10)") for line in lines)
    assert lines[-1].split() == [
        "train",
        "figures",
        "from",
        "list.csv,",
        "split",
        "test",
    ]
    # --json carries every printed figure, eval's and train's.
    for key in ("noise_false_accepts", "unknown_false_accepts", "noise_seconds", "keyword_clips"):
        assert key in got
    # Neither stream is long enough for the rule (0 s of each): null, as printed n/a.
    assert got["noise_false_accepts"] is None and got["unknown_false_accepts"] is None
    for key in (
        "int8_accuracy",
        "n_test",
        "per_class",
        "false_rejection_rate",
        "keyword_clips",
        "keyword_false_accepts",
        "noise_false_accepts",
        "noise_seconds",
        "noise_fa_per_hour",
        "unknown_false_accepts",
        "unknown_seconds",
        "unknown_fa_per_hour",
        "dataset",
        "eval_split",
    ):
        assert got["trained"][key] == trained[key], key


def test_keyword_levels_of_their_own_are_printed_and_in_json(tmp_path: Path) -> None:
    # Applied by the streams' detector, but not said in the table or --json.
    own = with_label_thresholds(keyword_manifest(), {"up": 0.8})
    model = keyword_model_dir(tmp_path / "kw", own)
    data = _list(tmp_path / "data", [("yes", "test"), ("up", "test")])
    code, out, err = _eval(str(model), str(data), "--json", str(tmp_path / "e.json"))
    assert code == 0, err
    (level,) = own.label_thresholds
    row = f"up {level.threshold:.3f} (q={level.threshold_q})"
    assert any(ln.startswith("keyword thresholds") and ln.endswith(row) for ln in out.splitlines())
    got = json.loads((tmp_path / "e.json").read_text())["label_thresholds"]
    assert got == {"up": {"threshold": level.threshold, "threshold_q": level.threshold_q}}


def test_a_manifest_without_figures_prints_no_train_column(tmp_path: Path) -> None:
    model = keyword_model_dir(tmp_path / "kw")  # metrics: eval_split only
    data = _list(tmp_path / "data", [("yes", "test"), ("no", "test")])
    code, out, err = _eval(str(model), str(data))
    assert code == 0, err
    assert "(train:" not in out and "train figures from" not in out


def test_warnings_and_unknown_words_are_the_scored_splits_only(tmp_path: Path) -> None:
    """``left`` is not a model word and all its clips are in train: scoring test said
    ``warning: _unknown_ ... kept 1 of 3 in train`` and ``scored as _unknown_ left``."""
    model = keyword_model_dir(tmp_path / "kw")
    rows = [("left", "train")] * 3 + [("yes", "train"), ("yes", "test"), ("yes", "test")]
    data = _list(tmp_path / "data", rows)
    code, out, err = _eval(str(model), str(data), "--json", str(tmp_path / "e.json"))
    assert code == 0, err
    got = json.loads((tmp_path / "e.json").read_text())
    assert "warning:" not in err and got["warnings"] == []
    assert "scored as _unknown_" not in out and got["unknown_words"] == []
    # Scoring train: its own cap note, and the word it scores.
    code, out, err = _eval(str(model), str(data), "--split", "train", "--json", "-")
    assert code == 0, err
    got = json.loads(out)
    assert got["warnings"] == [
        "_unknown_ has more clips than the largest keyword: kept 1 of 3 in train (a seeded"
        " draw over its words), so that it is one class among the keywords"
    ]
    assert f"warning: {got['warnings'][0]}" in err and got["unknown_words"] == ["left"]


def test_a_capped_word_left_out_of_the_split_is_not_listed(tmp_path: Path) -> None:
    """The seeded cap keeps 1 unknown clip beside 1 keyword clip: of two unknown words,
    only the one drawn is scored as _unknown_ (both were listed)."""
    model = keyword_model_dir(tmp_path / "kw")
    rows = [("left", "test"), ("down", "test"), ("yes", "test")]
    code, out, err = _eval(str(model), str(_list(tmp_path / "data", rows)), "--json", "-")
    assert code == 0, err
    got = json.loads(out)
    assert got["per_label"]["_unknown_"]["clips"] == 1
    assert len(got["unknown_words"]) == 1 and got["unknown_words"][0] in ("left", "down")
    assert "kept 1 of 2 in test" in got["warnings"][0]
