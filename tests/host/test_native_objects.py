"""tinyslm.toolchain.host caches a project's own objects: reused when nothing they see changed.

Tiny C files stand in for a project (``src/``) and a board source elsewhere, so
this runs in a second with the host C compiler and no TFLM tree.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from shared_paths import require_tool

from tinyslm.toolchain import host

HEADER = "#define ANSWER {value}\n"
PROJECT_C = '#include "app.h"\nint app(void) { return ANSWER; }\n'
BOARD_C = '#include "app.h"\nint board(void) { return ANSWER + 1; }\n'


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, host.Toolchain]:
    require_tool("cc")
    tree = tmp_path / "tree"
    tree.mkdir()
    src = tmp_path / "proj" / "src"
    src.mkdir(parents=True)
    (src / "app.h").write_text(HEADER.format(value=1))
    (src / "app.c").write_text(PROJECT_C)
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    (board_dir / "board.c").write_text(BOARD_C)
    toolchain = dataclasses.replace(
        host.host_toolchain(), cc=("cc",), board_sources=(board_dir / "board.c",)
    )
    return tree, src, toolchain


def build(src: Path, tree: Path, objdir: Path, toolchain: host.Toolchain) -> list[Path]:
    return host._project_objects([src / "app.c"], tree, objdir, 2, toolchain)


def test_unchanged_sources_reuse_their_objects(
    layout: tuple[Path, Path, host.Toolchain], tmp_path: Path
) -> None:
    tree, src, toolchain = layout
    objdir = tmp_path / "own"
    first = build(src, tree, objdir, toolchain)
    assert len(first) == 2 and all(p.is_file() for p in first)
    stamps = [p.stat().st_mtime_ns for p in first]
    again = build(src, tree, objdir, toolchain)
    assert again == first
    assert [p.stat().st_mtime_ns for p in again] == stamps  # not compiled again


def test_an_edited_header_or_source_gets_new_objects(
    layout: tuple[Path, Path, host.Toolchain], tmp_path: Path
) -> None:
    tree, src, toolchain = layout
    objdir = tmp_path / "own"
    first = build(src, tree, objdir, toolchain)
    # The project's header is seen by its source and, through -I src/, by the board's.
    (src / "app.h").write_text(HEADER.format(value=2))
    second = build(src, tree, objdir, toolchain)
    assert set(first).isdisjoint(second)
    assert all(a.read_bytes() != b.read_bytes() for a, b in zip(first, second, strict=True))
    # Only the edited source changes name.
    (src / "app.c").write_text(PROJECT_C.replace("ANSWER;", "ANSWER + 3;"))
    third = build(src, tree, objdir, toolchain)
    assert third[0] != second[0] and third[1] == second[1]


def test_a_copy_elsewhere_is_compiled_for_its_own_path(
    layout: tuple[Path, Path, host.Toolchain], tmp_path: Path
) -> None:
    # __FILE__ (in TFLM's error messages) names the source's path: a copy of the
    # project in another folder must not reuse an object that names the first.
    tree, src, toolchain = layout
    objdir = tmp_path / "own"
    first = build(src, tree, objdir, toolchain)
    copy = tmp_path / "copy" / "src"
    copy.mkdir(parents=True)
    for name in ("app.h", "app.c"):
        (copy / name).write_bytes((src / name).read_bytes())
    second = build(copy, tree, objdir, toolchain)
    assert second[0] != first[0]
    assert second[1] == first[1]  # the board source and what it sees did not move
