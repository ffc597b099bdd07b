"""tinyslm.outdir: output folders written all at once, and --force that loses nothing.

A new folder is written whole or not at all; an existing one (``force``) is
updated in place: only what tinyslm wrote is replaced, a user's files are kept
or make it refuse, and any failure puts every file back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tinyslm import outdir
from tinyslm.errors import OutputError, OutputExistsError
from tinyslm.outdir import (
    Ownership,
    check_file_target,
    check_target,
    is_json_document,
    json_document,
    write_file,
    write_tree,
)

FILES = {"a.txt": b"A\n", "src/b.c": b"int b;\n"}
PROJECT = Ownership(
    kind="project",
    marker="a.txt",
    record=".tinyslm-files.json",
    keep_foreign=True,
    trees=("lib/tflm",),
)
MODEL = Ownership(kind="model folder", marker="a.txt")

# The second key of every --json document (round 43).
MARKER = {"tinyslm_document": "--json figures"}


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _without_record(folder: Path) -> dict[str, bytes]:
    return {k: v for k, v in _listing(folder).items() if k != PROJECT.record}


def test_write_tree_writes_everything(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "proj"
    report = write_tree(FILES, target)
    assert report.target == target and report.created
    assert report.added == ("a.txt", "src/b.c")
    assert _listing(target) == FILES
    assert sorted(p.name for p in target.parent.iterdir()) == ["proj"]  # no temp folders left


def test_the_record_lists_what_tinyslm_wrote(tmp_path: Path) -> None:
    write_tree(FILES, tmp_path / "proj", ownership=PROJECT)
    record = json.loads((tmp_path / "proj" / PROJECT.record).read_text())  # type: ignore[operator]
    assert record["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in FILES.items()}
    assert record["trees"] == []


def test_write_tree_refuses_non_empty_without_force(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(OutputExistsError, match="use --force"):
        write_tree(FILES, target)
    assert _listing(target) == {"mine.txt": b"keep"}


def test_force_keeps_the_users_files_in_a_project(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT)
    (target / "src" / "mine.c").write_text("int mine;\n")
    (target / ".pio" / "build").mkdir(parents=True)
    (target / ".pio" / "build" / "firmware.elf").write_bytes(b"\x7fELF")
    new = {"a.txt": b"A2\n", "src/b.c": b"int b;\n", "src/c.c": b"int c;\n"}
    report = write_tree(new, target, force=True, ownership=PROJECT)
    assert not report.created
    assert (report.changed, report.added, report.unchanged) == (
        ("a.txt",),
        ("src/c.c",),
        ("src/b.c",),
    )
    assert report.kept == (".pio/", "src/mine.c")
    assert _without_record(target) == {
        **new,
        "src/mine.c": b"int mine;\n",
        ".pio/build/firmware.elf": b"\x7fELF",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]
    assert not [p for p in target.iterdir() if p.name.startswith(outdir.STAGE_PREFIX)]


def test_a_starter_is_written_where_missing_and_then_is_the_users(tmp_path: Path) -> None:
    """A project's src/tinyslm_actions.c: tinyslm writes it once and never owns it."""
    target = tmp_path / "proj"
    starter = {"src/act.c": b"void act(void) {}\n"}
    report = write_tree(FILES, target, ownership=PROJECT, starters=starter)
    assert report.added == ("a.txt", "src/b.c") and report.started == ("src/act.c",)
    assert _without_record(target) == {**FILES, **starter}
    record = json.loads((target / ".tinyslm-files.json").read_text())
    assert sorted(record["files"]) == ["a.txt", "src/b.c"]  # not the starter
    # Edited: kept as it is by --force, never refused as "edited since generated", never pruned.
    (target / "src" / "act.c").write_bytes(b"void act(void) { led_on(); }\n")
    new_starter = {"src/act.c": b"void act(void) { /* v2 */ }\n"}
    for prune in (False, True):
        report = write_tree(
            FILES, target, force=True, ownership=PROJECT, prune=prune, starters=new_starter
        )
        assert report.started == () and report.kept == ("src/act.c",)
        assert (target / "src" / "act.c").read_bytes() == b"void act(void) { led_on(); }\n"
    # Deleted by the user: the next --force writes the starter again.
    (target / "src" / "act.c").unlink()
    report = write_tree(FILES, target, force=True, ownership=PROJECT, starters=new_starter)
    assert report.started == ("src/act.c",) and report.added == ()
    assert (target / "src" / "act.c").read_bytes() == new_starter["src/act.c"]
    # A dangling link at the path is something of the user's too: left alone.
    (target / "src" / "act.c").unlink()
    (target / "src" / "act.c").symlink_to(tmp_path / "nowhere.c")
    report = write_tree(FILES, target, force=True, ownership=PROJECT, starters=new_starter)
    assert report.started == () and (target / "src" / "act.c").is_symlink()
    with pytest.raises(ValueError, match="both a generated file and a starter"):
        write_tree(FILES, tmp_path / "p2", ownership=PROJECT, starters={"a.txt": b"x"})


def test_force_refuses_foreign_files_in_a_model_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    write_tree(FILES, target, ownership=MODEL)
    (target / "my.csv").write_text("text,label\n")
    with pytest.raises(OutputExistsError, match=r"my\.csv \(not written by tinyslm\)"):
        write_tree({"a.txt": b"new"}, target, force=True, ownership=MODEL)
    assert _listing(target) == {**FILES, "my.csv": b"text,label\n"}


def test_check_target_refuses_foreign_files_up_front(tmp_path: Path) -> None:
    model = Ownership(kind="model folder", marker="a.txt", names=("a.txt", "m.bin"))
    target = tmp_path / "model"
    write_tree(FILES, target, ownership=model)
    with pytest.raises(OutputExistsError, match=r"src/? \(not one of the model folder's files\)"):
        check_target(target, force=True, ownership=model)
    (target / "src" / "b.c").unlink()
    (target / "src").rmdir()
    check_target(target, force=True, ownership=model)


def test_a_model_folders_names_not_written_again_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Round 36: train --force --no-report over a folder with report.html was refused
    # after the whole training, calling tinyslm's own report "not written by tinyslm";
    # left in place, it would describe the model being replaced.
    model = Ownership(kind="model folder", marker="a.txt", names=("a.txt", "m.bin", "r.html"))
    target = tmp_path / "model"
    write_tree({"a.txt": b"A\n", "m.bin": b"1", "r.html": b"old"}, target, ownership=model)
    report = write_tree({"a.txt": b"A\n", "m.bin": b"2"}, target, force=True, ownership=model)
    assert report.removed == ("r.html",)
    assert _listing(target) == {"a.txt": b"A\n", "m.bin": b"2"}
    # A link at one of its names is not tinyslm's: refused up front, named as typed.
    (target / "r.html").symlink_to(tmp_path / "precious.html")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError, match=r"^model: .*r\.html \(not a plain file\)"):
        check_target(Path("model"), force=True, ownership=model)
    (target / "r.html").unlink()
    (target / "m.bin").unlink()
    (target / "m.bin").mkdir()
    with pytest.raises(OutputExistsError, match=r"^model: .*m\.bin \(not a plain file\)"):
        write_tree({"a.txt": b"A\n"}, Path("model"), force=True, ownership=model)
    # A conflict found while writing names the folder as typed too (it was absolute).
    write_tree(FILES, tmp_path / "proj", ownership=PROJECT)
    (tmp_path / "proj" / "src" / "b.c").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"^proj: .*src/b\.c \(edited"):
        write_tree(FILES, Path("proj"), force=True, ownership=PROJECT)


def test_force_refuses_a_folder_that_is_not_tinyslms(tmp_path: Path) -> None:
    target = tmp_path / "notes"
    target.mkdir()
    (target / "todo.txt").write_text("x")
    with pytest.raises(OutputExistsError, match=r"not a tinyslm project \(no a\.txt\)"):
        write_tree(FILES, target, force=True, ownership=PROJECT)
    assert _listing(target) == {"todo.txt": b"x"}


def test_force_refuses_an_edited_generated_file(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT)
    (target / "src" / "b.c").write_text("int b; /* my fix */\n")
    before = _listing(target)
    with pytest.raises(OutputExistsError, match=r"src/b\.c \(edited since it was generated\)"):
        write_tree(
            {"a.txt": b"A2\n", "src/b.c": b"int b2;\n"}, target, force=True, ownership=PROJECT
        )
    assert _listing(target) == before


def test_force_refuses_a_user_file_at_a_generated_path(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT)
    (target / "src" / "c.c").write_text("mine\n")
    with pytest.raises(OutputExistsError, match=r"src/c\.c \(not written by tinyslm\)"):
        write_tree({**FILES, "src/c.c": b"gen\n"}, target, force=True, ownership=PROJECT)
    assert (target / "src" / "c.c").read_text() == "mine\n"


def test_without_its_record_nothing_is_taken_for_tinyslms(tmp_path: Path) -> None:
    # Round 33: a folder holding only a file named like the marker (a user's own
    # synth.json), or a project copied without its dotfile record, had every generated
    # path overwritten with no check at all. Without a record only files already as
    # they would be written are taken; the rest, and a copied tree, are refused.
    target = tmp_path / "recordings"
    target.mkdir()
    (target / "a.txt").write_text("my notes\n")
    (target / "src").mkdir()
    (target / "src" / "b.c").write_bytes(FILES["src/b.c"])
    before = _listing(target)
    with pytest.raises(OutputExistsError, match=r"a\.txt \(no \.tinyslm-files\.json says"):
        write_tree(FILES, target, force=True, ownership=PROJECT)
    assert _listing(target) == before

    def tree(folder: Path) -> None:
        (folder / "lib" / "tflm").mkdir(parents=True)
        (folder / "lib" / "tflm" / "v1").write_text("v1")

    copy = tmp_path / "copy"
    write_tree(FILES, copy, ownership=PROJECT, extra=tree)
    (copy / PROJECT.record).unlink()
    with pytest.raises(OutputExistsError, match=r"lib/tflm/ \(no \.tinyslm-files\.json says"):
        write_tree(FILES, copy, force=True, ownership=PROJECT, extra=tree)
    shutil.rmtree(copy / "lib")
    write_tree(FILES, copy, force=True, ownership=PROJECT, extra=tree)  # same bytes: taken
    assert json.loads((copy / PROJECT.record).read_text())["files"].keys() == FILES.keys()


def test_stale_generated_files_are_removed_only_with_prune(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT)
    report = write_tree({"a.txt": b"A\n"}, target, force=True, ownership=PROJECT)
    assert report.stale == ("src/b.c",) and report.removed == ()
    assert (target / "src" / "b.c").is_file()
    report = write_tree({"a.txt": b"A\n"}, target, force=True, ownership=PROJECT, prune=True)
    assert report.removed == ("src/b.c",)
    assert _without_record(target) == {"a.txt": b"A\n"}
    assert not (target / "src").exists()  # no empty folder left behind


def test_prune_removes_the_folders_it_empties_and_no_others(tmp_path: Path) -> None:
    # An emptied folder is not harmless: a keyword dataset's 'no/' without clips makes
    # the loader refuse the whole dataset.
    target = tmp_path / "proj"
    files = {**FILES, "kw/no/deep/c.wav": b"c", "kw/yes/d.wav": b"d"}
    write_tree(files, target, ownership=PROJECT)
    (target / "kw" / "yes" / "mine.wav").write_bytes(b"mine")
    (target / "empty_of_mine").mkdir()
    report = write_tree(FILES, target, force=True, ownership=PROJECT, prune=True)
    assert report.removed == ("kw/no/deep/c.wav", "kw/yes/d.wav")
    assert not (target / "kw" / "no").exists()
    assert [p.name for p in (target / "kw").iterdir()] == ["yes"]
    assert (target / "kw" / "yes" / "mine.wav").read_bytes() == b"mine"
    assert (target / "empty_of_mine").is_dir()  # never held a pruned file
    assert (target / "src" / "b.c").is_file()


def test_prune_keeps_an_edited_stale_file(tmp_path: Path) -> None:
    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT)
    (target / "src" / "b.c").write_text("edited\n")
    report = write_tree({"a.txt": b"A\n"}, target, force=True, ownership=PROJECT, prune=True)
    assert report.removed == () and report.stale == ("src/b.c",)
    assert (target / "src" / "b.c").read_text() == "edited\n"


def test_a_copied_tree_is_replaced_whole_or_kept(tmp_path: Path) -> None:
    def tree(version: str) -> outdir.Callable[[Path], None]:
        def add(folder: Path) -> None:
            (folder / "lib" / "tflm").mkdir(parents=True)
            (folder / "lib" / "tflm" / version).write_text(version)

        return add

    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT, extra=tree("v1"))
    write_tree(FILES, target, force=True, ownership=PROJECT, extra=tree("v2"))
    assert sorted(p.name for p in (target / "lib" / "tflm").iterdir()) == ["v2"]
    write_tree(FILES, target, force=True, ownership=PROJECT)  # no tree this time: kept
    assert sorted(p.name for p in (target / "lib" / "tflm").iterdir()) == ["v2"]
    record = json.loads((target / ".tinyslm-files.json").read_text())
    assert record["trees"] == ["lib/tflm"]


def test_a_tree_the_output_has_no_place_for_is_stale(tmp_path: Path) -> None:
    # Round 33: an stm32h7 project regenerated for esp32 (TFLM as an ESP-IDF component)
    # kept lib/tflm even with --prune, and counted lib/ among the user's files.
    def tree(folder: Path) -> None:
        (folder / "lib" / "tflm").mkdir(parents=True)
        (folder / "lib" / "tflm" / "v1").write_text("v1")

    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT, extra=tree)
    (target / "lib" / "mine").mkdir()
    (target / "lib" / "mine" / "x.c").write_text("mine\n")
    kept = write_tree(FILES, target, force=True, ownership=PROJECT, absent_trees=["lib/tflm"])
    assert kept.stale == ("lib/tflm/",) and kept.kept == ("lib/mine/",)
    assert (target / "lib" / "tflm" / "v1").is_file()
    # Still recorded: a later --prune removes it, and only it.
    gone = write_tree(
        FILES, target, force=True, ownership=PROJECT, prune=True, absent_trees=["lib/tflm"]
    )
    assert gone.removed == ("lib/tflm/",) and gone.stale == ()
    assert not (target / "lib" / "tflm").exists()
    assert (target / "lib" / "mine" / "x.c").read_text() == "mine\n"
    assert json.loads((target / PROJECT.record).read_text())["trees"] == []

    # An edited copy is kept and reported, never pruned.
    other = tmp_path / "other"
    write_tree(FILES, other, ownership=PROJECT, extra=tree)
    (other / "lib" / "tflm" / "v1").write_text("patched")
    edited = write_tree(
        FILES, other, force=True, ownership=PROJECT, prune=True, absent_trees=["lib/tflm"]
    )
    assert edited.stale == ("lib/tflm/",) and edited.removed == ()
    assert (other / "lib" / "tflm" / "v1").read_text() == "patched"
    # Emptied by the prune, lib/ goes too.
    third = tmp_path / "third"
    write_tree(FILES, third, ownership=PROJECT, extra=tree)
    write_tree(FILES, third, force=True, ownership=PROJECT, prune=True, absent_trees=["lib/tflm"])
    assert sorted(p.name for p in third.iterdir()) == [PROJECT.record, "a.txt", "src"]


def test_a_copied_tree_with_the_users_files_or_edits_is_not_replaced(tmp_path: Path) -> None:
    """A patched kernel or a file added to lib/tflm is the user's work: --force refuses
    to replace the tree (before round 32 it was replaced whole and they were lost)."""

    def tree(version: str) -> outdir.Callable[[Path], None]:
        def add(folder: Path) -> None:
            (folder / "lib" / "tflm" / "k").mkdir(parents=True)
            (folder / "lib" / "tflm" / "k" / "conv.cc").write_text(version)

        return add

    target = tmp_path / "proj"
    lib = target / "lib" / "tflm"
    write_tree(FILES, target, ownership=PROJECT, extra=tree("v1"))
    record = json.loads((target / ".tinyslm-files.json").read_text())
    assert record["tree_files"] == {"lib/tflm/k/conv.cc": hashlib.sha256(b"v1").hexdigest()}
    (lib / "my_patch.cc").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"lib/tflm/my_patch\.cc \(not written by"):
        write_tree(FILES, target, force=True, ownership=PROJECT, extra=tree("v2"))
    (lib / "my_patch.cc").unlink()
    (lib / "k" / "conv.cc").write_text("v1, patched")
    with pytest.raises(OutputExistsError, match=r"lib/tflm/k/conv\.cc \(edited since"):
        write_tree(FILES, target, force=True, ownership=PROJECT, extra=tree("v2"))
    assert (lib / "k" / "conv.cc").read_text() == "v1, patched"
    (lib / "k" / "conv.cc").write_text("v1")
    # No tree this time: the copy and its record are kept.
    write_tree(FILES, target, force=True, ownership=PROJECT)
    record = json.loads((target / ".tinyslm-files.json").read_text())
    assert list(record["tree_files"]) == ["lib/tflm/k/conv.cc"]
    write_tree(FILES, target, force=True, ownership=PROJECT, extra=tree("v2"))
    assert (lib / "k" / "conv.cc").read_text() == "v2"
    # A record whose tree_files is not an object is refused, as a malformed "files" is.
    bad = {**record, "tree_files": ["lib/tflm/k/conv.cc"]}
    (target / ".tinyslm-files.json").write_text(json.dumps(bad))
    with pytest.raises(OutputExistsError, match=r"is unreadable \(files or tree_files"):
        write_tree(FILES, target, force=True, ownership=PROJECT, extra=tree("v3"))
    # A record from before round 32 has no tree_files. Its copy was replaced whole, which
    # deleted a file the user had added (README: "a file you added there stops it"): with
    # no list, every file not as in the new copy is taken as possibly theirs (round 51).
    del record["tree_files"]
    (target / ".tinyslm-files.json").write_text(json.dumps(record))
    (lib / "extra.cc").write_text("x")
    with pytest.raises(OutputExistsError) as refused:
        write_tree(FILES, target, force=True, ownership=PROJECT, extra=tree("v3"))
    assert "lib/tflm/extra.cc (not as in the new copy, and its record" in str(refused.value)
    assert "lib/tflm/k/conv.cc (not as in the new copy" in str(refused.value)
    assert (lib / "extra.cc").read_text() == "x"
    # A copy as the new one is replaced (nothing of it can be lost), and listed from then.
    (lib / "extra.cc").unlink()
    write_tree(FILES, target, force=True, ownership=PROJECT, extra=tree("v2"))
    record = json.loads((target / ".tinyslm-files.json").read_text())
    assert list(record["tree_files"]) == ["lib/tflm/k/conv.cc"]


def test_a_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    def boom(tmp: Path) -> None:
        assert _listing(tmp) == FILES  # called after the files are written
        raise RuntimeError("copy failed")

    target = tmp_path / "new" / "proj"
    with pytest.raises(RuntimeError, match="copy failed"):
        write_tree(FILES, target, extra=boom)
    assert list(tmp_path.iterdir()) == []  # not even the parent it created

    existing = tmp_path / "old"
    write_tree(FILES, existing, ownership=PROJECT)
    before = _listing(existing)
    with pytest.raises(RuntimeError):
        write_tree(FILES, existing, force=True, ownership=PROJECT, extra=boom)
    assert _listing(existing) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_a_failure_halfway_through_the_swap_puts_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "proj"
    write_tree(FILES, target, ownership=PROJECT)
    (target / "mine.txt").write_text("mine")
    before = _listing(target)
    real_rename = os.rename
    calls = [0]

    def flaky(src: str | Path, dst: str | Path) -> None:
        calls[0] += 1
        if calls[0] == 4:  # after one file was swapped and another put aside
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(outdir.os, "rename", flaky)
    new = {"a.txt": b"A2\n", "src/b.c": b"int b2;\n", "src/new/c.c": b"c\n"}
    with pytest.raises(OSError, match="No space"):
        write_tree(new, target, force=True, ownership=PROJECT)
    monkeypatch.setattr(outdir.os, "rename", real_rename)
    assert _listing(target) == before
    assert sorted(p.name for p in target.iterdir()) == [PROJECT.record, "a.txt", "mine.txt", "src"]
    assert sorted(p.name for p in (target / "src").iterdir()) == ["b.c"]


def test_a_symlinked_target_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    write_tree(FILES, link, ownership=PROJECT)
    write_tree({"a.txt": b"A2\n", "src/b.c": b"x"}, link, force=True, ownership=PROJECT)
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # nothing stray
    assert _without_record(real) == {"a.txt": b"A2\n", "src/b.c": b"x"}


def test_write_tree_accepts_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    assert write_tree(FILES, tmp_path / "proj").created
    assert _listing(tmp_path / "proj") == FILES


def test_write_tree_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "proj").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        write_tree(FILES, tmp_path / "proj", force=True)


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


def test_check_target_refuses_a_folder_holding_a_protected_path(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "my.csv").write_text("text,label\n")
    for target in (data, tmp_path):
        with pytest.raises(OutputExistsError, match=r"holds the input data \(.*my\.csv\)"):
            check_target(target, force=True, protect={"the input data": data / "my.csv"})
    check_target(data / "model", force=True, protect={"the input data": data / "my.csv"})


def test_check_target_refuses_a_folder_inside_a_protected_folder(tmp_path: Path) -> None:
    dataset = tmp_path / "kw"
    (dataset / "yes").mkdir(parents=True)
    for target in (dataset / "model", dataset / "yes" / "deeper" / "model"):
        with pytest.raises(OutputExistsError) as err:
            check_target(target, force=False, protect={"the input data": dataset})
        assert str(err.value) == (
            f"{target} is inside the input data ({dataset}); choose an output folder outside it"
        )
        with pytest.raises(OutputExistsError, match="is inside the input data"):
            write_tree(FILES, target, force=False, protect={"the input data": dataset})
    assert sorted(p.name for p in dataset.iterdir()) == ["yes"]
    check_target(tmp_path / "kw-model", force=False, protect={"the input data": dataset})


def test_check_target_refuses_the_current_folder_and_its_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("x")
    monkeypatch.chdir(work)
    for target in (Path("."), Path(".."), tmp_path):
        with pytest.raises(OutputExistsError, match="current folder or a parent"):
            check_target(target, force=True)


def test_check_target_probes_writability_first(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"^cannot write /proc/tinyslm-x: "):
        check_target(Path("/proc/tinyslm-x"), force=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        check_target(tmp_path / "file" / "out", force=False)


def test_write_file_and_its_check(tmp_path: Path) -> None:
    out = tmp_path / "new" / "r.json"
    check_file_target(out, "--json", is_json_document)
    doc = json_document({"accuracy": 0.5}, "9.9.9")
    assert json.loads(doc) == {"accuracy": 0.5, "tinyslm": "9.9.9", **MARKER}
    write_file(out, doc, "--json", is_json_document)
    assert out.read_bytes() == doc
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.json"]
    # Its own earlier document is replaced.
    check_file_target(out, "--json", is_json_document)
    write_file(out, json_document({}, "9.9.9"), "--json", is_json_document)
    assert json.loads(out.read_bytes()) == {"tinyslm": "9.9.9", **MARKER}
    with pytest.raises(OutputError, match=r"^--json .* is a folder"):
        check_file_target(tmp_path, "--json", is_json_document)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"^--json .*f/r\.json: .*f is not a folder"):
        check_file_target(tmp_path / "f" / "r.json", "--json", is_json_document)
    with pytest.raises(OutputError, match="cannot write"):
        write_file(tmp_path / "f" / "r.json", b"x", "--json", is_json_document)
    assert (tmp_path / "f").read_text() == "x"


def test_write_file_interrupted_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C at the rename: no temporary file and no folder it made (only OSError was
    cleaned up, so ``report -o`` and every ``--json`` left ``.r.html.tmp-*`` behind)."""

    def interrupted(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(outdir.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_file(tmp_path / "new" / "sub" / "r.json", b"{}", "--json", is_json_document)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "theirs",
    [b"x", b"", b"{}\n", b'{"tinyslm": 1}', b'["tinyslm"]', b'{"board": "esp32"}', b"\xff\xfe"],
    ids=["text", "empty", "json-object", "key-not-a-version", "json-list", "manifest", "binary"],
)
def test_write_file_never_replaces_a_file_tinyslm_did_not_write(
    tmp_path: Path, theirs: bytes
) -> None:
    mine = tmp_path / "results.json"
    mine.write_bytes(theirs)
    for step in (
        lambda: check_file_target(mine, "--json", is_json_document),
        # Checked again at the write: the file may have appeared during the work.
        lambda: write_file(mine, json_document({}, "1"), "--json", is_json_document),
    ):
        with pytest.raises(OutputExistsError) as err:
            step()
        assert str(err.value) == (
            f"--json {mine} exists and is not a --json figures file this tinyslm may replace "
            "(one written by an earlier version, or edited since, is kept as yours); give "
            "another file name or move it away (it is never replaced)"
        )
    assert mine.read_bytes() == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


@pytest.mark.parametrize("kind", ["link to our file", "link to nothing", "pipe"])
def test_write_file_never_replaces_a_link_or_a_pipe(tmp_path: Path, kind: str) -> None:
    """The file is renamed over the path, so a link or a pipe there would be deleted
    (``--json /dev/stdout`` names a link); refused, even a link to a file tinyslm wrote."""
    ours = tmp_path / "ours.json"
    ours.write_bytes(json_document({}, "1"))
    path = tmp_path / "out.json"
    if kind == "pipe":
        os.mkfifo(path)
    else:
        path.symlink_to(ours if kind == "link to our file" else tmp_path / "nothing")
    for step in (
        lambda: check_file_target(path, "--json", is_json_document),
        lambda: write_file(path, json_document({}, "2"), "--json", is_json_document),
    ):
        with pytest.raises(OutputExistsError, match=r"is a link, a pipe or a device") as err:
            step()
        assert str(err.value).endswith("another file name ('-' prints to stdout)")
    # report's -o has no '-': a file of that name was written where the hint said stdout.
    with pytest.raises(OutputExistsError) as err:
        check_file_target(path, "-o", is_json_document)
    assert str(err.value).endswith("give another file name")
    assert os.path.islink(path) or not path.is_file()
    assert ours.read_bytes() == json_document({}, "1")


def test_a_link_loop_or_a_dangling_link_on_the_way_is_refused_before_the_work(
    tmp_path: Path,
) -> None:
    """Found by the checks that run before training, not by the write after it."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for parent in ("loop", "dangling"):
        with pytest.raises(OutputError, match=rf"{parent} is not a folder"):
            check_target(tmp_path / parent / "model", force=False)
        with pytest.raises(OutputError, match=rf"{parent} is not a folder"):
            check_file_target(tmp_path / parent / "r.json", "--json", is_json_document)
    real = outdir.real_path(tmp_path)
    assert outdir.real_path(tmp_path / "loop") == real / "loop"  # no RuntimeError


def test_json_documents_are_json_even_with_a_nan_figure() -> None:
    """A NaN metric (a hand-edited manifest) was written as NaN, which is not JSON."""
    doc = json_document({"accuracy": float("nan"), "rows": [1.5, float("inf")], "n": 3}, "1")

    def refuse(name: str) -> None:
        raise ValueError(name)

    assert json.loads(doc, parse_constant=refuse) == {
        "accuracy": None, "rows": [1.5, None], "n": 3, "tinyslm": "1", **MARKER
    }  # fmt: skip
