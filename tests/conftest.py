"""Root conftest: puts tests/ on sys.path (for shared_paths) and isolates tinyslm's cache.

Every stage keeps its builds under ``$TINYSLM_CACHE_DIR`` (tinyslm.cache). A test
session never reuses the user's ``~/.cache/tinyslm``: unless TINYSLM_CACHE_DIR is
set (a developer may point it at a folder to keep TFLM objects between runs), the
session gets a fresh one, shared by every test and every subprocess, so each TFLM
tree is compiled once per session, not once per test folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tinyslm.cache import CACHE_ENV

_made_here: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(CACHE_ENV):
        path = tempfile.mkdtemp(prefix="tinyslm-test-cache-")
        _made_here.append(path)
        os.environ[CACHE_ENV] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _made_here:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop(CACHE_ENV, None)
