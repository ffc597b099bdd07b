"""Round 42, text ``train``: what it sizes, warns and advises matches what the board does.

Each test names the defect it pins (the hunter's numbering).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.boards import load_board
from tinyslm.cli import cli
from tinyslm.errors import DatasetError
from tinyslm.sizing import MIN_DIM, choose_shape
from tinyslm.text.dataset import (
    DEFAULT_MAX_LINE,
    MAX_LINE_LIMIT,
    Dataset,
    Example,
    line_limit,
    load_dataset,
)
from tinyslm.text.features import (
    _LOWER,
    FeatureSpec,
    has_ids,
    input_words,
    tokenize,
    words,
)


def _dataset(
    labels: tuple[str, ...] = ("a", "b"), texts: tuple[str, ...] = ("x", "y"), oos: int = 0
) -> Dataset:
    train = tuple(Example(t, labels[i % len(labels)]) for i, t in enumerate(texts))
    return Dataset(
        labels=tuple(sorted(labels)),
        train=train,
        val=(),
        test=(),
        oos_train=tuple(f"stray {i}" for i in range(oos)),
        oos_val=(),
        oos_test=(),
        source="d.csv",
    )


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


# --- 1: the host's ":do <intent>" line fits the device's line limit ------------------


def test_line_limit_holds_the_do_line_of_the_longest_intent() -> None:
    """The board counts the line without its newline (tinyslm_core.c: line_len < line_cap),
    so ':do ' + a 300-byte intent needs 304 bytes: 320 after rounding, not 256."""
    label = "x" * 300
    lines = line_limit(_dataset(labels=(label, "b")))
    assert lines.max_line == 320
    assert lines.max_line >= len(":do " + label)
    assert any("':do <intent>' line of 304 bytes" in w for w in lines.warnings), lines.warnings


def test_line_limit_counts_intent_bytes_not_characters() -> None:
    label = "é" * 130  # 260 bytes in UTF-8, 130 characters
    assert line_limit(_dataset(labels=(label, "b"))).max_line == 320


def test_a_do_line_at_the_limit_fits_and_one_byte_more_is_refused() -> None:
    fits = "x" * (MAX_LINE_LIMIT - 4)
    assert line_limit(_dataset(labels=(fits, "b"))).max_line == MAX_LINE_LIMIT
    with pytest.raises(DatasetError) as err:
        line_limit(_dataset(labels=(fits + "y", "b")))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("d.csv: intent 'xxx")
    assert f"{MAX_LINE_LIMIT - 3} bytes" in message and "shorten it" in message


def test_short_intents_keep_the_default_line_limit() -> None:
    lines = line_limit(_dataset())
    assert (lines.max_line, lines.warnings) == (DEFAULT_MAX_LINE, ())


# --- 6: a phrase that can never fit does not raise the limit -------------------------


def test_a_phrase_over_the_largest_limit_does_not_raise_the_limit() -> None:
    huge = "word " * 1140  # 5,699 bytes stripped
    lines = line_limit(_dataset(texts=("turn on", huge.strip(), "turn off")))
    assert lines.max_line == DEFAULT_MAX_LINE
    assert lines.too_long == (huge.strip(),)
    assert lines.longest == 5699
    assert len(lines.warnings) == 1 and "256-byte line limit" in lines.warnings[0]


def test_the_limit_still_grows_for_the_phrases_that_can_fit() -> None:
    lines = line_limit(_dataset(texts=("x" * 300, "y" * 5000, "z")))
    assert lines.max_line == 320
    assert lines.too_long == ("y" * 5000,)


# --- 2: duplicates and conflicts compare what the tokenizer reads --------------------


def test_input_words_is_the_tokenizers_word_sequence() -> None:
    rng = random.Random(0)
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(40))) for _ in range(2000)]
    samples += [b"Turn the lamp ON!", "ВКЛЮЧИ свет".encode(), b"", b"?!", b"a_b-c  d"]
    for data in samples:
        assert input_words(data) == b" ".join(words(data.translate(_LOWER))), data


@pytest.mark.parametrize(
    "spec",
    [
        FeatureSpec(buckets=64, seq_len=8),
        FeatureSpec(buckets=64, seq_len=3, hashes=3),
        FeatureSpec(buckets=64, seq_len=8, unigrams=False, char_trigrams=False),
        FeatureSpec(buckets=64, seq_len=8, unigrams=False, bigrams=False),
    ],
)
def test_has_ids_is_tokenizes_any_id(spec: FeatureSpec) -> None:
    """The predicate eval and emulate use for no_tokens is ``ids.any()``."""
    for text in ["?!", "...", "", "a", "turn on", "!! on ??", "é", "_", "ВКЛЮЧИ"]:
        assert has_ids(text, spec) == any(tokenize(text, spec)), text


def test_case_outside_a_z_is_not_a_duplicate(tmp_path: Path) -> None:
    """The tokenizer folds only A-Z: the model sees other ids for these two."""
    phrase = "\u0432\u043a\u043b\u044e\u0447\u0438 \u0441\u0432\u0435\u0442"  # "turn on the light"
    assert phrase.lower() == phrase.upper().lower()  # Python's lower() calls them one text
    body = f"text,label\n{phrase},on\n{phrase.upper()},on\nstop,off\nhalt,off\n"
    ds = load_dataset(_write(tmp_path, "d.csv", body), val_fraction=0.0, test_fraction=0.0)
    assert not any("duplicate" in w for w in ds.warnings), ds.warnings


def test_a_z_case_and_punctuation_are_still_duplicates(tmp_path: Path) -> None:
    body = "text,label\nturn it on,on\nTurn it ON!,on\noff,off\nstop,off\n"
    ds = load_dataset(_write(tmp_path, "d.csv", body), val_fraction=0.0, test_fraction=0.0)
    assert any(w.startswith("1 duplicate row(s)") for w in ds.warnings), ds.warnings


def test_phrases_the_model_reads_alike_under_other_labels_are_one_warning(
    tmp_path: Path,
) -> None:
    body = (
        "text,label\n"
        "turn the lamp on!,lights_on\n"
        "Turn the lamp on,lights_off\n"
        "turn the lamp on.,door_lock\n"
        "lights on,lights_on\n"
        "lights off,lights_off\n"
        "lock it,door_lock\n"
        '"open, close",door_lock\n'
        "open close,lights_on\n"
    )
    ds = load_dataset(_write(tmp_path, "d.csv", body), val_fraction=0.0, test_fraction=0.0)
    conflicts = [w for w in ds.warnings if "more than one label" in w]
    assert len(conflicts) == 1, ds.warnings
    assert conflicts[0].startswith("2 input(s) carry more than one label")
    assert "'turn the lamp on!' (lights_on, line 2)" in conflicts[0]
    assert "'Turn the lamp on' (lights_off, line 3)" in conflicts[0]
    assert not any("duplicate" in w for w in ds.warnings), ds.warnings


# --- 3: --max-model-kb's help says the default train uses ----------------------------


def test_max_model_kb_help_names_the_data_capped_default() -> None:
    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=400)
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert "the smaller of 500 and what the training data can use" in flat, flat
    assert "(500, or the board's model budget with --board)" not in flat


# --- 4: the size line names the width kept --------------------------------------------


def test_size_line_names_the_embedding_width_it_kept() -> None:
    board = load_board("esp32")
    choice = choose_shape(
        20,
        4096,
        board.model_budget_bytes,
        arena_budget_bytes=board.arena_budget_bytes,
        budget_source="board esp32",
    )
    assert choice.shape.dim < MIN_DIM
    line = choice.describe()
    assert f">= {MIN_DIM} wide" not in line, line
    assert f">= {choice.min_dim} wide (none fits {MIN_DIM} wide)" in line, line
    assert choice.shape.dim >= choice.min_dim


def test_size_line_keeps_its_reason_when_32_fits() -> None:
    line = choose_shape(20, 128, 500 * 1024).describe()
    assert f"embedding >= {MIN_DIM} wide, then the widest" in line


def test_size_line_with_a_pinned_dim_names_that_dim() -> None:
    line = choose_shape(20, 128, 500 * 1024, dim=8).describe()
    assert "the most hash buckets that fit with dim 8" in line and ">= 32" not in line, line


# --- 5: a semicolon header gets advice that works whatever the extension -------------


@pytest.mark.parametrize("name", ["d.csv", "d.tsv"])
def test_semicolon_header_is_told_to_save_comma_or_tab_separated(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset(_write(tmp_path, name, "text;label\nturn on;lights_on\n"))
    message = str(err.value)
    assert "header looks semicolon-separated" in message
    assert "as .csv, or tab-separated as .tsv" in message
    assert "name it" not in message  # renaming does not make semicolons commas or tabs


# --- 7 and 8: train's warnings on a tiny training ------------------------------------


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """A one-epoch training on 3 intents, 4 oos rows (too few for val) and a '?!' row."""
    from tinyslm.text.fit import fit_text
    from tinyslm.text.train import TrainConfig

    rows = [
        f"{verb} the {thing} {i},{verb}"
        for verb in ("open", "close", "lock")
        for thing in ("door", "gate")
        for i in range(4)
    ]
    rows += ["?!,open", "...,close"]
    rows += [f"what is the weather {i},oos" for i in range(4)]
    data = tmp_path_factory.mktemp("tiny") / "d.csv"
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    cfg = TrainConfig(features=FeatureSpec(buckets=256, seq_len=32), dim=8, hidden=16, epochs=1)
    return fit_text(data, cfg, report=False).warnings


def test_oos_rows_that_missed_val_are_counted_not_called_missing(
    tiny_fit: tuple[str, ...],
) -> None:
    warning = next(w for w in tiny_fit if w.startswith("no out-of-scope phrases in val"))
    assert "label some 'oos'" not in warning, warning
    assert "the dataset has 4, none in val: 3 in train, 1 in test" in warning, warning
    assert "put some oos rows in val" in warning


def test_train_warns_of_phrases_the_board_answers_no_tokens(tiny_fit: tuple[str, ...]) -> None:
    warning = [w for w in tiny_fit if "no_tokens" in w]
    assert warning == [
        "2 phrase(s) hold no n-gram the model reads (only punctuation, say), e.g. '?!': "
        "training scores them from padding, the board answers them with no_tokens"
    ], tiny_fit


def test_without_oos_the_advice_is_still_to_label_some() -> None:
    from tinyslm.text.fit import _oos_advice

    assert _oos_advice(_dataset(), "val") == "label some 'oos'"
