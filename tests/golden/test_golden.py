"""Golden files: the projects generated from the committed fixture model, byte for byte.

``tests/golden/<board>/`` holds what ``render_project`` produces for the fixture
model (tests/fixtures/model) and the bundled board, templates and firmware
sources; a file that is the same on every board but for its banner's
``board:`` line is stored once in ``tests/golden/common/`` with that line as
``board: {board}``. A change to any of them shows up here as a diff; when the change is
intended, regenerate on purpose with ``UPDATE_GOLDEN=1 pytest tests/golden`` and
review the diff before committing.

The hand-written ``firmware/`` sources are copied into every project with only
the banner prepended; they are not stored again here (that would duplicate the
core and make every core change a golden diff). Instead the test checks that
each copy is exactly the banner plus the source.
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
from tinyslm.resources import firmware_files

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "fixtures" / "model"
BOARDS = ("esp32", "stm32h7")
COPIED = {f"src/{name}": p.read_bytes() for name, p in firmware_files("text").items()}


COMMON = HERE / "common"
BOARD_LINE = "board: {board}"


def _tree(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
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


def _generated(board_id: str) -> dict[str, bytes]:
    manifest, model = load_model_dir(FIXTURE)
    plan = render_project(load_board(board_id), manifest, model)
    # The user's starter (src/tinyslm_actions.c) is pinned too: it is what a new project holds.
    rendered = {**plan.as_mapping(), **plan.starter_mapping()}
    return {rel: data for rel, data in rendered.items() if rel not in COPIED}


def _board_free(data: bytes, board_id: str) -> bytes:
    """The file with its banner's board line (within the first 4 lines) made generic."""
    lines = data.split(b"\n")
    for i, line in enumerate(lines[:4]):
        if line.endswith(f"board: {board_id}".encode()):
            lines[i] = line[: -len(board_id)] + b"{board}"
            return b"\n".join(lines)
    return data


def _update_golden() -> None:
    """Files equal on every board but for the banner's board line go to common/ once."""
    per_board = {b: _generated(b) for b in BOARDS}
    for folder in (COMMON, *(HERE / b for b in BOARDS)):
        shutil.rmtree(folder, ignore_errors=True)
    paths = sorted(set().union(*per_board.values()))
    for rel in paths:
        free = {b: _board_free(per_board[b][rel], b) for b in BOARDS if rel in per_board[b]}
        if len(free) == len(BOARDS) and len(set(free.values())) == 1:
            targets = [(COMMON / rel, free[BOARDS[0]])]
        else:
            targets = [(HERE / b / rel, per_board[b][rel]) for b in free]
        for path, data in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@pytest.mark.parametrize("board_id", BOARDS)
def test_generated_project_matches_golden(board_id: str) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        # In CI a regenerated golden would pass whatever the templates now write.
        if os.environ.get("TINYSLM_REQUIRE_TOOLCHAIN") == "1":
            pytest.fail(
                "UPDATE_GOLDEN=1 in CI (TINYSLM_REQUIRE_TOOLCHAIN=1): goldens are compared,"
                " never rewritten there"
            )
        if board_id == BOARDS[0]:
            _update_golden()
    generated = _generated(board_id)
    own, common = _tree(HERE / board_id), _tree(COMMON)
    if not own and not common:
        pytest.fail(f"no golden files for {board_id}; run UPDATE_GOLDEN=1 pytest tests/golden")
    # A board-independent file is stored once, in common/, with its board line generic.
    golden = {rel: data.replace(b"board: {board}", f"board: {board_id}".encode(), 1)
              for rel, data in common.items()} | own  # fmt: skip
    assert not set(own) & set(common), "a file is stored both in common/ and per board"
    assert sorted(generated) == sorted(golden), "file lists differ"
    for rel in sorted(golden):
        assert generated[rel] == golden[rel], (
            f"{board_id}/{rel} differs from the golden file "
            f"(UPDATE_GOLDEN=1 if intended):\n" + _first_diff(rel, golden[rel], generated[rel])
        )


@pytest.mark.parametrize("board_id", BOARDS)
def test_firmware_sources_are_copied_verbatim_under_the_banner(board_id: str) -> None:
    manifest, model = load_model_dir(FIXTURE)
    rendered = render_project(load_board(board_id), manifest, model).as_mapping()
    banner = (
        f"// Generated by tinyslm {manifest.tinyslm_version}. Do not edit.\n"
        f"// model sha256: {manifest.model_sha256}\n"
        f"// board: {board_id}\n"
    ).encode()
    assert COPIED, "no firmware sources found"
    for rel, source in COPIED.items():
        assert rel in rendered, f"{rel} is not copied into the {board_id} project"
        assert rendered[rel] == banner + source, f"{board_id}/{rel} is not banner + firmware source"
