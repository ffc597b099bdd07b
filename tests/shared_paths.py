"""The one place tests find material outside the repository (``../shared``).

``TINYSLM_SHARED_DIR`` names the folder; by default it is ``shared/`` beside the
checkout, as CI lays it out. Material there (SDK trees, datasets) is optional on a
developer's machine: a test that needs it skips with the reason. In CI
(``TINYSLM_REQUIRE_TOOLCHAIN=1``, set by ``.ci/run``) a missing tool or tree is a
failure instead, so a toolchain test can never silently stop running there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ENV = "TINYSLM_SHARED_DIR"
REQUIRE_ENV = "TINYSLM_REQUIRE_TOOLCHAIN"


def shared_dir() -> Path:
    raw = os.environ.get(SHARED_ENV, "").strip()
    return Path(raw) if raw else REPO.parent / "shared"


def sdk_path(*parts: str) -> Path:
    """A path under ``shared/sdk`` (it may not exist)."""
    return shared_dir().joinpath("sdk", *parts)


def dataset_path(*parts: str) -> Path:
    """A path under ``shared/datasets`` (it may not exist)."""
    return shared_dir().joinpath("datasets", *parts)


def toolchain_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def missing(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail where toolchains are required (CI)."""
    if toolchain_required():
        pytest.fail(f"{REQUIRE_ENV} is set but {reason}", pytrace=False)
    pytest.skip(reason)


def require_path(path: Path, what: str) -> Path:
    """``path`` if it exists, else skip (or fail in CI) naming ``what``."""
    if not path.exists():
        missing(f"{what} not found at {path} (set {SHARED_ENV})")
    return path


def require_tool(*names: str) -> None:
    """Skip (or fail in CI) unless every program in ``names`` is on PATH."""
    for name in names:
        if shutil.which(name) is None:
            missing(f"{name} is not on PATH")
