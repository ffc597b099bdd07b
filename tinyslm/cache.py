"""The one folder tinyslm keeps its caches in.

Compiled emulator libraries, native and Cortex-M7 object files, fetched TFLM
trees and teacher embeddings all live under :func:`cache_root`, so that one
variable moves (or isolates, in tests and CI) every cache at once:
``$TINYSLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/tinyslm``, else ``~/.cache/tinyslm``.
Every entry is keyed on the content it was made from, so a stale one is never used.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from tinyslm.errors import ToolchainError, tell

CACHE_ENV = "TINYSLM_CACHE_DIR"
# The rule in words, for help texts (which must not spell it out again: tests/unit/test_cache.py).
CACHE_RULE = "$TINYSLM_CACHE_DIR, else $XDG_CACHE_HOME/tinyslm, else ~/.cache/tinyslm"


def cache_root() -> Path:
    """``$TINYSLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/tinyslm``, else ``~/.cache/tinyslm``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tinyslm"


def cache_origin() -> str | None:
    """The variable that placed :func:`cache_root`, as ``NAME=value`` (``None``: the
    default under the home folder), for errors about a cache path the user never typed."""
    for name in (CACHE_ENV, "XDG_CACHE_HOME"):  # cache_root's order; empty is unset
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    return None


def cache_dir(*parts: str) -> Path:
    """A folder below :func:`cache_root` (not created: callers create what they write)."""
    return cache_root().joinpath(*parts)


def warn_unusable(entry: Path, reason: str) -> None:
    """One ``warning:`` line on stderr: the cache entry ``entry`` cannot be used and is
    being built again (a cut-short file from a full disk, a power cut or a partial copy
    failed every later run until the user found and removed it)."""
    tell(f"the cache entry {entry} is unusable ({reason}); rebuilding it")


def fallback_root() -> Path:
    """The per-user temp folder that stands in for :func:`cache_root` when it cannot be
    written (a read-only home, a file where the folder should be)."""
    return Path(tempfile.gettempdir()) / f"tinyslm-{os.getuid()}"


def _private_problem(folder: Path) -> str | None:
    """Why ``folder`` is not safe to keep loadable code in, or ``None``: it must be a
    real folder (not a link) of this user that no other user can write to. lstat, so a
    link planted in its place is seen as a link."""
    try:
        info = os.lstat(folder)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != os.getuid():
        return f"belongs to user id {info.st_uid}, not to you ({os.getuid()})"
    if info.st_mode & 0o022:
        return f"can be written by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def probe_writable(folder: Path) -> None:
    """Raise OSError unless a file can be created in ``folder``: mkdir(exist_ok=True)
    succeeds on a read-only file system when the folder is already there."""
    fd, name = tempfile.mkstemp(prefix=".tinyslm-probe-", dir=folder)
    os.close(fd)
    os.unlink(name)


def writable_cache_dir(*parts: str) -> Path:
    """:func:`cache_dir` of ``parts``, created; else the same folder below
    :func:`fallback_root` when the cache cannot be written there.

    The fallback lives in a shared temp folder, and a library found in it is loaded
    into this process: it is created private (0700) and used only when it is this
    user's own folder that no one else can write to, so that a folder another user
    made there first cannot hand us their code.

    Raises:
        ToolchainError: neither the cache nor the fallback can be used (one line that
            names both, and the variable that placed the cache).
    """
    folder = cache_dir(*parts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_writable(folder)
        return folder
    except OSError as exc:
        reason = exc.strerror or str(exc)
    base = fallback_root()
    problem: str | None = None
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass  # checked below, whoever made it
    except OSError as exc:
        problem = f"cannot be created ({exc.strerror or exc})"
    problem = problem or _private_problem(base)
    if problem is not None:
        origin = cache_origin()
        where = f"set by {origin}" if origin else f"the default of {CACHE_RULE}"
        raise ToolchainError(
            f"cannot write the cache folder {folder} ({reason}; {where}) and the "
            f"fallback {base} {problem}; point {CACHE_ENV} at a writable folder"
        )
    fallback = base.joinpath(*parts)
    fallback.mkdir(mode=0o700, parents=True, exist_ok=True)
    return fallback


def save_array(path: Path, array: Any) -> None:
    """Write the numpy ``array`` to the cache entry ``path`` whole or not at all: to a
    temp file of its own next to it (two runs of the same data shared one temp name, and
    one renamed the other's half-written file into the cache), its bytes on disk before
    the rename (no short entry under the final name after a power cut); the temp is
    removed on failure.

    Raises:
        OSError: it cannot be written.
    """
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp.npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
