"""Round 44, text data as users export it: a quote left open on the file's last line,
with no line break after it, is named as one (it was called a missing cell)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm.errors import DatasetError
from tinyslm.text.dataset import load_dataset

GOOD = "text,label\nhi there,greet\nbye,leave\n"


def refusal(path: Path, text: str) -> str:
    path.write_text(text)
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    return str(err.value)


def test_a_quote_open_on_the_last_line_without_a_line_break_is_named(tmp_path: Path) -> None:
    msg = refusal(tmp_path / "q.csv", GOOD + '"hello, greet')
    assert 'line 4: expected 2 fields, got 1 (a quote (") opened on line 4 is never closed' in msg
    assert "a cell is missing" not in msg


def test_a_short_row_with_closed_quotes_is_still_a_missing_cell(tmp_path: Path) -> None:
    msg = refusal(tmp_path / "q.csv", GOOD + 'say ""hi""')
    assert "(the row ends early: a cell is missing" in msg
    # A .tsv is read literally: a quote there is text, never an open field.
    msg = refusal(tmp_path / "q.tsv", 'text\tlabel\nhi there\tgreet\nsay "hi')
    assert "(the row ends early: a cell is missing" in msg


def test_only_the_short_rows_own_quotes_count(tmp_path: Path) -> None:
    # A stray quote in an earlier unquoted cell is that row's text, not an open field.
    msg = refusal(tmp_path / "q.csv", 'text,label\nhe is 5" tall,height\nbye\n')
    assert "line 3: expected 2 fields, got 1 (the row ends early: a cell is missing" in msg


def test_a_quoted_tsv_ending_in_an_open_quote_is_named(tmp_path: Path) -> None:
    # R's write.table: quoted names and row names, read with CSV quoting.
    text = '"text"\t"label"\n"1"\t"hi there"\t"greet"\n"2"\t"bye"\t"leave"\n"3'
    msg = refusal(tmp_path / "r.tsv", text)
    assert 'line 4: expected 2 fields, got 1 (a quote (") opened on line 4 is never closed' in msg


def test_an_inch_mark_in_a_short_row_is_a_missing_cell(tmp_path: Path) -> None:
    # Review of round 44: a literal quote inside an unquoted cell opens no field.
    for tail in ('buy a 12" screen\n', 'buy a 12" screen'):
        msg = refusal(tmp_path / "q.csv", GOOD + tail)
        assert "line 4: expected 2 fields, got 1 (the row ends early: a cell is missing" in msg
