"""Round 46: train's size line, CLINC ``oos_*`` lists and option messages, said truly.

A hunter found: with ``--buckets`` given, the size line said "the most hash buckets ..."
(the buckets were not chosen; the hidden width and dim that were went unexplained); a
CLINC pair under ``oos_train`` with an intent label was trained as that intent, without
a word; "every intent needs at least 2 examples" named no line; train's --json refusal
sent the user to a --help that did not state the rule; and ``--bigrams --no-bigrams``
was taken silently, the last winning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import DatasetError
from tinyslm.sizing import MAX_DIM, choose_shape
from tinyslm.text.dataset import load_dataset

# --- the size line with --buckets given ----


def test_given_buckets_are_not_said_to_be_chosen() -> None:
    line = choose_shape(4, 128, 512000, buckets=1024, dim=8).describe()
    assert "the most hash buckets" not in line, line
    assert line.endswith(": hidden 256 for this budget (buckets, dim as given)"), line

    line = choose_shape(4, 128, 512000, buckets=1024).describe()
    assert "the most hash buckets" not in line, line
    assert (
        f"hidden 256 for this budget, then the widest embedding (at most {MAX_DIM}) that "
        "fits with buckets 1024 (buckets as given)"
    ) in line, line


def test_a_hidden_width_below_the_budget_step_is_said_so() -> None:
    line = choose_shape(4, 128, 512000, buckets=8192, dim=60).describe()
    assert "hidden 128, the widest below this budget's 256 that fits" in line, line


def test_the_chosen_sizes_keep_their_reasons() -> None:
    line = choose_shape(20, 128, 500 * 1024).describe()
    assert "hidden 256 for this budget, then the most hash buckets that still leave" in line
    pinned = choose_shape(20, 128, 500 * 1024, buckets=1024, dim=8, hidden=64).describe()
    assert pinned.endswith(": as given, and it fits")


# --- CLINC: an oos_* list holds out-of-scope phrases ----


_IN_SCOPE = [
    ["turn on", "on"],
    ["switch on", "on"],
    ["lights on", "on"],
    ["turn off", "off"],
    ["switch off", "off"],
    ["lights off", "off"],
]


@pytest.mark.parametrize("key", ["oos_train", "oos_val", "oos_test"])
def test_an_intent_label_under_an_oos_key_is_refused(tmp_path: Path, key: str) -> None:
    path = tmp_path / "c.json"
    oos = [["what is love", "oos"], ["what is love", "on"]]
    path.write_text(json.dumps({"train": _IN_SCOPE, key: oos}))
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert message == (
        f"{path}: {key}[1]: label 'on' under {key!r} is not out-of-scope; label it 'oos', "
        f"or move the pair to {key.removeprefix('oos_')!r}"
    )


def test_out_of_scope_labels_under_oos_keys_still_load(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    oos = [["what is love", "oos"], ["tell me a joke", "OUT_OF_SCOPE"]]
    path.write_text(json.dumps({"train": _IN_SCOPE, "oos_train": oos}))
    data = load_dataset(path)
    assert sorted(data.oos_train + data.oos_val + data.oos_test) == [
        "tell me a joke",
        "what is love",
    ]


# --- the lone phrase's line ----


def test_too_few_examples_names_the_line(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text("text,label\na1,a\na2,a\nb1,b\nb2,b\nlonely phrase,c\n")
    with pytest.raises(DatasetError, match=r"too few for 'c' \(line 6\)$"):
        load_dataset(one)
    two = tmp_path / "two.csv"
    two.write_text("text,label\na1,a\na2,a\nb1,b\nc1,c\n")
    with pytest.raises(DatasetError, match=r"too few for 'b', 'c' \(the first at line 4\)$"):
        load_dataset(two)


# --- train's --json: the rule its refusal points to is in --help ----


def test_train_help_states_where_json_may_not_go() -> None:
    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Not inside the model folder (-o), nor a folder it goes in." in " ".join(
        result.output.split()
    )


# --- an on/off pair given both ways ----


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--bigrams", "--no-bigrams"], "--bigrams and --no-bigrams are both given; give one"),
        (["--no-unigrams", "--unigrams", "--no-unigrams"], "--no-unigrams and --unigrams"),
    ],
)
def test_both_spellings_of_an_on_off_pair_are_refused(
    argv: list[str], line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", "demo.csv", *argv, "-o", "m"])
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and line in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


def test_one_spelling_repeated_is_a_flag_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ``--force --force``: the same on/off twice says one thing, and a value that
    looks like the other spelling is a value, not the flag."""
    monkeypatch.chdir(tmp_path)
    for argv in (["--no-bigrams", "--no-bigrams"], ["--bigrams", "-o", "--no-bigrams"]):
        result = CliRunner().invoke(cli, ["train", "missing.csv", *argv])
        assert "both given" not in result.output, result.output
        assert "missing.csv: dataset not found" in result.output, result.output
