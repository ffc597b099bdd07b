"""The benchmark scripts' command lines: ``--json`` and ``--data`` checked before the run,
and every refusal in one line (:class:`Parser`).

A benchmark writes its figures only where ``--json`` says, replacing only an earlier
figures file, never one of the run's own inputs nor a file of the user's: ``--json
data.csv`` once replaced the dataset with the figures, ``--json MODEL/manifest.json`` the
model's manifest, and any JSON object was taken for figures (``--json boards/schema.json``
replaced the board schema). Figures are marked (a ``"benchmark"`` key naming the script,
first in the file); an unmarked JSON object is replaced only in ``benchmarks/results/``,
whose committed files predate the mark. The file is written whole (a temporary file
renamed) at the end.
"""

from __future__ import annotations

import argparse
import json
import typing
from collections.abc import Callable, Iterable
from pathlib import Path

from tinyslm.errors import OutputError
from tinyslm.outdir import check_file_target, real_path, write_file


class Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line, ``PROG: error: MESSAGE`` (exit 2).

    argparse prints its whole usage block (a dozen lines for clinc150.py) before the
    error; bad input gets one line naming the problem, as tinyslm's own commands do.
    ``--help`` still shows the usage.
    """

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


# What marks a figures file; its value is the benchmark's name.
MARK = "benchmark"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _json_object(data: bytes) -> dict[str, object] | None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def is_figures(data: bytes) -> bool:
    """Whether ``data`` is a benchmark's figures (a JSON object carrying :data:`MARK`)."""
    doc = _json_object(data)
    return doc is not None and isinstance(doc.get(MARK), str)


def _replaceable(path: Path) -> Callable[[bytes], bool]:
    """What ``--json path`` may replace: marked figures, or in ``benchmarks/results/``
    any JSON object (the committed figures, written before the mark)."""
    if real_path(path).parent == real_path(RESULTS_DIR):
        return lambda data: _json_object(data) is not None
    return is_figures


def json_target_problem(path: Path | None, inputs: Iterable[Path | None]) -> str | None:
    """Why ``--json path`` cannot be written by this run (one line), or None."""
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
    try:
        check_file_target(path, "--json", _replaceable(path))
    except OutputError as exc:
        return str(exc)
    return None


def missing_data(given: Path, default: Path, name: str, flag: str = "--data") -> str | None:
    """A ``flag`` path the user gave that does not exist (one line), or None.

    The default (``../shared``) may be absent: the benchmark then has nothing to
    measure and says so with exit 0. A path the user typed is a mistake.
    """
    if given != default and not given.exists():
        return f"{flag} {given}: no such {name}"
    return None


def write_json(path: Path, text: str, benchmark: str) -> None:
    """The figures ``text`` (a JSON object) to ``path`` whole, marked as ``benchmark``'s
    (:data:`MARK`, first); an earlier figures file is replaced, nothing else."""
    doc = json.loads(text)
    marked = json.dumps({MARK: benchmark, **{k: v for k, v in doc.items() if k != MARK}}, indent=2)
    write_file(path, (marked + "\n").encode(), "--json", _replaceable(path))
