"""Text data read as written: a provenance column named ``path``, quotes in a .tsv, and
the embedding table's size limit stated where it is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.errors import DatasetError
from tinyslm.modality import AUDIO, TEXT, modality_of_data
from tinyslm.text.dataset import load_dataset
from tinyslm.text.features import FeatureSpec
from tinyslm.text.train import TrainConfig

ROWS = [("turn on the lights", "on"), ("lights on", "on"), ("turn off", "off"), ("off", "off")]


def _load(path: Path) -> list[tuple[str, str]]:
    ds = load_dataset(path, val_fraction=0.0, test_fraction=0.0)
    return [(e.text, e.label) for e in ds.train]


@pytest.mark.parametrize("header", ["path,text,label", " Path , TEXT,label", "path,label,text"])
def test_a_text_csv_whose_first_column_is_path_is_text(tmp_path: Path, header: str) -> None:
    # A provenance column first made the sniffer call the file a WAV list, and train
    # failed in the audio loader ("split 'label' is not train, val or test").
    columns = [c.strip().lower() for c in header.split(",")]
    lines = [header]
    for i, (text, label) in enumerate(ROWS):
        cells = {"path": f"src/{i}.txt", "text": text, "label": label}
        lines.append(",".join(cells[c] for c in columns))
    path = tmp_path / "pathcol.csv"
    path.write_text("\n".join(lines) + "\n")
    assert modality_of_data(path).name == TEXT
    assert _load(path) == ROWS  # the path column is ignored, as any other column


@pytest.mark.parametrize("header", ["path,label", "path,label,split", "PATH,Label"])
def test_a_wav_list_header_is_still_audio(tmp_path: Path, header: str) -> None:
    path = tmp_path / "list.csv"
    path.write_text(header + "\nyes/a.wav,yes\n")
    assert modality_of_data(path).name == AUDIO


def test_a_tsv_is_read_literally(tmp_path: Path) -> None:
    # csv's default quoting dropped the quotes: '"Alexa" turn on the lights' was trained
    # as 'Alexa turn on the lights', '"quoted"' as 'quoted'; the device gets the quotes.
    rows = [
        ('"Alexa" turn on the lights', "on"),
        ('"quoted"', "off"),
        ('say "hi", please', "on"),
        ("it's off", "off"),
    ]
    path = tmp_path / "q.tsv"
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{lb}\n" for t, lb in rows))
    assert _load(path) == rows


def test_a_tsv_phrase_a_spreadsheet_quoted_is_warned_about(tmp_path: Path) -> None:
    # Read literally, a phrase a spreadsheet's tab-delimited export wrapped in quotes
    # (it has a comma or a quote inside) keeps them: said, not trained on unnoticed.
    path = tmp_path / "x.tsv"
    path.write_text(
        'text\tlabel\n"quoted"\ton\n"Alexa" turn on\ton\n"turn off, please"\toff\n'
        '"say ""off"""\toff\n'
    )
    ds = load_dataset(path, val_fraction=0.0, test_fraction=0.0)
    assert [e.text for e in ds.train][2] == '"turn off, please"'
    (warning,) = [w for w in ds.warnings if "read literally" in w]
    assert warning.startswith("2 row(s) look quoted by a program") and "first: line 4" in warning
    plain = tmp_path / "plain.tsv"
    plain.write_text('text\tlabel\n"quoted"\ton\n"Alexa" turn on\ton\na\toff\nb\toff\n')
    assert not [w for w in load_dataset(plain).warnings if "read literally" in w]


def test_a_tsv_with_every_field_quoted_is_read_with_csv_quoting(tmp_path: Path) -> None:
    # R's write.table, pandas' QUOTE_ALL, LibreOffice's "quote all text cells": the
    # quoted header was refused ("missing column(s) text, label") when .tsv became literal.
    path = tmp_path / "r.tsv"
    path.write_text(
        '"text"\t"label"\n"turn on, please"\t"on"\n"say ""hi"""\t"on"\n'
        '"off"\t"off"\n"stop"\t"off"\n'
    )
    assert _load(path) == [
        ("turn on, please", "on"),
        ('say "hi"', "on"),
        ("off", "off"),
        ("stop", "off"),
    ]
    assert not [w for w in load_dataset(path).warnings if "quoted" in w]
    # A row cut short is still named by its own line.
    path.write_text('"text"\t"label"\n"a"\t"on"\n"b"\n"c"\t"off"\n')
    with pytest.raises(DatasetError, match=r"line 3: expected 2 fields, got 1"):
        load_dataset(path)


def test_quoted_tsvs_as_programs_write_them(tmp_path: Path) -> None:
    rows = [("turn on, please", "on"), ('say "hi"', "on"), ("off", "off"), ("stop", "off")]
    body = "".join('"{}"\t"{}"\n'.format(t.replace('"', '""'), lb) for t, lb in rows)
    # R's write.table with its default row.names=TRUE: a row name first, under no name.
    r_names = tmp_path / "r.tsv"
    r_names.write_text(
        '"text"\t"label"\n'
        + "".join(f'"{i}"\t' + line + "\n" for i, line in enumerate(body.splitlines(), 1))
    )
    # pandas QUOTE_NONNUMERIC: a numeric column name is not quoted.
    pandas = tmp_path / "p.tsv"
    pandas.write_text(
        '"text"\t"label"\t0\n' + "".join(line + "\t1\n" for line in body.splitlines())
    )
    for path in (r_names, pandas):
        assert _load(path) == rows, path.name
        # Read with CSV quoting, the rows are not said to look quoted.
        assert not [w for w in load_dataset(path).warnings if "quoted" in w], path.name
    # A row cut short under a quoted header gets the tab hint, not a comma one (round 43:
    # the hint of a short row, a missing cell; quoting makes a row longer, never shorter).
    short = tmp_path / "s.tsv"
    short.write_text('"text"\t"label"\n"a"\t"on"\n"b"\n"c"\t"off"\n')
    with pytest.raises(
        DatasetError,
        match=r"line 3: expected 2 fields, got 1 \(the row ends early: a cell is missing; give "
        r"every row all 2 columns, an empty one as two tabs in a row\)",
    ):
        load_dataset(short)
    # One of the two names quoted: refused, saying why (not "missing column(s) text").
    partial = tmp_path / "h.tsv"
    partial.write_text('"text"\tlabel\na\ton\n')
    with pytest.raises(DatasetError, match=r'line 1: the column name "text" is quoted but label'):
        load_dataset(partial)


def test_a_tsv_whose_labels_are_quoted_is_warned_about(tmp_path: Path) -> None:
    # An unquoted header over quoted rows (no comma inside): read literally, every label
    # kept its quotes with no word said.
    path = tmp_path / "n.tsv"
    path.write_text(
        'text\tlabel\n"alarm for 6"\t"alarm_set"\n"lights on"\t"on"\n"a"\t"on"\n"b"\t"alarm_set"\n'
    )
    ds = load_dataset(path, val_fraction=0.0, test_fraction=0.0)
    (warning,) = [w for w in ds.warnings if "read literally" in w]
    assert warning.startswith("4 row(s) look quoted by a program") and "line 2" in warning


def test_a_tsv_row_split_by_a_tab_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text('text\tlabel\n"a\tb"\ton\nx\ton\ny\toff\nz\toff\n')
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "line 2: expected 2 fields, got 3" in message and "tab" in message
    assert "\n" not in message


def test_a_csv_still_reads_csv_quoting(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('text,label\n"turn on, please",on\n"say ""hi""",on\noff,off\nstop,off\n')
    assert _load(path) == [
        ("turn on, please", "on"),
        ('say "hi"', "on"),
        ("off", "off"),
        ("stop", "off"),
    ]


@pytest.mark.parametrize(
    ("buckets", "dim", "product"),
    [(1_000_000, 600, 600_000_000), (2**31 - 1, 32, (2**31 - 1) * 32)],
)
def test_the_buckets_times_dim_limit_is_stated(buckets: int, dim: int, product: int) -> None:
    # The message said "buckets x dim" alone: neither the limit nor the product.
    with pytest.raises(ValueError) as info:
        TrainConfig(features=FeatureSpec(buckets=buckets), dim=dim)
    message = str(info.value)
    assert f"buckets x dim = {buckets} x {dim} = {product}" in message
    assert "at most 2^28 = 268435456" in message
    TrainConfig(features=FeatureSpec(buckets=2**28 // 64), dim=64)  # at the limit: accepted


def test_train_help_states_the_buckets_limit() -> None:
    from tinyslm.cli import cli

    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = re.sub(r"\s+", " ", result.output)
    # The option's own entry: other options' help also names --buckets (--max-model-kb's
    # default), and a window from that first mention missed the entry as that text grew.
    entry = text[text.index("--buckets INTEGER") :][:300]
    assert "At most 2^28 (268,435,456) buckets x --dim" in entry
