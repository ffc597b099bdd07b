"""Output folders written atomically: all of it, or nothing.

``tinyslm train`` (model + manifest) and ``tinyslm generate`` (a project) both
write through here. Files go into a temporary folder next to the target, which
is renamed into place at the end. Any error (including one raised by ``extra``)
removes the temporary folder and any parent folders this call created, so a
failed command leaves the file system as it found it; an existing target is
replaced only with ``force`` and only once the new folder is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from tinyslm.errors import OutputExistsError


def _created_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; return them, deepest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing


def check_target(target: Path, force: bool) -> None:
    """Refuse a target that is a file, or a non-empty folder without ``force``.

    Raises:
        OutputExistsError: see above.
    """
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise OutputExistsError(f"{target} exists and is not empty (use --force to replace it)")


def write_tree(
    files: Mapping[str, bytes],
    target: Path,
    *,
    force: bool = False,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``files`` (POSIX relative path -> bytes) as the folder ``target``.

    Args:
        files: the project's files; paths must be relative and stay inside.
        target: the folder to create or (with ``force``) replace.
        force: replace an existing non-empty folder.
        extra: called with the temporary folder after the files are written,
            to add content that is copied rather than rendered (a TFLM tree).

    Returns:
        ``target``, resolved.

    Raises:
        OutputExistsError: ``target`` is a file, or a non-empty folder without ``force``.
    """
    target = Path(os.path.abspath(target))
    check_target(target, force)
    made = _created_parents(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    # mkdtemp makes a private (0700) folder; give it the mode a plain mkdir would.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    old: Path | None = None
    try:
        for rel, data in files.items():
            parts = PurePosixPath(rel).parts
            if not parts or rel.startswith("/") or ".." in parts:
                raise ValueError(f"generated path {rel!r} escapes the project folder")
            path = tmp.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if extra is not None:
            extra(tmp)
        if target.exists():
            # Move the old folder aside first so that the swap is two renames.
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not target.exists():
            os.rename(old, target)
        for parent in made:
            try:
                parent.rmdir()
            except OSError:
                break
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target
