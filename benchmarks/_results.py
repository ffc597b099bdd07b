"""The benchmark scripts' command lines: ``--json`` and ``--data`` checked before the run,
and every refusal in one line (:class:`Parser`).

A benchmark writes its figures only where ``--json`` says, replacing only an earlier
figures file, never one of the run's own inputs nor a file of the user's: ``--json
data.csv`` once replaced the dataset with the figures, ``--json MODEL/manifest.json`` the
model's manifest, and any JSON object was taken for figures (``--json boards/schema.json``
replaced the board schema). Figures are marked (a ``"benchmark"`` key naming the script,
first in the file), and a benchmark replaces only its own: a file marked with its name,
never another benchmark's figures, nor a file already in ``benchmarks/results/``
(the committed figures there are kept by hand, several with earlier runs and notes
that a run's figures would replace whole; a new file there is written). The file is
written whole (a temporary file renamed) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tinyslm.errors import OutputError
from tinyslm.outdir import check_file_target, finite, names_folder, real_path, write_file


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` with each option's default, as ``tinyslm train --help`` shows them
    (``--epochs``, ``--data`` and a dozen more were listed with neither a word nor a
    default), except where the help already says it or it is unset (None, off, empty);
    the one-line description as written (argparse broke ``--host-model`` at its dash)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            not action.option_strings
            # Identity: 0 (--batch-size's auto, --seed) equals False and is a default.
            or action.default is None
            or action.default is False
            or action.default == []
            or action.default == argparse.SUPPRESS
            or "default" in text
        ):
            return text
        return f"{text} (default: %(default)s)".lstrip()


class Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line, ``PROG: error: MESSAGE`` (exit 2).

    argparse prints its whole usage block (a dozen lines for clinc150.py) before the
    error; bad input gets one line naming the problem, as tinyslm's own commands do.
    ``--help`` still shows the usage, and each option's default.
    """

    def __init__(self, description: str) -> None:
        # The script's docstring is reST; ``--host-model`` read as such, split over lines.
        super().__init__(description=description.replace("``", "'"), formatter_class=_HelpFormatter)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def given_argv(argv: typing.Sequence[str] | None) -> list[str]:
    """The arguments a script was run with (``argv``, else the command line's), for its
    figures to record which data and settings made them."""
    return list(sys.argv[1:] if argv is None else argv)


# The folder of the material outside the repository (datasets, SDK trees), as the tests
# (tests/shared_paths.py) and the README name it: the benchmarks looked only beside the
# checkout, and skipped with exit 0 where the tests found the data.
SHARED_ENV = "TINYSLM_SHARED_DIR"


def shared_dir() -> Path:
    """``$TINYSLM_SHARED_DIR``, else ``shared/`` beside the checkout."""
    raw = os.environ.get(SHARED_ENV, "").strip()
    return Path(raw) if raw else Path(__file__).resolve().parents[1].parent / "shared"


# What marks a figures file; its value is the benchmark's name.
MARK = "benchmark"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# tinyslm.outdir ends its refusal of a link at --json with this hint for tinyslm's own
# commands, whose --json takes '-' for stdout; a benchmark refuses '-' (it prints its
# table there), so the hint would send the user to another refusal.
_STDOUT_HINT = " ('-' prints to stdout)"


def _message(exc: OutputError) -> str:
    """``exc``'s one line as a benchmark says it (without the stdout hint)."""
    return str(exc).replace(_STDOUT_HINT, "")


def _json_object(data: bytes) -> dict[str, object] | None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _in_results(path: Path) -> bool:
    return real_path(path).parent == real_path(RESULTS_DIR)


def _replaceable(benchmark: str) -> Callable[[bytes], bool]:
    """What ``benchmark``'s ``--json path`` may replace: its own earlier figures, marked
    with its name. Any marked file was replaced, and any object in results/:
    ``escalation.py --json results/speech_commands.json`` replaced 30 rounds of hand-kept
    notes with escalation's figures (and its own benchmark's run, with one run's)."""

    def replaceable(data: bytes) -> bool:
        doc = _json_object(data)
        return doc is not None and doc.get(MARK) == benchmark

    return replaceable


def json_target_problem(
    path: Path | None, inputs: Iterable[Path | None], benchmark: str
) -> str | None:
    """Why ``--json path`` cannot be written by ``benchmark``'s run (one line), or None."""
    if path is None:
        return None
    if str(path) == "-":
        # The CLI's '--json -' (stdout) does not apply: a benchmark prints its table there.
        # It was taken as a file named '-', and one already there failed after the run.
        return "--json -: a benchmark writes its figures to a file; give a path"
    target = real_path(path)
    for given in inputs:
        if given is None:
            continue
        source = real_path(given)
        if target == source or source in target.parents:
            return f"--json {path} is this run's input {given} (or inside it); give another file"
    other = _other_benchmark(path, benchmark)
    if other is not None:
        return (
            f"--json {path} holds the {other} benchmark's figures, not {benchmark}'s;"
            " give another file"
        )
    if _in_results(path) and path.is_file():
        return (
            f"--json {path} is a file in benchmarks/results/, which --json never replaces"
            " (the committed figures there are kept by hand); write to another file and"
            " copy what you keep into it by hand"
        )
    try:
        check_file_target(path, "--json", _replaceable(benchmark))
    except OutputError as exc:
        return _message(exc)
    return None


def _other_benchmark(path: Path, benchmark: str) -> str | None:
    """The other benchmark whose figures ``path`` holds (its mark), or None."""
    try:
        data = path.read_bytes() if path.is_file() else None
    except OSError:
        return None  # check_file_target says what is wrong with it
    doc = None if data is None else _json_object(data)
    mark = None if doc is None else doc.get(MARK)
    return mark if isinstance(mark, str) and mark != benchmark else None


def path_arg(text: str) -> Path:
    """A path option's value; an empty one is refused (``Path("")`` is the current folder,
    so ``--data ""`` was read as ``.``, a folder, and skipped as "nothing to benchmark")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder")
    return Path(text)


def json_arg(text: str) -> Path:
    """``--json``'s value: a file path. One typed as a folder's (``out/``) is refused in
    :func:`tinyslm.outdir.names_folder`'s words: pathlib drops the separator, and
    ``--json out/`` wrote the figures to a file named ``out``."""
    folder = names_folder(text)
    if folder is not None:
        # argparse names the option: "argument --json: out/ names a folder ...".
        raise argparse.ArgumentTypeError(folder)
    return path_arg(text)


def missing_data(
    given: Path,
    default: Path,
    name: str,
    flag: str = "--data",
    kind: typing.Literal["file", "folder", "any"] = "any",
    marker: str | None = None,
) -> str | None:
    """Why a ``flag`` path the user gave is not a ``name`` (one line), or None.

    The default (``../shared``) may be absent: the benchmark then has nothing to
    measure and says so with exit 0. A path the user typed that is missing, or is not
    what the benchmark reads (a folder for a dataset file, a folder without ``marker``
    for a tree), is a mistake: skipping it would report success with nothing measured.
    """
    if given == default:
        return None
    if not given.exists():
        return f"{flag} {given}: no such {name}"
    if kind == "file" and not given.is_file():
        what = "a folder" if given.is_dir() else "not a regular file"
        return f"{flag} {given}: {what}, not a {name}"
    if kind == "folder" and not given.is_dir():
        return f"{flag} {given}: not a folder, so not a {name}"
    if marker is not None and not (given / marker).is_file():
        return f"{flag} {given}: not a {name} (no {marker} in it)"
    return None


def write_json(path: Path, text: str, benchmark: str) -> None:
    """The figures ``text`` (a JSON object) to ``path`` whole, marked as ``benchmark``'s
    (:data:`MARK`, first); an earlier figures file is replaced, nothing else."""
    doc = finite(json.loads(text))
    assert isinstance(doc, dict)  # a figures object, as every benchmark writes
    marked = json.dumps(
        {MARK: benchmark, **{k: v for k, v in doc.items() if k != MARK}}, indent=2, allow_nan=False
    )
    try:
        write_file(path, (marked + "\n").encode(), "--json", _replaceable(benchmark))
    except OutputError as exc:
        # Checked before the run too, but a file may have appeared there since: one line
        # and exit 2, as before the run, not a traceback.
        print(f"error: {_message(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def pct(value: float | None) -> str:
    """A share as the benchmarks print it: ``12.34%``, or ``n/a`` where not measured."""
    return "n/a" if value is None else f"{100 * value:.2f}%"


def table_text(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """``title``, then one ``name  value`` row per figure, the names in one column."""
    width = max(len(k) for k, _ in rows)
    return "\n".join([title, *(f"{k:<{width}}  {v}" for k, v in rows)])
