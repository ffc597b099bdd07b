"""tinyslm.outdir: output folders written all at once or not at all (train and generate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm.errors import OutputExistsError
from tinyslm.outdir import check_target, write_tree

FILES = {"a.txt": b"A\n", "src/b.c": b"int b;\n"}


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_write_tree_writes_everything(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "proj"
    assert write_tree(FILES, target) == target
    assert _listing(target) == FILES
    assert sorted(p.name for p in target.parent.iterdir()) == ["proj"]  # no temp folders left


def test_write_tree_refuses_non_empty_without_force(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match="use --force"):
        write_tree(FILES, target)
    assert _listing(target) == {"mine.txt": b"keep"}
    write_tree(FILES, target, force=True)
    assert _listing(target) == FILES  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_write_tree_accepts_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    write_tree(FILES, tmp_path / "proj")
    assert _listing(tmp_path / "proj") == FILES


def test_write_tree_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "proj").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        write_tree(FILES, tmp_path / "proj", force=True)


def test_a_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    def boom(tmp: Path) -> None:
        assert _listing(tmp) == FILES  # called after the files are written
        raise RuntimeError("copy failed")

    target = tmp_path / "new" / "proj"
    with pytest.raises(RuntimeError, match="copy failed"):
        write_tree(FILES, target, extra=boom)
    assert list(tmp_path.iterdir()) == []  # not even the parent it created

    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "keep.txt").write_text("keep")
    with pytest.raises(RuntimeError):
        write_tree(FILES, existing, force=True, extra=boom)
    assert _listing(existing) == {"keep.txt": b"keep"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


@pytest.mark.parametrize("bad", ["/etc/passwd", "../escape.txt", "src/../../x"])
def test_write_tree_refuses_paths_outside(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="escapes"):
        write_tree({bad: b"x"}, tmp_path / "proj")
    assert list(tmp_path.iterdir()) == []


def test_check_target(tmp_path: Path) -> None:
    check_target(tmp_path / "missing", force=False)
    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty", force=False)
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    with pytest.raises(OutputExistsError, match="--force"):
        check_target(full, force=False)
    check_target(full, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        check_target(tmp_path / "file", force=True)
