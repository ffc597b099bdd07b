"""Round 54: a word typed on the command line that is not UTF-8 (``$'x\\xff'``) is quoted in
tinyslm's own errors as the shell shows it, ``'x\\xff'``, as click's usage errors now
quote it (test_r54_stderr_names.py). Those errors quoted the word as its ``repr``, which
writes the byte as ``\\udcff``: the ASCII text was already on the line before any
escaping of stderr could see the byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_clips import word_folders
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import quoted

ODD = "x\udcff"  # the word $'x\xff' as Python holds it


def _error(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code != 0, result.output
    assert "\\udc" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return word_folders(tmp_path / "kw", "no", "yes")


def test_a_keyword_with_no_clips(data: Path, tmp_path: Path) -> None:
    line = _error("train", str(data), "--keywords", ODD, "-o", str(tmp_path / "m"))
    assert (
        line == f"error: {data}: --keywords names 'x\\xff', which has no clips (its words: no, yes)"
    )


def test_a_keyword_that_looks_special(data: Path, tmp_path: Path) -> None:
    line = _error("train", str(data), "--keywords", "_" + ODD, "-o", str(tmp_path / "m"))
    assert line.startswith("error: --keywords names '_x\\xff': a word, not a special label"), line


def test_a_word_given_twice(data: Path, tmp_path: Path) -> None:
    line = _error(
        "train", str(data), "--keywords", ODD, "--unknown-words", ODD, "-o", str(tmp_path / "m")
    )
    assert line == "error: 'x\\xff' is in both --keywords and --unknown-words; give it in one"


def test_a_word_synth_cannot_speak(tmp_path: Path) -> None:
    line = _error("synth", ODD, "yes", "-o", str(tmp_path / "out"))
    assert line.startswith("error: synth: 'x\\xff' is not a word to speak ("), line


@pytest.mark.parametrize(
    "word",
    ["yes", "don't", 'say "hi"', 'it\'s "x"', "a\\b", "café", "a\tb", "yes\u00a0", "yes\u200b"],
)
def test_an_ordinary_word_is_quoted_as_its_repr(word: str) -> None:
    # Only a path's undecodable byte is written otherwise: a tab, a no-break or a
    # zero-width space stay escapes (a word looking like 'yes' is not 'yes'), a backslash
    # is doubled so that 'x\\xff' typed as text is not the byte, and no other message
    # quoting a word changes.
    assert quoted(word) == repr(word)


def test_a_keyword_holding_a_zero_width_space(data: Path, tmp_path: Path) -> None:
    line = _error("train", str(data), "--keywords", "yes\u200b", "-o", str(tmp_path / "m"))
    assert "--keywords names 'yes\\u200b', which has no clips" in line, line
