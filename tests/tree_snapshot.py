"""A folder's whole contents, to compare before and after a write that must not change it."""

from __future__ import annotations

from pathlib import Path


def tree(folder: Path) -> dict[str, bytes | None]:
    """Everything under ``folder``, hidden entries included (``None`` for a folder)."""
    return {
        p.relative_to(folder).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in folder.rglob("*")
    }
