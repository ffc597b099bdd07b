"""``--json`` and ``--data`` for the benchmark scripts, checked before the run.

A benchmark writes its figures only where ``--json`` says, replacing only an earlier
figures file (a JSON object, as ``benchmarks/results/`` holds), never one of the run's
own inputs: ``--json data.csv`` once replaced the dataset with the figures, and
``--json MODEL/manifest.json`` the model's manifest. The file is written whole (a
temporary file renamed) at the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tinyslm.errors import OutputError
from tinyslm.outdir import check_file_target, real_path, write_file


def is_figures(data: bytes) -> bool:
    """Whether ``data`` is a JSON object: an earlier run's figures, which may be replaced."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict)


def json_target_problem(path: Path | None, inputs: Iterable[Path | None]) -> str | None:
    """Why ``--json path`` cannot be written by this run (one line), or None."""
    if path is None or str(path) == "-":
        return None
    target = real_path(path)
    for given in inputs:
        if given is None:
            continue
        source = real_path(given)
        if target == source or source in target.parents:
            return f"--json {path} is this run's input {given} (or inside it); give another file"
    try:
        check_file_target(path, "--json", is_figures)
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


def write_json(path: Path, text: str) -> None:
    """``text`` to ``path`` whole; an earlier figures file is replaced, nothing else."""
    write_file(path, (text if text.endswith("\n") else text + "\n").encode(), "--json", is_figures)
