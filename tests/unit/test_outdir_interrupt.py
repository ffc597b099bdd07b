"""tinyslm.outdir interrupted at every step: nothing half-written, nothing left behind.

An interrupt (Ctrl-C, or SIGTERM/SIGHUP, which ``tinyslm.cli.main`` turns into a
KeyboardInterrupt) can come between any two steps of a write. Each test makes the
N-th call of a file-system step (``os.mkdir``, ``os.rename``, ``os.open``) raise
KeyboardInterrupt, before or after the call is made, for every N a write makes:
afterwards the folder must be exactly as it was, with no temporary folder in or
beside it. What a process killed outright (SIGKILL) leaves is dealt with by
``check_target``: an empty staging folder goes, one holding files is named.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tree_snapshot import tree

from tinyslm import outdir
from tinyslm.errors import OutputExistsError
from tinyslm.outdir import (
    STAGE_PREFIX,
    InterruptedAfterUpdate,
    Ownership,
    check_file_target,
    check_target,
    write_file,
    write_tree,
)

MODEL = Ownership(kind="model folder", marker="m.json", names=("m.json", "m.bin", "r.html"))
OLD = {"m.json": b"{1}", "m.bin": b"old model", "r.html": b"old report"}
NEW = {"m.json": b"{2}", "m.bin": b"new model"}  # r.html goes (--no-report)
PROJECT = Ownership(kind="project", marker="a.txt", record=".tinyslm-files.json", keep_foreign=True)
STEPS = ("mkdir", "rename", "open")


def _count(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Any]) -> dict[str, int]:
    """How many times ``run`` makes each step."""
    counts = dict.fromkeys(STEPS, 0)
    for step in STEPS:
        real = getattr(os, step)

        def counted(*args: Any, _step: str = step, _real: Any = real, **kwargs: Any) -> Any:
            counts[_step] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, step, counted)
    run()
    monkeypatch.undo()
    return counts


def _interrupt(monkeypatch: pytest.MonkeyPatch, step: str, n: int, after: bool) -> None:
    """Make the ``n``-th call of ``os.<step>`` raise KeyboardInterrupt (after it is made)."""
    real = getattr(os, step)
    calls = [0]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n and not after:
            raise KeyboardInterrupt
        try:
            return real(*args, **kwargs)
        finally:
            if calls[0] == n:  # also where the call failed (mkdir of a folder that exists)
                raise KeyboardInterrupt

    monkeypatch.setattr(os, step, interrupted)


def _points(counts: dict[str, int]) -> list[tuple[str, int, bool]]:
    return [(s, n, after) for s in STEPS for n in range(1, counts[s] + 1) for after in (0, 1)]


@pytest.mark.parametrize("ownership", [MODEL, PROJECT], ids=["model", "project"])
def test_an_update_interrupted_anywhere_leaves_the_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ownership: Ownership
) -> None:
    old = OLD if ownership is MODEL else {"a.txt": b"A\n", "src/b.c": b"int b;\n"}
    new = NEW if ownership is MODEL else {"a.txt": b"A2\n", "src/c/d.c": b"d\n"}
    dry = tmp_path / "dry"
    write_tree(old, dry, ownership=ownership)
    counts = _count(monkeypatch, lambda: write_tree(new, dry, force=True, ownership=ownership))
    assert counts["mkdir"] >= 3 and counts["rename"] >= 4  # staging, new/, old/; swaps
    done = tree(dry)  # the update, complete
    target = tmp_path / "out"
    for step, n, after in _points(counts):
        shutil.rmtree(target, ignore_errors=True)
        write_tree(old, target, ownership=ownership)
        before = tree(target)
        _interrupt(monkeypatch, step, n, bool(after))
        with pytest.raises(KeyboardInterrupt) as info:
            write_tree(new, target, force=True, ownership=ownership)
        monkeypatch.undo()
        # All old (mostly) or all new (interrupted while the replaced files were removed),
        # nothing else; and the interrupt says which (a plain one promises the old files).
        assert tree(target) in (before, done), (step, n, after)
        assert (tree(target) == done) == isinstance(info.value, InterruptedAfterUpdate)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["dry", "out"], (step, n, after)


CLEANUP_STEPS = ("unlink", "rmdir", "open", "scandir")


@pytest.mark.parametrize("prune", [False, True], ids=["keep", "prune"])
def test_an_interrupt_after_the_swap_finishes_the_cleanup_and_says_the_files_are_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prune: bool
) -> None:
    """Once the last file is in, removing what it replaced (old/, a whole lib/tflm) is the
    slow step: SIGTERM at 1.6 s of 'generate --force' landed there, and the command said
    'interrupted' (which promises the old files back) of a folder holding the new ones.
    Each call of the removal's steps (shutil.rmtree's os.open, os.scandir, os.unlink,
    os.rmdir; the pruned folders' rmdir) is interrupted in turn: the cleanup still ends,
    the folder holds the new files, and the interrupt says so."""
    ownership = Ownership(
        kind="project", marker="a.txt", record=".tinyslm-files.json", keep_foreign=True,
        trees=("lib/t",),
    )  # fmt: skip
    old = {"a.txt": b"A\n", "src/b/b.c": b"int b;\n"}
    new = {"a.txt": b"A2\n", "src/c/d.c": b"d\n"}

    def tflm(version: str) -> Callable[[Path], None]:
        def copy(stage: Path) -> None:
            for rel in ("x/k.cc", "x/y/k.h", "z.cc"):
                (stage / "lib/t" / rel).parent.mkdir(parents=True, exist_ok=True)
                (stage / "lib/t" / rel).write_text(f"{version} {rel}\n")

        return copy

    def update(target: Path) -> None:
        write_tree(new, target, force=True, ownership=ownership, extra=tflm("2"), prune=prune)

    dry = tmp_path / "dry"
    write_tree(old, dry, ownership=ownership, extra=tflm("1"))
    real = {step: getattr(os, step) for step in CLEANUP_STEPS}
    counts = dict.fromkeys(CLEANUP_STEPS, 0)
    for step in CLEANUP_STEPS:

        def counted(*args: Any, _step: str = step, **kwargs: Any) -> Any:
            counts[_step] += 1
            return real[_step](*args, **kwargs)

        monkeypatch.setattr(os, step, counted)
    update(dry)
    monkeypatch.undo()
    done = tree(dry)
    assert counts["unlink"] >= 5 and counts["rmdir"] >= 4  # old/'s files and folders
    target = tmp_path / "out"
    after_the_swap = 0
    for step in CLEANUP_STEPS:
        for n in range(1, counts[step] + 1):
            for after in (False, True):
                shutil.rmtree(target, ignore_errors=True)
                write_tree(old, target, ownership=ownership, extra=tflm("1"))
                before = tree(target)
                _interrupt(monkeypatch, step, n, after)
                with pytest.raises(KeyboardInterrupt) as info:
                    update(target)
                monkeypatch.undo()
                where = (step, n, after)
                assert not [p for p in target.iterdir() if p.name.startswith(STAGE_PREFIX)], where
                assert sorted(p.name for p in tmp_path.iterdir()) == ["dry", "out"], where
                if isinstance(info.value, InterruptedAfterUpdate):
                    after_the_swap += 1
                    assert tree(target) == done, where
                    assert str(info.value) == (
                        f"interrupted after {target} was updated; it holds the new files"
                    )
                else:  # before the swap ended (the writability probe's rmdir): put back
                    assert tree(target) == before, where
    # Nearly every point is after the swap: the staging folder's removal is all these steps.
    assert after_the_swap >= counts["unlink"] + counts["rmdir"]


def test_an_interrupt_as_a_new_folder_is_renamed_into_place_says_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    _interrupt(monkeypatch, "rename", 1, after=True)
    # KeyboardInterrupt caught as such: one escaping pytest.raises stops the whole session.
    with pytest.raises(KeyboardInterrupt) as info:
        write_tree(NEW, target, ownership=MODEL)
    monkeypatch.undo()
    assert isinstance(info.value, InterruptedAfterUpdate)
    assert str(info.value) == f"interrupted after {target} was written; it holds the new files"
    assert tree(target) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_new_folder_interrupted_anywhere_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = _count(monkeypatch, lambda: write_tree(NEW, tmp_path / "dry" / "a" / "b"))
    assert counts["mkdir"] >= 3  # two parents, the temporary folder
    target = tmp_path / "new" / "deep" / "out"
    for step, n, after in _points(counts):
        _interrupt(monkeypatch, step, n, bool(after))
        with pytest.raises(KeyboardInterrupt):
            write_tree(NEW, target, ownership=MODEL)
        monkeypatch.undo()
        # Nothing, or (interrupted once the folder was renamed into place) all of it.
        if target.exists():
            assert tree(target) == NEW, (step, n, after)
            assert sorted(p.name for p in target.parent.iterdir()) == ["out"]
            shutil.rmtree(tmp_path / "new")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["dry"], (step, n, after)


def test_the_writability_probe_interrupted_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    for probe in (
        lambda: check_target(target, force=False),
        lambda: check_file_target(target / "r.json", "--json", lambda data: True),
    ):
        _interrupt(monkeypatch, "mkdir", 1, after=True)  # made, not yet removed
        with pytest.raises(KeyboardInterrupt):
            probe()
        monkeypatch.undo()
        assert list(tmp_path.rglob("*")) == [target]


def test_a_single_file_interrupted_anywhere_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write() -> None:
        write_file(tmp_path / "dry" / "r.json", b"{}", "--json", lambda data: True)

    counts = _count(monkeypatch, write)
    assert counts["open"] >= 1
    target = tmp_path / "a" / "b" / "r.json"
    for step, n, after in _points({**counts, "rename": 0}):
        _interrupt(monkeypatch, step, n, bool(after))
        with pytest.raises(KeyboardInterrupt):
            write_file(target, b"{}", "--json", lambda data: True)
        monkeypatch.undo()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["dry"], (step, n, after)


def test_a_second_interrupt_in_a_single_files_cleanup_still_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C twice: once as the file is moved into place, again as its temporary file is
    # removed. The cleanup ran once and stopped there, leaving the temporary file and the
    # folders made for it.
    target = tmp_path / "a" / "b" / "r.json"
    _interrupt(monkeypatch, "replace", 1, False)
    _interrupt(monkeypatch, "unlink", 1, False)
    with pytest.raises(KeyboardInterrupt):
        write_file(target, b"{}", "--json", lambda data: True)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_put_back_is_kept_in_the_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rollback could not move the previous model back: it must not be deleted with
    # the staging folder; the next --force then names where it is.
    target = tmp_path / "out"
    write_tree(OLD, target, ownership=MODEL)
    real_rename = os.rename
    calls = [0]

    def failing(src: Any, dst: Any) -> None:
        calls[0] += 1
        if calls[0] == 3:  # m.bin aside, new m.bin in, then m.json aside: interrupted
            raise KeyboardInterrupt
        if calls[0] > 3 and Path(dst) == target / "m.bin":
            raise OSError(5, "Input/output error")  # putting the old model back fails
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(KeyboardInterrupt):
        write_tree(NEW, target, force=True, ownership=MODEL)
    monkeypatch.undo()
    (stage,) = [p for p in target.iterdir() if p.name.startswith(STAGE_PREFIX)]
    assert (stage / "old" / "m.bin").read_bytes() == OLD["m.bin"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError, match=rf"^out: {stage.name}/old/ holds files .*m\.bin"):
        check_target(Path("out"), force=True, ownership=MODEL)


def _leftover(target: Path, files: dict[str, bytes]) -> Path:
    stage = target / f"{STAGE_PREFIX}7ad9wy98"
    (stage / "new").mkdir(parents=True)
    (stage / "old").mkdir()
    for rel, data in files.items():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_bytes(data)
    return stage


def test_an_empty_staging_folder_left_by_a_killed_run_goes_with_force(tmp_path: Path) -> None:
    target = tmp_path / "out"
    write_tree(OLD, target, ownership=MODEL)
    _leftover(target, {})
    (target / f"{STAGE_PREFIX}probe").mkdir()  # the writability probe's
    with pytest.raises(OutputExistsError, match="use --force"):
        check_target(target, force=False, ownership=MODEL)
    write_tree(NEW, target, force=True, ownership=MODEL)
    assert tree(target) == NEW
    # A folder holding nothing but one is empty: written as a new one.
    alone = tmp_path / "alone"
    _leftover(alone, {})
    write_tree(NEW, alone, force=True, ownership=MODEL)
    assert tree(alone) == NEW


def test_a_staging_folder_holding_the_previous_model_is_named_never_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What SIGTERM left before the CLI handled it: the previous model aside in old/, the
    # folder without it. 'not written by tinyslm' was wrong, and deleting it loses it.
    target = tmp_path / "out"
    target.mkdir()
    (target / "m.json").write_bytes(b"{2}")
    stage = _leftover(target, {"old/m.json": b"{1}", "old/m.bin": b"old model"})
    before = tree(target)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError) as info:
        write_tree(NEW, Path("out"), force=True, ownership=MODEL)
    assert str(info.value) == (
        f"out: {stage.name}/old/ holds files from before a tinyslm run that was stopped while "
        f"replacing them (or is still running): m.bin, m.json; move back into out those you "
        f"want to keep, delete {stage.name}/, then run again"
    )
    assert tree(target) == before


def test_a_staging_folder_holding_only_new_output_is_named(tmp_path: Path) -> None:
    target = tmp_path / "out"
    write_tree(OLD, target, ownership=MODEL)
    stage = _leftover(target, {"new/m.bin": b"half"})
    before = tree(target)
    with pytest.raises(OutputExistsError, match=rf"{stage.name}/ holds the unfinished output"):
        check_target(target, force=True, ownership=MODEL)
    assert tree(target) == before
    # A project keeps the user's files, but not a leftover in its place.
    project = tmp_path / "proj"
    write_tree({"a.txt": b"A\n"}, project, ownership=PROJECT)
    _leftover(project, {"old/a.txt": b"A0\n"})
    with pytest.raises(OutputExistsError, match=r"old/ holds files .*: a\.txt"):
        write_tree({"a.txt": b"A2\n"}, project, force=True, ownership=PROJECT)
    assert (project / "a.txt").read_bytes() == b"A\n"


def test_a_link_named_like_a_staging_folder_is_not_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    target = tmp_path / "out"
    write_tree(OLD, target, ownership=MODEL)
    (target / f"{STAGE_PREFIX}link").symlink_to(precious)
    with pytest.raises(OutputExistsError, match=r"\.tinyslm-tmp-link \(not a plain folder\)"):
        check_target(target, force=True, ownership=MODEL)
    assert precious.is_dir()


def test_outdir_never_uses_mkdtemp() -> None:
    # mkdtemp creates the folder and only then returns its name: an interrupt between
    # the two left it behind, named nowhere.
    assert "mkdtemp" not in Path(outdir.__file__).read_text().replace("``tempfile.mkdtemp``", "")
