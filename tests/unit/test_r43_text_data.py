"""Round 43, text datasets end to end: duplicates kept in one split, a val split for
datasets of small intents, phrases the device reads as commands, row-length and
``sep=`` hints, the threshold rule's words, and emulate's refusal of a foreign dataset."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tinyslm.emulate.phrases import run_phrases
from tinyslm.errors import DatasetError
from tinyslm.evaluate import EvalConfig, run_eval
from tinyslm.manifest import QuantParams
from tinyslm.text.dataset import Dataset, load_dataset
from tinyslm.text.features import input_words, words
from tinyslm.verify import RULE_NO_OOS, calibrate_threshold, describe_rule, gate_metrics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODEL = FIXTURES / "model"
FIXTURE_DATA = FIXTURES / "fixture_commands.csv"
README = Path(__file__).resolve().parents[2] / "README.md"


def split_hash(d: Dataset) -> str:
    """Every split's rows, in order: the same hash is the same split."""
    parts = [f"{s}\t{e.label}\t{e.text}" for s in ("train", "val", "test") for e in getattr(d, s)]
    parts += [f"{s}\t{t}" for s in ("oos_train", "oos_val", "oos_test") for t in getattr(d, s)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


# Recorded with the code before round 43 (b542661): a dataset without duplicates must
# split exactly as it did, or every model trained on it (the golden projects embed the
# demo model's bytes) changes.
OLD_SPLITS = {
    (None, 0): (920, 140, 260, 69, 10, 20, "162c9242e31a95d9"),
    (None, 1): (920, 140, 260, 69, 10, 20, "2a7e4ce91705e1cf"),
    (None, 7): (920, 140, 260, 69, 10, 20, "ad0113d55ce84066"),
    (FIXTURE_DATA, 0): (340, 40, 100, 28, 4, 8, "c7412525e6b266b7"),
    (FIXTURE_DATA, 1): (340, 40, 100, 28, 4, 8, "dab95903be918d1e"),
    (FIXTURE_DATA, 7): (340, 40, 100, 28, 4, 8, "6de23e227c7f80f1"),
}


@pytest.mark.parametrize(("path", "seed"), list(OLD_SPLITS))
def test_a_dataset_without_duplicates_splits_as_before(path: Path | None, seed: int) -> None:
    d = load_dataset(path, seed=seed)
    assert not any("duplicate" in w for w in d.warnings)
    counts = (len(d.train), len(d.val), len(d.test), len(d.oos_train), len(d.oos_val))
    assert (*counts, len(d.oos_test), split_hash(d)) == OLD_SPLITS[(path, seed)]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _doubled(tmp_path: Path) -> Path:
    # Two merged exports: every row twice, the copies far apart, as a concatenation
    # leaves them; one copy spelled otherwise (case, punctuation) reads as the same words.
    rows = [f"please do thing {j} for {lb},{lb}" for lb in ("alpha", "beta") for j in range(10)]
    rows += [f"unrelated chatter {j},oos" for j in range(10)]
    again = [r.replace("please", "Please!") for r in rows]
    return _write(tmp_path / "twice.csv", "text,label\n" + "\n".join(rows + again) + "\n")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_copies_of_one_input_stay_in_one_split(tmp_path: Path, seed: int) -> None:
    d = load_dataset(_doubled(tmp_path), seed=seed)
    train = {input_words(e.text) for e in d.train} | {input_words(t) for t in d.oos_train}
    held = [e.text for e in d.val + d.test] + [*d.oos_val, *d.oos_test]
    assert held  # something was held out ...
    assert not [t for t in held if input_words(t) in train]  # ... and none of it trained
    # Distinct inputs are carved as the fractions say: 10 per intent, 2 test, 1 val.
    assert len(d.test) == 2 * 2 * 2 and len(d.val) == 2 * 2 * 1
    assert any("30 duplicate row(s)" in w for w in d.warnings)


def _small_intents(tmp_path: Path, intents: int = 50, each: int = 3) -> Path:
    rows = [
        f"phrase {j} for thing{i} word{i}x{j},intent_{i}"
        for i in range(intents)
        for j in range(each)
    ]
    return _write(tmp_path / "small.csv", "text,label\n" + "\n".join(rows) + "\n")


def test_intents_of_under_5_phrases_still_get_a_val_split(tmp_path: Path) -> None:
    d = load_dataset(_small_intents(tmp_path), seed=0)
    # 150 phrases: 10% is 15, one from each of 15 intents, each keeping a training phrase.
    assert len(d.val) == 15 and len({e.label for e in d.val}) == 15
    assert len(d.test) == 50 and len(d.train) == 85
    assert {e.label for e in d.train} == set(d.labels)
    assert not {input_words(e.text) for e in d.val} & {input_words(e.text) for e in d.train}
    assert any("val takes one phrase from each of 15 intent(s)" in w for w in d.warnings)
    assert not any("val split has no in-scope" in w for w in d.warnings)
    # Seeded: the same file splits the same way.
    assert split_hash(d) == split_hash(load_dataset(_small_intents(tmp_path), seed=0))


def test_an_empty_val_split_says_why_and_what_to_do(tmp_path: Path) -> None:
    # 2 phrases per intent: both stay in train, none is lent to val.
    d = load_dataset(_small_intents(tmp_path, intents=5, each=2), seed=0)
    assert not d.val
    [w] = [w for w in d.warnings if "val split has no in-scope" in w]
    assert "round to one" in w and "calibrated on training phrases" in w
    assert "add phrases" in w and "split" in w
    given = _write(
        tmp_path / "given.csv",
        "text,label,split\na b,x,train\nc d,x,test\ne f,y,train\ng h,y,test\n",
    )
    [w] = [w for w in load_dataset(given).warnings if "val split has no in-scope" in w]
    assert "the file's split gives it no in-scope row" in w


def test_phrases_starting_with_a_colon_are_warned_with_their_line(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "colon.csv",
        "text,label\nlights on,on\n:) turn on the light,on\nlamp on please,on\n"
        "switch on,on\n:( weather now,w\nforecast please,w\nrain today,w\nis it sunny,w\n",
    )
    [w] = [w for w in load_dataset(data).warnings if "start with ':'" in w]
    assert w.startswith("2 phrase(s) start with ':' (first: line 3)")
    assert "command" in w


def test_eval_warns_of_colon_phrases(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "colon.csv",
        "text,label\nturn on the lights,lights_on\n:) lights on,lights_on\n"
        "turn off the lights,lights_off\n",
    )
    result = run_eval(EvalConfig(MODEL, data, split="all"))
    assert any("1 phrase(s) start with ':' (first: line 3)" in w for w in result.warnings)


def test_non_ascii_spacing_is_warned_and_is_a_word_byte(tmp_path: Path) -> None:
    # The README's claim: ASCII punctuation and spacing break words, non-ASCII does not.
    assert words(b"a b?c") == [b"a", b"b", b"c"]
    assert words("fait-il\u00a0?".encode()) == [b"fait", "il\u00a0".encode()]
    assert words("don\u2019t".encode()) == ["don\u2019t".encode()]
    data = _write(
        tmp_path / "nbsp.csv",
        "text,label\nturn on,on\nlights on,on\nquel temps fait-il\u00a0?,w\nrain,w\n",
    )
    [w] = [w for w in load_dataset(data).warnings if "non-ASCII spacing" in w]
    assert w.startswith("1 phrase(s)") and "line 4, U+00A0" in w


@pytest.mark.parametrize(
    ("name", "text", "hint"),
    [
        ("short.csv", "text,label,split\nturn on,on,train\nlight on,on\n", "a cell is missing"),
        ("short.tsv", "text\tlabel\tnotes\nturn on\ton\tx\nlight on\ton\n", "a cell is missing"),
        ("long.csv", "text,label\nturn on,on\nlight, on,on\n", "quote text that contains"),
        ("long.tsv", "text\tlabel\nturn on\ton\nlight\ton\ton\n", "a tab inside a phrase"),
    ],
)
def test_a_row_of_the_wrong_length_gets_the_hint_of_its_direction(
    tmp_path: Path, name: str, text: str, hint: str
) -> None:
    with pytest.raises(DatasetError, match="line 3: expected") as e:
        load_dataset(_write(tmp_path / name, text))
    assert hint in str(e.value)
    assert ("a cell is missing" in str(e.value)) == ("short" in name)


@pytest.mark.parametrize(
    ("first", "fix"),
    [
        ("sep=;", "the file is semicolon-separated: delete that line and save it comma"),
        ("sep=,", "not a header: delete that line"),
    ],
)
def test_excels_sep_line_is_named(tmp_path: Path, first: str, fix: str) -> None:
    d = first[-1]
    data = _write(tmp_path / "sep.csv", f"{first}\ntext{d}label\nturn on{d}on\nrain{d}w\n")
    with pytest.raises(DatasetError, match="line 1: missing column") as e:
        load_dataset(data)
    assert f"Excel's '{first}' delimiter line" in str(e.value) and fix in str(e.value)


def test_the_threshold_rule_says_the_gate_level_may_escalate_more_than_5pct() -> None:
    # 8 phrases, 3 wrong and unsure: the best gate level escalates those 3 (37.5%),
    # which the old words ("up to the least confident 5% ... none of fewer than 20")
    # ruled out.
    tops, q = [0, 1, 2, 0, 1, 2, 0, 1], [90, 91, 92, 93, 94, 10, 11, 12]
    scores = np.full((8, 3), -128, dtype=np.int8)
    for i, (t, v) in enumerate(zip(tops, q, strict=True)):
        scores[i, t] = v
    truth = np.array([0, 1, 2, 0, 1, 0, 1, 2])
    none = np.zeros((0, 3), np.int8)
    choice = calibrate_threshold(scores, truth, none, QuantParams(1 / 256, -128))
    assert choice.rule == RULE_NO_OOS
    assert gate_metrics(scores, truth, none, choice.threshold_q).local_rate == 5 / 8
    rule = describe_rule(RULE_NO_OOS)
    assert "the higher of" in rule and "may escalate any share" in rule
    assert "keeps 95% of its phrases local" in rule and "at most the least confident 5%" in rule
    readme = " ".join(README.read_text(encoding="utf-8").split())
    assert "the threshold is the higher of two int8 levels" in readme
    assert "which may escalate any share of them" in readme


def test_emulate_data_refuses_a_dataset_of_only_foreign_intents() -> None:
    def device(lines: object) -> list[str]:
        raise AssertionError("no phrase should reach the device")

    rows = [("open the garage", "garage_open", False), ("hello", "oos", True)]
    with pytest.raises(DatasetError) as e:
        run_phrases(device, rows, source="other.csv", split="all", labels=["on", "off"])
    assert str(e.value) == (
        "other.csv: none of its intents ('garage_open') is one of the model's 2; "
        "is this the dataset the model was trained for?"
    )
