"""Load labelled phrases (CSV, JSONL or CLINC-style JSON), validate them, split them.

Formats, chosen by file extension:

- ``.csv``: a header row with ``text`` and ``label`` columns (any order, any
  case) and an optional ``split`` column (``train`` / ``val`` / ``test``);
  other columns are ignored. Comma-separated; a header that only makes sense
  split at ``;`` or tabs is refused with that hint (a guessed delimiter could
  split phrases wrongly).
- ``.tsv``: the same, tab-separated and read literally: a quote is part of the
  phrase (``"Alexa" turn on`` stays as written, as the device receives it), so a
  phrase cannot hold a tab; a file whose column names are all quoted was written by
  a program that quotes every field, and is read with CSV quoting. A header that
  quotes some of text, label and split but not both text and label is refused.
- ``.jsonl``: one object per line, ``{"text": ..., "label": ..., "split": ...}``
  with ``split`` optional.
- ``.json``: CLINC150 layout, ``{"train": [[text, label], ...], "val": ...,
  "test": ..., "oos_train": ..., "oos_val": ..., "oos_test": ...}``. Only
  ``train`` is required; a missing ``val`` or ``test`` is carved out of
  ``train`` with the requested fraction.

Rules:

- Out-of-scope rows (label ``oos``, ``out_of_scope`` or ``out-of-scope``, any
  case) never become a class: they are kept apart in ``oos_train`` /
  ``oos_val`` / ``oos_test`` so that the confidence threshold can be
  calibrated and measured against them.
- A file either gives a split for every row or for none. Without one, rows are
  split with a seeded, stratified split: per label, ``n * fraction`` rounded
  half up rows go to val and to test, but every label keeps at least one
  training row (held-out counts shrink, val first). Out-of-scope rows are split
  with the same fractions. Copies of one input (same label, the same
  ``input_words``) count once and all go to the split of the first copy, so a
  duplicate never sits in train and test at once; without copies the split is
  the one it always was. When this gives val no in-scope row (every intent under
  5 distinct phrases at 10%), val takes the val fraction of all inputs, one from
  each of as many intents of 3 or more inputs, 2 in train, with a warning. Same
  file and seed, same split; each split keeps file order. A given split is used
  as is and the fractions are ignored.
- Every in-scope label needs at least 2 examples in the file; smaller labels
  are refused (rather than silently dropped or trained on one phrase that
  can never be evaluated). A label with exactly 2 examples is accepted; with
  the default fractions both stay in train (``round(0.2 * 2) == 0``).
- A label that appears in val/test but not in train is refused, and at least
  two in-scope labels are needed.
- Text and labels are stripped of surrounding whitespace. Nothing is skipped
  silently: an empty text or label is an error naming the line. Blank lines,
  and CSV rows whose every field is blank (Excel's trailing ``,,,`` rows), are
  not rows and are skipped.

Every problem raises :class:`~tinyslm.errors.DatasetError` with a one-line
message naming the file and, where there is one, the line.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tinyslm.errors import DatasetError, json_reason, one_line
from tinyslm.resources import data_dir
from tinyslm.text.features import input_words

OOS_LABELS = {"oos", "out_of_scope", "out-of-scope"}  # compared case-insensitively
SPLITS = ("train", "val", "test")
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
DEMO_FILE = "demo_commands.csv"

_CLINC_KEYS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
_BOM = "\ufeff"  # the byte order mark, as text


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled in-scope phrase."""

    text: str
    label: str


@dataclass(frozen=True)
class Dataset:
    """A validated, split dataset.

    Attributes:
        labels: sorted in-scope intents; this is the model's output order.
        train, val, test: in-scope examples per split, in file order.
        oos_train, oos_val, oos_test: out-of-scope texts, never a class.
        source: display name (the file name, or ``"demo"``).
        warnings: non-fatal findings (duplicates, conflicting labels, ...).
    """

    labels: tuple[str, ...]
    train: tuple[Example, ...]
    val: tuple[Example, ...]
    test: tuple[Example, ...]
    oos_train: tuple[str, ...]
    oos_val: tuple[str, ...]
    oos_test: tuple[str, ...]
    source: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Row:
    text: str
    label: str
    split: str | None  # None: to be assigned by the seeded split
    where: int | str  # line number, or "train[3]", for messages (an int costs less)


def _at(where: int | str) -> str:
    return f"line {where}" if isinstance(where, int) else where


def demo_dataset_path() -> Path:
    """Return the bundled demo dataset (``tinyslm/data/demo_commands.csv``)."""
    return data_dir() / DEMO_FILE


def is_oos(label: str) -> bool:
    """True if ``label`` marks an out-of-scope phrase."""
    return label.strip().lower() in OOS_LABELS


def load_dataset(
    path: Path | None = None,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    progress: Callable[[str], None] | None = None,
    for_training: bool = True,
) -> Dataset:
    """Load, validate and split a dataset file: :func:`read_dataset`, then
    :meth:`DatasetRows.split`.

    CSV, TSV and JSONL files are read as a stream (row by row, never the whole
    text in memory at once), so a large file costs about its rows, not twice
    its size on top.

    Args:
        path: a ``.csv``, ``.tsv``, ``.jsonl`` or ``.json`` file; ``None`` loads the demo set.
        seed: seed of the stratified split (used only when the file has no split).
        val_fraction: share of each label held out for validation.
        test_fraction: share of each label held out for testing.
        progress: called with a line now and then while a large file
            (:data:`PROGRESS_MIN_BYTES` or more) is read.
        for_training: refuse what a model cannot be trained on (fewer than 2
            intents, an intent with 1 example or none in train, a CLINC-layout file
            without its ``train`` list); ``False`` for
            data that only scores a trained model (``tinyslm eval``).

    Returns:
        The validated :class:`Dataset`.

    Raises:
        DatasetError: the file is missing, unreadable, malformed or unusable.
    """
    # Before the file is read: a bad fraction is said without minutes of reading first.
    _check_fractions(val_fraction, test_fraction)
    read = read_dataset(path, progress=progress, for_training=for_training)
    return read.split(seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)


@dataclass(frozen=True)
class DatasetRows:
    """A dataset file's rows, read and checked as :func:`load_dataset` reads them, before
    the seeded split: :meth:`split` them with each seed wanted, the file read once (a
    benchmark scoring two models of two seeds on one file read it twice)."""

    rows: tuple[_Row, ...]
    carve: frozenset[str]  # the splits the seeded split carves (a CLINC file gives some)
    name: str  # the path, for messages
    source: str  # Dataset.source
    warnings: tuple[str, ...]  # what reading found
    for_training: bool

    def split(
        self, *, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2
    ) -> Dataset:
        """The validated :class:`Dataset`, split as :func:`load_dataset` splits it.

        Raises:
            DatasetError: bad fractions, or rows a dataset cannot be made of.
        """
        _check_fractions(val_fraction, test_fraction)
        return _build(
            list(self.rows),
            set(self.carve),
            self.name,
            self.source,
            seed,
            val_fraction,
            test_fraction,
            list(self.warnings),  # _build adds its findings to the list it is given
            self.for_training,
        )


def read_dataset(
    path: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    for_training: bool = True,
) -> DatasetRows:
    """Read and check a dataset file's rows (:func:`load_dataset`'s reading, without its
    split); ``None`` reads the demo set.

    Raises:
        DatasetError: the file is missing, unreadable, malformed or holds no row.
    """
    # The name is recorded (manifest, report, project files: UTF-8 text) and printed: a
    # byte that is not UTF-8 (0xff held as the lone surrogate U+DCFF) or a line break
    # in it is written as the shell shows it, '\xff', or as an escape, '\n'.
    source = "demo" if path is None else one_line(Path(path).name)
    path = demo_dataset_path() if path is None else Path(path)
    name, suffix = str(path), _checked_suffix(path)

    warnings: list[str] = []
    if suffix in (".csv", ".tsv", ".jsonl"):
        rows, literal = _read_stream(path, suffix, progress)
        _check_split_everywhere_or_nowhere(rows, name)
        if literal:
            warnings.extend(_spreadsheet_quoting(rows))
        carve = {"val", "test"}
    else:
        rows, carve = _parse_clinc(read_utf8(path), name, warnings, for_training)

    if not rows:
        raise _no_rows(name)
    if progress is not None and path.stat().st_size >= PROGRESS_MIN_BYTES:
        progress(f"read {len(rows)} rows; checking and splitting them ...")
    return DatasetRows(tuple(rows), frozenset(carve), name, source, tuple(warnings), for_training)


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Refuse held-out fractions no split can take.

    Raises:
        DatasetError: a fraction outside [0, 1), or the two summing to 1 or more.
    """
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0):
        raise DatasetError(
            f"val_fraction and test_fraction must be in [0, 1), got {val_fraction} and "
            f"{test_fraction}"
        )
    if val_fraction + test_fraction >= 1.0:
        raise DatasetError(
            f"val_fraction + test_fraction must be below 1, got {val_fraction + test_fraction:g}"
        )


def _no_rows(name: str) -> DatasetError:
    """The one refusal of a dataset file with no row (nothing, blank lines, a header
    alone), whatever its format and whichever check finds it first."""
    return DatasetError(f"{name}: no rows (the dataset is empty)")


def check_has_rows(path: Path) -> None:
    """Raise what :func:`load_dataset` would say of a file that holds no row: not there,
    not a dataset format, unreadable, malformed before its first row, or empty (nothing,
    blank lines, or a header alone).

    Reads up to the first row only (a CLINC ``.json`` is read whole). ``train`` calls it
    before refusing keyword options for a text dataset: a file with no row names no
    ``.wav`` either, so it is taken for text, and '--keyword-model: audio keyword
    options; DATA is a text intent dataset' was said of an empty file.

    Raises:
        DatasetError: as :func:`load_dataset` for the same file.
    """
    name, suffix = str(path), _checked_suffix(path)
    if suffix == ".json":
        rows, _ = _parse_clinc(read_utf8(path), name, [])
    else:
        rows, _ = _read_stream(path, suffix, None, limit=1)
    if not rows:
        raise _no_rows(name)


# --- reading -----------------------------------------------------------------


def _checked_suffix(path: Path) -> str:
    """``path``'s suffix (lower case), once it names a file of a supported format.

    Raises:
        DatasetError: ``path`` is not there, not a supported format, or not a file.
    """
    name = str(path)
    suffix = path.suffix.lower()
    # A path that is not there is a typo, whatever its name ends in: say so first (as
    # eval does) rather than call a mistyped folder name an unknown format.
    if not path.exists():
        raise DatasetError(f"{name}: dataset not found")
    if suffix not in SUPPORTED_SUFFIXES:
        raise DatasetError(
            f"{name}: unknown dataset format {path.suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.is_file():
        raise DatasetError(f"{name}: not a file")
    return suffix


def _read_stream(
    path: Path, suffix: str, progress: Callable[[str], None] | None, limit: int | None = None
) -> tuple[list[_Row], bool]:
    """The rows of a ``.csv``, ``.tsv`` or ``.jsonl`` (the first ``limit`` of them), and
    whether they were read literally (see :func:`_parse_csv`)."""
    name = str(path)
    try:
        with _open_stream(path, name, progress) as stream:
            lines = _without_leading_boms(stream)
            if suffix == ".jsonl":
                return _parse_jsonl(lines, name, limit), False
            return _parse_csv(lines, name, "\t" if suffix == ".tsv" else ",", limit)
    except UnicodeDecodeError:
        read_utf8(path)  # finds the line and raises the one-line error
        raise


# Files at least this large report their reading progress.
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
_PROGRESS_STEP = 0.1  # a line per tenth of the file


class _CountingReader(io.RawIOBase):
    """A binary file that reports how far it has been read."""

    def __init__(self, raw: io.BufferedReader, total: int, report: Callable[[int], None]) -> None:
        self._raw, self._total, self._report = raw, total, report
        self._done, self._next = 0, int(total * _PROGRESS_STEP)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        self._done += n or 0
        if self._done >= self._next and self._done < self._total:
            self._report(self._done)
            self._next = self._done + int(self._total * _PROGRESS_STEP)
        return n or 0


@contextlib.contextmanager
def _open_stream(
    path: Path, name: str, progress: Callable[[str], None] | None
) -> Iterator[io.TextIOWrapper]:
    try:
        raw = path.open("rb")
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from None
    total = path.stat().st_size
    start = time.perf_counter()
    mib = 1024 * 1024

    def report(done: int) -> None:
        if progress is not None:
            progress(
                f"reading {Path(name).name}: {done / mib:.0f} of {total / mib:.0f} MiB "
                f"({time.perf_counter() - start:.0f} s)"
            )

    source: BinaryIO = raw
    if progress is not None and total >= PROGRESS_MIN_BYTES:
        source = io.BufferedReader(_CountingReader(raw, total, report), 1024 * 1024)
    with raw, io.TextIOWrapper(source, encoding="utf-8-sig", newline="") as stream:
        yield stream


def _without_leading_boms(lines: Iterable[str]) -> Iterator[str]:
    """``lines`` with the run of U+FEFF that opens the first one removed.

    'utf-8-sig' drops one byte order mark; a file with a BOM re-saved by a program that
    adds one has two, and the second stuck to the header's first name: 'line 1: missing
    column(s) text' of a header that reads text,label. At the start of a file a U+FEFF
    is never text (no column name nor JSON value starts with one), so every one goes.
    """
    it = iter(lines)
    for first in it:
        yield first.lstrip(_BOM)
        break
    yield from it


def read_utf8(path: Path) -> str:
    """The file's text; a leading run of byte order marks removed, as
    :func:`_without_leading_boms` removes it from a stream."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig").lstrip(_BOM)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DatasetError(
            f"{path}: line {line}: not valid UTF-8 (byte 0x{data[e.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def _clean(value: object, what: str, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise DatasetError(f"{name}: {where}: {what} must be a string, got {value!r}")
    value = value.strip()
    if not value:
        raise DatasetError(f"{name}: {where}: empty {what}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can escape a lone surrogate ("\ud800"); it failed later in the tokenizer's
        # hash, or (in a label) in the report after the whole training.
        raise DatasetError(
            f"{name}: {where}: {what} {value!a} holds a lone surrogate, not UTF-8 text"
        ) from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) and what == "label":
        raise DatasetError(f"{name}: {where}: label {value!r} contains control characters")
    return value


def _clean_split(value: object, name: str, where: str) -> str:
    split = value.strip().lower() if isinstance(value, str) else value
    if split not in SPLITS:
        raise DatasetError(
            f"{name}: {where}: split must be one of {', '.join(SPLITS)}, got {value!r}"
        )
    assert isinstance(split, str)
    return split


def _delimiter_hint(header_line: str, delimiter: str) -> str:
    """Why a header without text/label columns may still be one: another delimiter."""
    for other, what in ((";", "semicolon"), ("\t", "tab"), (",", "comma")):
        if other == delimiter:
            continue
        cells = {c.strip().strip('"').lower() for c in header_line.split(other)}
        if {"text", "label"} <= cells:
            excel = "save it comma-separated (in Excel: 'CSV UTF-8 (Comma delimited)')"
            if other == ";":
                # Neither name reads semicolons: renaming it only sends the user from
                # one extension to the other, so say how to save it for either.
                fix = f"{excel} as .csv, or tab-separated as .tsv"
            elif other == "\t":
                fix = f"{excel} or name it .tsv"
            else:
                fix = "name it .csv"
            return f"; the header looks {what}-separated: {fix}"
    return ""


def _wrapped(cell: str) -> bool:
    """Wrapped in double quotes, as CSV quoting writes a field."""
    return len(cell) >= 2 and cell[0] == cell[-1] == '"'


def _spreadsheet_quoting(rows: Sequence[_Row]) -> list[str]:
    """A .tsv whose header is not quoted is read literally; rows that look CSV-quoted by
    a program (a label wrapped in quotes, or a phrase wrapped in quotes with a comma or
    a doubled quote inside, as spreadsheets quote) keep their quotes, so say so rather
    than train on them unnoticed. A quoted header already switches quoting on."""
    quoted = [
        r
        for r in rows
        if _wrapped(r.label)
        or (len(r.text) > 2 and _wrapped(r.text) and ("," in r.text or '""' in r.text[1:-1]))
    ]
    if not quoted:
        return []
    return [
        f"{len(quoted)} row(s) look quoted by a program (a label in quotes, or a phrase in "
        f"quotes with a comma or a doubled quote inside; first: {_at(quoted[0].where)}); a "
        ".tsv is read literally unless its column names are quoted too, so the quotes are "
        "part of the phrase or label: if a program added them, quote every field (header "
        "included) or save the file as .csv"
    ]


def _quote_hint(error: str, start: int, end: int | None) -> str:
    """Why a row ran on: a quote opened on line ``start`` and not closed by line ``end``
    (``None``: the field outgrew the csv module's limit first). Empty when neither."""
    if end is not None and end > start:
        return (
            f"(a quote opened on line {start} runs on to line {end}: close it, "
            'or write a quote inside quoted text as "")'
        )
    if "field limit" in error:
        return (
            " (a field starts on this line and runs on: a quote never closed, "
            "or a phrase far too long)"
        )
    return ""


class _Lines:
    """The lines a csv reader takes from a stream, those of the current row kept, so a
    row can be judged by its raw text (the reader drops a quote it never saw closed)."""

    def __init__(self, stream: Iterable[str]) -> None:
        self._stream = stream
        self.row: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.row.append(line)
            yield line


def _unclosed_hint(fields: Sequence[str], start: int, raw: Sequence[str] = ()) -> str:
    """A quote opened on line ``start`` and never closed before the end of the file:
    the csv module gives one field holding the rest of the line, its line break
    included, or on a last line without one, the rest of the line alone (the row's raw
    text says so). Said so: "quote text that contains commas"
    was wrong, as it was quoted."""
    text = "".join(raw)
    # At the end of the file: the row has no line break, a quote opens one of its fields
    # (the csv module takes a quote as quoting only there) and its quotes do not pair up.
    # A literal quote inside an unquoted cell ('buy a 12" screen') opens nothing.
    at_end = bool(text) and not text.endswith(("\n", "\r"))
    opened = at_end and text.count('"') % 2 == 1 and re.search(r'(?:^|,)"', text) is not None
    if any("\n" in f or "\r" in f for f in fields) or opened:
        return (
            f'(a quote (") opened on line {start} is never closed: close it, '
            'or write a quote inside quoted text as "")'
        )
    return ""


def _short_row_hint(n_columns: int, delimiter: str) -> str:
    """Why a row has fewer fields than the header names: a cell is missing."""
    empty = "',,'" if delimiter == "," else "two tabs in a row"
    return (
        f"(the row ends early: a cell is missing; give every row all {n_columns} "
        f"columns, an empty one as {empty})"
    )


def _excel_sep_line(header: Sequence[str], delimiter: str) -> str:
    """Excel's ``sep=;`` first line (it tells Excel the delimiter; no other reader
    knows it), named rather than called a header without text and label."""
    joined = delimiter.join(header).lstrip()
    if not (joined.lower().startswith("sep=") and len(joined.rstrip(" \r\n")) <= 5):
        return ""
    sep = joined[4:5]
    if sep in ("", delimiter):
        fix = "delete that line"
    else:
        what = {"\t": "tab-separated", ";": "semicolon-separated"}.get(sep, f"{sep!r}-separated")
        kind = "comma-separated" if delimiter == "," else "tab-separated"
        fix = f"the file is {what}: delete that line and save it {kind}"
    return f"; it is Excel's {joined[:5]!r} delimiter line, not a header: {fix}"


def _parse_csv(
    stream: Iterable[str], name: str, delimiter: str = ",", limit: int | None = None
) -> tuple[list[_Row], bool]:
    """The rows (the first ``limit``), and whether they were read literally (a .tsv
    without quoted names)."""
    # A .tsv is read literally, as tab-separated files conventionally are: CSV quoting
    # turned '"Alexa" turn on' into 'Alexa turn on', a phrase the device never receives.
    literal = delimiter == "\t"
    lines = _Lines(stream)
    reader = (
        csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
        if literal
        else csv.reader(lines, delimiter=delimiter)
    )
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise DatasetError(f"{name}: line 1: malformed CSV header: {e}") from None
    if header is not None and not any(h.strip() for h in header):
        # A blank first line: a file of blank lines only is empty, as a file of nothing
        # is (it read 'line 1: missing column(s) text, label'). One with more after it
        # is refused below for its blank header.
        try:
            if not any(any(f.strip() for f in row) for row in reader):
                header = None
        except csv.Error:
            pass  # malformed further on: the blank header is the first problem
    if header is None:
        raise _no_rows(name)
    # Lines the csv module read before the current reader (the header, when it is swapped).
    offset = 0
    quoted_names = {h.strip()[1:-1].lower() for h in header if _wrapped(h.strip())}
    # R's write.table writes each row's name first, under no column name.
    row_names = False
    if literal and {"text", "label"} <= quoted_names:
        # The text and label column names quoted: a program that quotes fields wrote it
        # (R's write.table, pandas' QUOTE_ALL or QUOTE_NONNUMERIC, LibreOffice's "quote
        # all text cells"), so its quotes are CSV quoting, not part of the phrases.
        header = [h.strip()[1:-1].replace('""', '"') if _wrapped(h.strip()) else h for h in header]
        offset, literal, row_names = reader.line_num, False, True
        reader = csv.reader(lines, delimiter=delimiter)
    elif literal and quoted_names & {"text", "label", "split"}:
        # Deliberate (a literal .tsv's column named '"text"' is not its text column, and
        # a program that quotes fields quotes both names): said as it is, not as
        # "missing column(s) text", nor a quoted "split" ignored as another column.
        said = [f'"{c}"' for c in ("text", "label", "split") if c in quoted_names]
        bare = [c for c in ("text", "label") if c not in quoted_names]
        raise DatasetError(
            f"{name}: line 1: the column name{'s' if len(said) > 1 else ''} "
            f"{' and '.join(said)} {'are' if len(said) > 1 else 'is'} quoted but "
            f"{' and '.join(bare)} {'are' if len(bare) > 1 else 'is'} not; a .tsv is read "
            "with CSV quoting only when text and label are both quoted, else literally, "
            "quotes and all: quote every column name or none"
        )
    columns = [h.strip().lower() for h in header]
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        raise DatasetError(
            f"{name}: line 1: missing column(s) {', '.join(missing)}; "
            "the header must name text and label (split optional)"
            + (
                _excel_sep_line(header, delimiter)
                or _delimiter_hint(delimiter.join(header), delimiter)
            )
            + (
                " (quoted column names: a .tsv is read with CSV quoting when text and label"
                " are both quoted, else literally)"
                if literal and quoted_names
                else ""
            )
        )
    for col in ("text", "label", "split"):
        if columns.count(col) > 1:
            raise DatasetError(f"{name}: line 1: column {col!r} appears more than once")
    i_text, i_label = columns.index("text"), columns.index("label")
    i_split = columns.index("split") if "split" in columns else None
    rows: list[_Row] = []
    while limit is None or len(rows) < limit:
        # A row is named by the line it starts on: a quote never closed swallows the
        # lines after it, and the csv module's own line number is where it gave up.
        line = offset + reader.line_num + 1
        where = f"line {line}"
        lines.row = []
        try:
            fields = next(reader, None)
        except csv.Error as e:
            raise DatasetError(
                f"{name}: {where}: malformed CSV: {e}"
                + (
                    (" (a phrase far too long)" if "field limit" in str(e) else "")
                    if literal
                    else _quote_hint(str(e), line, None)
                )
            ) from None
        if fields is None:
            break
        if not any(f.strip() for f in fields):
            # A blank line is not a row, nor is a row of empty cells: Excel writes
            # ",,," for rows it once saw formatted below the data.
            continue
        if row_names and len(fields) == len(columns) + 1:
            fields = fields[1:]
        if len(fields) != len(columns):
            raise DatasetError(
                f"{name}: {where}: expected {len(columns)} fields, got {len(fields)} "
                + (
                    # Quoting or a stray tab makes a row longer, never shorter.
                    _short_row_hint(len(columns), delimiter)
                    if len(fields) < len(columns)
                    and not _quote_hint("", line, offset + reader.line_num)
                    and not _unclosed_hint(fields, line, () if literal else lines.row)
                    else "(a tab inside a phrase splits it)"
                    if literal
                    else _quote_hint("", line, offset + reader.line_num)
                    or _unclosed_hint(fields, line, () if literal else lines.row)
                    or f"(quote text that contains {'commas' if delimiter == ',' else 'tabs'})"
                )
            )
        split_raw = fields[i_split].strip() if i_split is not None else ""
        rows.append(
            _Row(
                _clean(fields[i_text], "text", name, where),
                _clean(fields[i_label], "label", name, where),
                _clean_split(split_raw, name, where) if split_raw else None,
                line,
            )
        )
    return rows, literal


def _parse_jsonl(stream: Iterable[str], name: str, limit: int | None = None) -> list[_Row]:
    rows: list[_Row] = []
    for lineno, line in enumerate(stream, start=1):
        if limit is not None and len(rows) >= limit:
            break
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as e:
            raise DatasetError(f"{name}: {where}: malformed JSON: {json_reason(e)}") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{name}: {where}: expected a JSON object with text and label")
        missing = [k for k in ("text", "label") if k not in obj]
        if missing:
            raise DatasetError(f"{name}: {where}: missing key(s) {', '.join(missing)}")
        split = obj.get("split")
        rows.append(
            _Row(
                _clean(obj["text"], "text", name, where),
                _clean(obj["label"], "label", name, where),
                None if split is None or split == "" else _clean_split(split, name, where),
                lineno,
            )
        )
    return rows


def _check_split_everywhere_or_nowhere(rows: list[_Row], name: str) -> None:
    # A half-split file is almost always a mistake (a forgotten cell), not a request
    # to mix given and seeded splits.
    given = [r.split is not None for r in rows]
    if any(given) and not all(given):
        first = rows[given.index(False)]
        raise DatasetError(
            f"{name}: {_at(first.where)}: no split, but other rows have one; "
            "give a split for every row or for none"
        )


def _parse_clinc(
    text: str, name: str, warnings: list[str], for_training: bool = True
) -> tuple[list[_Row], set[str]]:
    """The rows of a CLINC-layout object and the held-out splits to carve from train.

    Training needs the ``train`` list; data that only scores a trained model
    (``for_training`` False) may be held-out lists alone (``test`` and ``oos_test``,
    as a CLINC test set ships), so it needs any one of the layout's lists.
    """
    if not text.strip():
        raise _no_rows(name)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{name}: line {e.lineno}: malformed JSON: {e.msg}") from None
    except (ValueError, RecursionError) as e:
        raise DatasetError(f"{name}: malformed JSON: {json_reason(e)}") from None
    lists = "/".join(_CLINC_KEYS)
    if not isinstance(obj, dict):
        wanted = "a 'train' list" if for_training else f"one or more of the {lists} lists"
        raise DatasetError(f"{name}: expected a JSON object with {wanted} (CLINC layout)")
    if for_training and "train" not in obj:
        raise DatasetError(f"{name}: missing key 'train' (CLINC layout)")
    ignored = sorted(set(obj) - set(_CLINC_KEYS))
    if not any(key in obj for key in _CLINC_KEYS):
        also = f" (only {', '.join(map(repr, ignored))})" if ignored else ""
        raise DatasetError(f"{name}: no {lists} list{also} (CLINC layout)")
    if ignored:
        warnings.append(f"ignored keys in {Path(name).name}: {', '.join(ignored)}")
    # Missing held-out lists are carved out of train (in-scope and oos alike).
    carve = {s for s in ("val", "test") if s not in obj}
    rows: list[_Row] = []
    for key in _CLINC_KEYS:
        if key not in obj:
            continue
        items = obj[key]
        if not isinstance(items, list):
            raise DatasetError(f"{name}: {key!r} must be a list of [text, label] pairs")
        split = key.removeprefix("oos_")
        assigned: str | None = None if split == "train" and carve else split
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            if isinstance(item, dict) and "text" in item and "label" in item:
                item = [item["text"], item["label"]]
            if not isinstance(item, list) or len(item) != 2:
                raise DatasetError(f"{name}: {where}: expected a [text, label] pair")
            text = _clean(item[0], "text", name, where)
            label = _clean(item[1], "label", name, where)
            # An oos_* list holds out-of-scope phrases: an intent label there trained the
            # phrase as that intent, silently.
            if key.startswith("oos_") and not is_oos(label):
                raise DatasetError(
                    f"{name}: {where}: label {label!r} under {key!r} is not out-of-scope; "
                    f"label it 'oos', or move the pair to {split!r}"
                )
            rows.append(_Row(text, label, assigned, where))
    return rows, carve


# --- validation and split ------------------------------------------------------


def _build(
    rows: list[_Row],
    carve: set[str],
    name: str,
    source: str,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    warnings: list[str],
    for_training: bool = True,
) -> Dataset:
    inscope = [r for r in rows if not is_oos(r.label)]
    counts = Counter(r.label for r in inscope)
    if for_training and len(counts) < 2:
        found = f"only {next(iter(counts))!r}" if counts else "none"
        raise DatasetError(f"{name}: need at least 2 in-scope intents, found {found}")
    small = sorted(label for label, n in counts.items() if n < 2)
    if for_training and small:
        # The lone phrase's line (or CLINC index), as every other row problem is named.
        lone = _at(next(r.where for r in inscope if r.label == small[0]))
        raise DatasetError(
            f"{name}: every intent needs at least 2 examples; too few for {_some(small)} "
            f"({lone if len(small) == 1 else 'the first at ' + lone})"
        )

    fractions = {
        "val": val_fraction if "val" in carve else 0.0,
        "test": test_fraction if "test" in carve else 0.0,
    }
    rng = random.Random(seed)
    split_of: dict[int, str] = {}
    # Rows to carve, by label (out-of-scope under None), grouped by what the model reads:
    # a group is one input's copies, carved as one row so that every copy lands in the
    # split of its first. Copies carved one by one put training phrases in test (two
    # merged exports measured 9 of 18 test phrases on their training twins). Without
    # copies every group is one row and the split is the one it always was.
    pool: dict[str | None, dict[bytes, list[int]]] = defaultdict(dict)
    for i, r in enumerate(rows):
        if r.split is not None:
            split_of[i] = r.split
        else:
            label = None if is_oos(r.label) else r.label
            pool[label].setdefault(input_words(r.text), []).append(i)
    groups = {label: list(by_input.values()) for label, by_input in pool.items()}
    for label in sorted(lb for lb in groups if lb is not None):
        split_of.update(_carve_groups(groups[label], fractions, rng, keep_train=True))
    split_of.update(_carve_groups(groups.get(None, []), fractions, rng, keep_train=False))
    val_note = _carve_val_across(groups, split_of, fractions["val"], rng)

    by_split: dict[str, list[Example]] = {s: [] for s in SPLITS}
    oos: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i, r in enumerate(rows):
        if is_oos(r.label):
            oos[split_of[i]].append(r.text)
        else:
            by_split[split_of[i]].append(Example(r.text, r.label))

    train_labels = {e.label for e in by_split["train"]}
    unseen = sorted(set(counts) - train_labels)
    if for_training and unseen:
        raise DatasetError(
            f"{name}: intent(s) {_some(unseen)} appear only in val/test, never in train"
        )

    warnings.extend(_findings(rows, by_split, for_training))
    if val_note is not None and for_training:
        warnings.append(val_note)
    if for_training and not by_split["val"]:
        carved = "val" in carve and any(r.split is None for r in inscope)
        warnings.append(_empty_val(fractions["val"], carved))
    return Dataset(
        labels=tuple(sorted(counts)),
        train=tuple(by_split["train"]),
        val=tuple(by_split["val"]),
        test=tuple(by_split["test"]),
        oos_train=tuple(oos["train"]),
        oos_val=tuple(oos["val"]),
        oos_test=tuple(oos["test"]),
        source=source,
        warnings=tuple(warnings),
    )


def _carve_groups(
    groups: Sequence[list[int]],
    fractions: dict[str, float],
    rng: random.Random,
    *,
    keep_train: bool,
) -> dict[int, str]:
    """:func:`_carve` of the groups' first rows; every other row of a group follows its
    first (the fractions count distinct inputs)."""
    first = _carve([g[0] for g in groups], fractions, rng, keep_train=keep_train)
    return {i: first[g[0]] for g in groups for i in g}


def _carve_val_across(
    groups: dict[str | None, list[list[int]]],
    split_of: dict[int, str],
    val_fraction: float,
    rng: random.Random,
) -> str | None:
    """Give val in-scope phrases when the per-label carve gave it none: every intent
    has fewer than 5 distinct phrases (10% of 4 rounds to none), and the threshold
    would be calibrated on training phrases, which the model is sure of (200 intents
    of 3 phrases escalated 28.5% of a test set it got all right).

    The val fraction of all carved in-scope inputs, at most one from each intent of
    3 or more inputs with 2 in train, chosen with the seeded generator. Runs only when
    val is empty, so a split whose val has a phrase is the one it always was.

    Returns:
        A line for the warnings saying what was done, or ``None`` when nothing was.
    """
    inscope: dict[str, list[list[int]]] = {
        label: g for label, g in groups.items() if label is not None
    }
    if val_fraction <= 0 or not inscope:
        return None
    if any(split_of[i] == "val" for g in inscope.values() for group in g for i in group):
        return None
    wanted = int(sum(len(g) for g in inscope.values()) * val_fraction + 0.5)
    eligible = [
        label
        for label in sorted(inscope)
        # An intent of 2 phrases keeps both in train, as the module's rules say.
        if len(inscope[label]) >= 3
        and sum(split_of[group[0]] == "train" for group in inscope[label]) >= 2
    ]
    if not wanted or not eligible:
        return None
    rng.shuffle(eligible)
    taken = eligible[:wanted]
    for label in taken:
        train = [group for group in inscope[label] if split_of[group[0]] == "train"]
        for i in rng.choice(train):
            split_of[i] = "val"
    return (
        f"no intent has enough distinct phrases for its own {val_fraction:.0%} val share to"
        f" round to one: val takes one phrase from each of {len(taken)} intent(s) instead, to "
        "calibrate the threshold on phrases the model was not trained on; more phrases per "
        "intent, or a split column, give a better val split"
    )


def _carve(
    indices: Sequence[int], fractions: dict[str, float], rng: random.Random, *, keep_train: bool
) -> dict[int, str]:
    """Assign one group's rows to train/val/test with the given fractions.

    Half-up rounding (not Python's banker's rounding) so the counts are easy to
    predict; held-out counts shrink (val first) until one training row is left.
    """
    n = len(indices)
    n_val = int(n * fractions["val"] + 0.5)
    n_test = int(n * fractions["test"] + 0.5)
    if keep_train:
        while n_val + n_test > n - 1 and n_val > 0:
            n_val -= 1
        while n_val + n_test > n - 1 and n_test > 0:
            n_test -= 1
    order = list(indices)
    rng.shuffle(order)
    out = {i: "test" for i in order[:n_test]}
    out.update({i: "val" for i in order[n_test : n_test + n_val]})
    out.update({i: "train" for i in order[n_test + n_val :]})
    return out


def _findings(
    rows: Sequence[_Row], by_split: dict[str, list[Example]], for_training: bool = True
) -> list[str]:
    """Non-fatal problems worth telling the user about (empty splits: when training).

    Duplicates and conflicts compare what the model reads (``input_words``: the
    tokenizer folds only A-Z and drops punctuation), not the text: Python's
    ``lower()`` called "ÉTEINS" a duplicate of "éteins", which the model
    sees as other ids, and missed "turn it on!" and "Turn it on" under two labels,
    one input to the model.
    """
    out: list[str] = []
    # One dict entry per distinct input (its first label); the rare inputs seen with
    # other labels too get a set. A set and a counter entry per row cost ~300
    # bytes a row on a large file.
    first: dict[bytes, str] = {}
    others: dict[bytes, set[str]] = {}
    dups = 0  # rows whose (input, label) came before
    broken = 0  # rows whose phrase holds a line end
    first_broken: int | str = 0
    clash: tuple[bytes, _Row] | None = None  # the first row to give an input a 2nd label

    def canonical(label: str) -> str:
        return "oos" if is_oos(label) else label

    commands = 0  # phrases the device reads as a command
    first_command: int | str = 0
    spaced = 0  # phrases holding non-ASCII spacing or punctuation
    first_spaced: tuple[int | str, str] | None = None
    for r in rows:
        odd = _NON_ASCII_BREAKS.search(r.text)
        if odd is not None:
            spaced += 1
            first_spaced = first_spaced or (r.where, odd.group())
        if "\n" in r.text or "\r" in r.text:
            broken += 1
            first_broken = first_broken or r.where
        if r.text.startswith(":"):
            commands += 1
            first_command = first_command or r.where
        key = input_words(r.text)
        prev = first.get(key)
        if prev is None:
            first[key] = r.label
        elif prev == r.label:
            dups += 1
        else:
            seen = others.setdefault(key, set())
            dups += r.label in seen
            seen.add(r.label)
            if clash is None and canonical(r.label) != canonical(prev):
                clash = (key, r)

    conflicts = sum(
        len({canonical(first[key])} | {canonical(label) for label in more}) > 1
        for key, more in others.items()
    )
    if clash is not None:
        key, second = clash
        # The input's first row, for the example: found again rather than kept for
        # every row (a text per distinct input doubles what the dict holds).
        one = next(r for r in rows if input_words(r.text) == key)
        out.append(
            f"{conflicts} input(s) carry more than one label: phrases the model reads as "
            f"the same words (it folds only A-Z and drops punctuation), e.g. "
            f"{_clip(one.text)!r} ({one.label}, {_at(one.where)}) and {_clip(second.text)!r} "
            f"({second.label}, {_at(second.where)})"
        )
    if dups:
        out.append(
            f"{dups} duplicate row(s) (same label, and phrases the model reads as the same words)"
        )
    if broken:
        # Quoted CSV and JSON can hold them; the firmware ends a line at \n or \r, so the
        # board only ever sees such a phrase in pieces. Not refused: training on it does
        # no harm, but its figures are not the board's.
        out.append(
            f"{broken} phrase(s) hold a newline or carriage return (first: "
            f"{_at(first_broken)}): the device ends a line at a newline or carriage return, "
            "so it never receives them whole"
        )
    if first_spaced is not None:
        where, char = first_spaced
        out.append(
            f"{spaced} phrase(s) hold non-ASCII spacing or punctuation (no-break or thin "
            f"space, curly quote, ideographic or fullwidth punctuation; first: {_at(where)}, "
            f"U+{ord(char):04X}): the tokenizer reads it as part of a word, not a break, so "
            "'fait-il ?' with a no-break space and with a plain one are different inputs; "
            "write phrases as the device will receive them"
        )
    if commands:
        # The serial protocol takes a line starting with ':' for a command (":info",
        # ":do <intent>"), so an emoticon-led ":) lights on" is never classified on the
        # board, while training and eval score it as a phrase.
        out.append(
            f"{commands} phrase(s) start with ':' (first: {_at(first_command)}): the device "
            "reads such a line as a command, not a phrase, so the board never classifies "
            "them; reword them so they do not start with ':'"
        )
    out += _label_spellings({r.label for r in rows})
    if for_training and not by_split["test"]:
        out.append("the test split has no in-scope examples")
    return out


def _empty_val(val_fraction: float, carved: bool) -> str:
    """Why val has no in-scope phrase, what follows, and what to do."""
    if not carved:
        why = "the file's split gives it no in-scope row"
    elif val_fraction <= 0:
        why = "the val fraction is 0"
    else:
        why = (
            f"no intent has enough distinct phrases for its {val_fraction:.0%} val share to "
            "round to one, nor 3 phrases, 2 in train, to lend one"
        )
    return (
        f"the val split has no in-scope examples ({why}): the threshold is calibrated on "
        "training phrases, which the model is surer of, so more new phrases escalate; "
        "add phrases to each intent, or give every row a split with some val rows"
    )


# Spacing and punctuation that word processors, autocorrect and CJK input put in text
# and the tokenizer reads as word bytes (every byte >= 0x80 is one): no-break, narrow
# no-break and thin spaces, curly quotes, the ideographic space and punctuation, and
# fullwidth ASCII punctuation.
_NON_ASCII_BREAKS = re.compile(
    "[\u00a0\u202f\u2009\u2018\u2019\u201c\u201d\u3000-\u3003"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"
)


def _label_spellings(labels: set[str]) -> list[str]:
    """Labels that look like one meant otherwise: two spellings of one intent
    ("Lights_On" and "lights_on" became two intents no phrase tells apart) and an
    out-of-scope label the loader does not take as one ("out of scope" was trained as an
    intent)."""
    out: list[str] = []
    spelled: dict[str, list[str]] = defaultdict(list)
    for label in sorted(labels):
        if not is_oos(label):
            spelled[label.lower()].append(label)
    twins = [names for names in spelled.values() if len(names) > 1]
    if twins:
        shown = ", ".join(" and ".join(repr(n) for n in names) for names in twins[:3])
        out.append(
            f"{len(twins)} intent name(s) differ only in case ({shown}): each is its own "
            "intent; spell each one way"
        )
    near = sorted(
        lb
        for lb in labels
        if not is_oos(lb) and lb.strip().lower().replace(" ", "_") in OOS_LABELS | {"outofscope"}
    )
    if near:
        out.append(
            f"label {near[0]!r} is trained as an intent; out-of-scope phrases are labelled "
            f"one of {', '.join(sorted(OOS_LABELS))}"
        )
    return out


# The device's serial line buffer (TINYSLM_MAX_LINE): the usual size, and the
# most tinyslm sizes it to when a dataset has longer phrases (static RAM on the
# board; a phrase classifier gains nothing from paragraphs).
DEFAULT_MAX_LINE = 256
MAX_LINE_LIMIT = 4096
_LINE_STEP = 64


@dataclass(frozen=True)
class LineLimit:
    """The device line limit a dataset needs.

    Attributes:
        max_line: ``TINYSLM_MAX_LINE`` in bytes: the default, or the longest line
            the device must take (a phrase that can fit, or the host's ``:do``
            line for the longest intent) rounded up to 64 bytes, at most
            ``MAX_LINE_LIMIT``.
        longest: bytes (UTF-8) of the longest phrase in any split.
        too_long: phrases (any split) longer than ``max_line``: the device answers
            them with ``line_too_long``, so they are scored in training only.
        warnings: what to tell the user.
    """

    max_line: int
    longest: int
    too_long: tuple[str, ...]
    warnings: tuple[str, ...]


# The host's answer to an escalated phrase: ":do <intent>" (tinyslm_core.c). The
# board counts the line's bytes without its newline against TINYSLM_MAX_LINE.
DO_PREFIX = ":do "


def line_limit(dataset: Dataset, limit: int = MAX_LINE_LIMIT) -> LineLimit:
    """Size the device's line buffer from the phrases and the intents' ``:do`` lines, and
    say what does not fit.

    Raises:
        DatasetError: an intent so long that its ``:do`` line exceeds ``limit``: the
            board could never act on the host's answer for it.
    """
    do_sizes = {label: len((DO_PREFIX + label).encode("utf-8")) for label in dataset.labels}
    over = [label for label, n in do_sizes.items() if n > limit]
    if over:
        label = max(over, key=do_sizes.__getitem__)
        raise DatasetError(
            f"{dataset.source}: intent {_clip(label)!r} is {do_sizes[label] - len(DO_PREFIX)} "
            f"bytes: the host's '{DO_PREFIX}<intent>' line for it exceeds the device's largest "
            f"line limit ({limit} bytes), so the board could never act on it; shorten it"
        )
    texts = [e.text for e in dataset.train + dataset.val + dataset.test]
    texts += [*dataset.oos_train, *dataset.oos_val, *dataset.oos_test]
    sizes = [len(t.encode("utf-8")) for t in texts]
    longest = max(sizes, default=0)
    # Sized from what can fit: a phrase over the limit gets line_too_long whatever the
    # buffer, so it must not raise the limit (and the board's RAM) for nothing.
    need = max((n for n in sizes if n <= limit), default=0)
    need = max(need, *do_sizes.values(), 0)
    need = -(-need // _LINE_STEP) * _LINE_STEP
    max_line = min(max(DEFAULT_MAX_LINE, need), limit)
    too_long = tuple(t for t, n in zip(texts, sizes, strict=True) if n > max_line)
    warnings: list[str] = []
    if too_long:
        warnings.append(
            f"{len(too_long)} phrase(s) longer than the device's {max_line}-byte line limit "
            f"(longest {longest} bytes; the limit goes up to {limit} at most), e.g. "
            f"{_clip(too_long[0])!r}: the device answers them with line_too_long, so training "
            "scores them but the board never will"
        )
    if max_line > DEFAULT_MAX_LINE:
        fitting = [size for size in sizes if DEFAULT_MAX_LINE < size <= max_line]
        why = []
        if fitting:
            why.append(
                f"{len(fitting)} phrase(s) longer than {DEFAULT_MAX_LINE} bytes "
                f"(longest {max(fitting)})"
            )
        longest_do = max(do_sizes.values(), default=0)
        if longest_do > DEFAULT_MAX_LINE:
            why.append(f"the host's '{DO_PREFIX}<intent>' line of {longest_do} bytes")
        warnings.append(
            f"{' and '.join(why)}: the device's line limit is raised to {max_line} bytes "
            "(TINYSLM_MAX_LINE, static RAM)"
        )
    return LineLimit(max_line, longest, too_long, tuple(warnings))


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _some(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(s) for s in items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
