"""Open a generated project folder (``tinyslm generate`` output) for emulate and build.

A folder is a tinyslm project when it holds ``tinyslm.json`` (written by
generate: board id, tinyslm version, model sha256, a copy of the manifest) and
``platformio.ini``. Commands that work on a project call :func:`open_project`
first so that a wrong path gets one clear line instead of a compiler or
PlatformIO error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyslm.errors import ModelError, ProjectError
from tinyslm.manifest import Manifest

PROJECT_FILE = "tinyslm.json"
PLATFORMIO_INI = "platformio.ini"


@dataclass(frozen=True)
class Project:
    """A generated project.

    Attributes:
        root: the project folder.
        board: board id (``esp32``, ``stm32h7``...).
        model_sha256: sha256 of the model the project was generated from.
        manifest: the manifest copy in ``tinyslm.json``, when present.
        info: the whole ``tinyslm.json`` object.
    """

    root: Path
    board: str
    model_sha256: str
    manifest: Manifest | None
    info: dict[str, Any]

    @property
    def src(self) -> Path:
        return self.root / "src"


def open_project(folder: Path | str) -> Project:
    """Read and check ``folder/tinyslm.json``.

    Raises:
        ProjectError: the folder is missing, is not a tinyslm project, or its
            ``tinyslm.json`` is malformed.
    """
    root = Path(folder)
    if not root.exists():
        raise ProjectError(f"{root}: project folder not found (run 'tinyslm generate' first)")
    if not root.is_dir():
        raise ProjectError(f"{root}: not a folder")
    path = root / PROJECT_FILE
    if not path.is_file():
        raise ProjectError(
            f"{root}: not a tinyslm project (no {PROJECT_FILE}; run 'tinyslm generate' first)"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProjectError(f"{path}: unreadable: {exc}") from None
    if not isinstance(info, dict):
        raise ProjectError(f"{path}: expected a JSON object")
    manifest = None
    raw_manifest = info.get("manifest")
    if isinstance(raw_manifest, dict):
        try:
            manifest = Manifest.from_dict(raw_manifest)
        except ModelError as exc:
            raise ProjectError(f"{path}: {exc}") from None
    board = info.get("board")
    sha = info.get("model_sha256") or (manifest.model_sha256 if manifest else None)
    if not isinstance(board, str) or not board:
        raise ProjectError(f"{path}: missing 'board'")
    if not isinstance(sha, str) or len(sha) != 64:
        raise ProjectError(f"{path}: missing or malformed 'model_sha256'")
    return Project(root=root, board=board, model_sha256=sha, manifest=manifest, info=info)
