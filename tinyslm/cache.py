"""The one folder tinyslm keeps its caches in.

Compiled emulator libraries, native and Cortex-M7 object files, fetched TFLM
trees and teacher embeddings all live under :func:`cache_root`, so that one
variable moves (or isolates, in tests and CI) every cache at once:
``$TINYSLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/tinyslm``, else ``~/.cache/tinyslm``.
Every entry is keyed on the content it was made from, so a stale one is never used.
"""

from __future__ import annotations

import os
from pathlib import Path

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
