"""Golden files: the projects generated from the committed fixture model, byte for byte.

``tests/golden/<board>/`` holds what ``render_project`` produces for the fixture
model (tests/fixtures/model) and the bundled board, templates and firmware
sources. A change to any of them shows up here as a diff; when the change is
intended, regenerate on purpose with ``UPDATE_GOLDEN=1 pytest tests/golden`` and
review the diff before committing.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from tinyslm.boards import load_board
from tinyslm.emit import render_project
from tinyslm.manifest import load_model_dir

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "fixtures" / "model"
BOARDS = ("esp32", "stm32h7")


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _first_diff(path: str, want: bytes, got: bytes) -> str:
    lines = difflib.unified_diff(
        want.decode("utf-8", "replace").splitlines(),
        got.decode("utf-8", "replace").splitlines(),
        f"golden/{path}",
        f"generated/{path}",
        lineterm="",
        n=1,
    )
    return "\n".join(list(lines)[:40])


@pytest.mark.parametrize("board_id", BOARDS)
def test_generated_project_matches_golden(board_id: str) -> None:
    manifest, model = load_model_dir(FIXTURE)
    generated = render_project(load_board(board_id), manifest, model).as_mapping()
    golden_dir = HERE / board_id
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden_dir, ignore_errors=True)
        for rel, data in generated.items():
            path = golden_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if not golden_dir.is_dir():
        pytest.fail(f"no golden files for {board_id}; run UPDATE_GOLDEN=1 pytest tests/golden")
    golden = _tree(golden_dir)
    assert sorted(generated) == sorted(golden), "file lists differ"
    for rel in sorted(golden):
        assert generated[rel] == golden[rel], (
            f"{board_id}/{rel} differs from the golden file "
            f"(UPDATE_GOLDEN=1 if intended):\n" + _first_diff(rel, golden[rel], generated[rel])
        )
