"""Round 51 mends (rev6's findings on ef13ba6): what is at ``lib/tflm``, or at ``lib``,
when it is not a folder of the project's own.

- ``generate --force --prune`` to a board with no tree deleted a file, a link to a file
  or a live link at ``lib/tflm`` as the recorded tree ("removed lib/tflm/");
- a live link at ``lib/tflm`` to the user's own tree was replaced by a copy;
- ``lib`` a link to a folder had the tree written into that folder, outside the project;
- ``lib`` a file or a dangling link was missed: generate trained the demo first, and the
  failure and build's line named ``lib/tflm``;
- a rollback whose undo of a put_in failed left the new file in place and the old one in
  the staging folder;
- a link to a file was called "a file", and a plain file's advice was ``rm``.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli
from lib_tflm_fixtures import (
    FIXTURE_MODEL,
    Made,
    lib_in_the_way,
    made_fixture,
    project_copy,
    regenerate_as_said,
    snapshot,
    take_step,
    write,
)

from tinyslm import outdir
from tinyslm.errors import OutputExistsError, ProjectError
from tinyslm.pipeline import PROJECT_OWNERSHIP, _failed_path, _stray_lib_tflm
from tinyslm.toolchain import build, tflm

ENTRIES = ["file", "link to a file", "link to a folder"]
made = made_fixture("r51_mdout")


def _put(path: Path, entry: str, made: Made, tmp_path: Path) -> None:
    """``entry`` at ``path``: the user's file, or a link to theirs."""
    if entry == "file":
        path.write_text("MY OWN NOTES, not a tree\n")
    elif entry == "link to a file":
        (tmp_path / "notes.txt").write_text("my notes\n")
        path.symlink_to(tmp_path / "notes.txt")
    else:
        shutil.copytree(made[1], tmp_path / "user_tree")  # as the copy was: it matches
        path.symlink_to(tmp_path / "user_tree", target_is_directory=True)


def _record(project: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads((project / ".tinyslm-files.json").read_text())
    return doc


# 1: --prune to a board with no tree took the user's entry as the recorded tree.
@pytest.mark.parametrize("entry", ENTRIES)
def test_prune_to_a_board_without_a_tree_keeps_what_is_at_lib_tflm(
    made: Made, tmp_path: Path, entry: str
) -> None:
    project = project_copy(made, tmp_path)
    own = project / "lib" / "tflm"
    _put(own, entry, made, tmp_path)
    before = snapshot(tmp_path / "user_tree") if entry == "link to a folder" else None
    report = write(project, None, prune=True, absent_trees=PROJECT_OWNERSHIP.trees)
    assert "lib/tflm/" not in report.removed
    assert os.path.lexists(own)
    if entry == "file":
        assert own.read_text() == "MY OWN NOTES, not a tree\n"
    else:
        assert own.is_symlink()
    assert before is None or snapshot(tmp_path / "user_tree") == before
    assert "lib/tflm" not in _record(project)["trees"]  # not tinyslm's from now on
    assert {"lib/tflm", "lib/tflm/"} & set(report.kept)  # said, as the user's


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_run_without_a_tree_no_longer_records_it_as_tinyslms(
    made: Made, tmp_path: Path, entry: str
) -> None:
    """The record kept lib/tflm (and its files) while a file was there: a later --prune
    board change then deleted the file as the tree."""
    project = project_copy(made, tmp_path)
    _put(project / "lib" / "tflm", entry, made, tmp_path)
    write(project, None)
    record = _record(project)
    assert "lib/tflm" not in record["trees"]
    assert not [k for k in record.get("tree_files", {}) if k.startswith("lib/tflm/")]  # type: ignore[attr-defined]


def test_the_prune_said_by_the_cli_keeps_a_file(made: Made, tmp_path: Path) -> None:
    project = project_copy(made, tmp_path)
    own = project / "lib" / "tflm"
    own.write_text("MY OWN NOTES, not a tree\n")
    args = ["generate", "--board", "esp32", "--model", str(FIXTURE_MODEL), "-o", str(project)]
    proc = run_cli(*args, "--force", "--prune", env={"TINYSLM_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 0, proc.stderr
    assert "removed   lib/tflm" not in proc.stdout
    assert own.read_text() == "MY OWN NOTES, not a tree\n"


# 2 and 3: a link at lib/tflm, or lib itself a link to a folder, when a tree is copied.
def _linked(made: Made, tmp_path: Path, where: str) -> tuple[Path, Path]:
    """(the project, the user's folder its ``where`` links to)."""
    project = project_copy(made, tmp_path)
    user = tmp_path / "user"
    if where == "lib":
        shutil.move(str(project / "lib"), user)
        (user / "mylib").mkdir()
        (user / "mylib" / "a.c").write_text("mine\n")
    else:
        shutil.copytree(made[1], user)
    (project / where).symlink_to(user, target_is_directory=True)
    return project, user


@pytest.mark.parametrize("where", ["lib/tflm", "lib"])
def test_generate_refuses_a_link_to_a_folder_and_changes_nothing(
    made: Made, tmp_path: Path, where: str
) -> None:
    project, user = _linked(made, tmp_path, where)
    before, theirs = snapshot(project), snapshot(user)
    args = ["generate", "--board", "stm32h7", "--model", str(FIXTURE_MODEL), "-o", str(project)]
    proc = run_cli(*args, "--force", "--tflm-dir", str(made[1]))
    link = project / where
    line = assert_one_error_line(proc, f"error: {link} is a symbolic link to {user}, ")
    if where == "lib":
        assert "so lib/tflm would be written into the folder it names" in line
        assert f"replace the link with a folder of the project's own (rm {link} removes" in line
    else:
        assert "not a TFLM tree tinyslm wrote, so it is not replaced" in line
        assert f"remove the link yourself (rm {link}; the folder it names stays)" in line
    assert snapshot(project) == before
    assert snapshot(user) == theirs


@pytest.mark.parametrize("where", ["lib/tflm", "lib"])
def test_the_write_refuses_a_link_to_a_folder(made: Made, tmp_path: Path, where: str) -> None:
    """The write's own check (generate refuses earlier)."""
    project, user = _linked(made, tmp_path, where)
    before, theirs = snapshot(project), snapshot(user)
    why = "so lib/tflm would be written" if where == "lib" else "not written by tinyslm"
    with pytest.raises(OutputExistsError, match=f"{where} \\(a symbolic link to .*{why}"):
        write(project, made[1])
    assert snapshot(project) == before
    assert snapshot(user) == theirs


def test_without_a_tree_a_link_to_a_folder_is_kept(made: Made, tmp_path: Path) -> None:
    project, _ = _linked(made, tmp_path, "lib/tflm")
    assert _stray_lib_tflm(project, copying=False) is None
    write(project, None)
    assert (project / "lib" / "tflm").is_symlink()


# 4: lib a file or a dangling link.
@pytest.mark.parametrize("entry", ["file", "dangling link"])
def test_generate_refuses_lib_before_training_the_demo(
    made: Made, tmp_path: Path, entry: str
) -> None:
    project = lib_in_the_way(made, tmp_path, entry)
    lib, before = project / "lib", snapshot(project)
    args = ["generate", "--board", "stm32h7", "-o", str(project), "--force"]
    proc = run_cli(*args, "--tflm-dir", str(made[1]))
    line = assert_one_error_line(proc, f"error: {lib} is a ", "so lib/tflm cannot be written")
    assert "training" not in proc.stderr + proc.stdout
    step = "move it away yourself (mv" if entry == "file" else f"remove it yourself (rm {lib})"
    assert step in line
    assert snapshot(project) == before


@pytest.mark.parametrize("entry", ["file", "dangling link"])
def test_a_failed_write_names_lib_not_lib_tflm(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    """Past the checks (a race): the line named lib/tflm, which is not there."""
    project = lib_in_the_way(made, tmp_path, entry)
    before = snapshot(project)
    monkeypatch.setattr(outdir, "tree_place_problem", lambda *_a, **_k: None, raising=False)
    with pytest.raises(OSError) as failed:
        write(project, made[1])
    assert _failed_path(failed.value, project) == f" ({project / 'lib'})"
    assert snapshot(project) == before


@pytest.mark.parametrize("entry", ["file", "dangling link"])
def test_builds_line_names_lib_and_its_steps_work(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))  # no fetched tree
    project = lib_in_the_way(made, tmp_path, entry)
    lib = project / "lib"
    line = assert_one_error_line(run_cli("build", str(project)), "no usable lib/tflm (lib is a ")
    step = line.split("builds TFLM from; ", 1)[1].split(", get a tree", 1)[0]
    take_step(shlex.split(step.split("(", 1)[1].rstrip(")")), lib, entry)
    regenerate_as_said(line, made[1])
    build.open_checked(project)
    if entry == "file":
        assert Path(f"{lib}.mine").read_text() == "not a folder\n"


# 5: the rollback.
def test_a_failed_undo_of_a_put_in_still_puts_the_old_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's put_aside was skipped (its source filled again by its put_in), so when
    undoing the put_in failed, the new README stayed and the old one sat in old/."""
    project = tmp_path / "p"
    files = {"README.md": b"old\n", "tinyslm.json": b"{}\n"}
    outdir.write_tree(files, project, ownership=PROJECT_OWNERSHIP)
    rename = os.rename
    undone: list[str] = []

    def failing(src: str | Path, dst: str | Path) -> None:
        if str(dst).endswith(f"/p/{PROJECT_OWNERSHIP.record}") and "/new/" in str(src):
            raise OSError(errno.EIO, "Input/output error", str(src))
        if str(src).endswith("/p/README.md") and "/new/" in str(dst) and not undone:
            undone.append(str(src))  # the undo of README's put_in fails once
            raise OSError(errno.EBUSY, "Device or resource busy", str(src))
        rename(src, dst)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(OSError, match="Input/output error"):
        outdir.write_tree(
            {**files, "README.md": b"new\n"}, project, force=True, ownership=PROJECT_OWNERSHIP
        )
    monkeypatch.setattr(os, "rename", rename)
    assert undone
    assert (project / "README.md").read_bytes() == b"old\n"
    # The staging folder stays (the new README could not be moved back into it), and
    # holds no file of the user's: the next --force names it.
    stages = [p for p in project.iterdir() if p.name.startswith(outdir.STAGE_PREFIX)]
    assert [snapshot(stage / "old") for stage in stages] == [{}]


def test_a_failed_swap_over_a_dangling_link_still_leaves_no_staging_folder(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ef13ba6's case, with the skip now decided once before the rollback."""
    project = project_copy(made, tmp_path)
    (project / "lib" / "tflm").symlink_to(tmp_path / "gone", target_is_directory=True)
    before = snapshot(project)
    monkeypatch.setattr(outdir, "tree_path_problem", lambda _path: None)
    monkeypatch.setattr(outdir, "tree_place_problem", lambda *_a, **_k: None, raising=False)
    with pytest.raises(NotADirectoryError):
        write(project, made[1])
    assert snapshot(project) == before


# 6 and 7: the words.
def test_a_link_to_a_file_is_called_one(made: Made, tmp_path: Path) -> None:
    project = project_copy(made, tmp_path)
    own = project / "lib" / "tflm"
    _put(own, "link to a file", made, tmp_path)
    notes = tmp_path / "notes.txt"
    with pytest.raises(OutputExistsError) as refused:
        _stray_lib_tflm(project, copying=True)
    assert f"{own} is a symbolic link to a file ({notes}), not a folder, " in str(refused.value)
    assert f"remove the link yourself (rm {own}; the file it names stays)" in str(refused.value)
    with pytest.raises(ProjectError) as built:
        build.open_checked(project)
    assert f"no usable lib/tflm (a symbolic link to a file ({notes}), not a folder)" in str(
        built.value
    )


def test_a_plain_file_is_moved_away_not_removed(made: Made, tmp_path: Path) -> None:
    project = project_copy(made, tmp_path)
    own = project / "lib" / "tflm"
    own.write_text("MY OWN NOTES, not a tree\n")
    with pytest.raises(OutputExistsError) as refused:
        _stray_lib_tflm(project, copying=True)
    assert f"move it away yourself (mv {own} {own}.mine), then run generate" in str(refused.value)
    assert "rm " not in str(refused.value)
    note = _stray_lib_tflm(project, copying=False)
    assert note == (
        f"{own} is a file, not a folder, kept as yours: move it away yourself (mv {own} "
        f"{own}.mine) before generating with a TFLM tree"
    )


# Round 51, mdout2 (rev7's F2 and F3).
def test_lib_linked_to_a_folder_inside_the_project_is_not_called_outside(
    made: Made, tmp_path: Path
) -> None:
    """The tree would go to p/vendorlib/tflm, inside the project: "outside" was untrue."""
    project = project_copy(made, tmp_path)
    (project / "lib").rename(project / "vendorlib")
    (project / "lib").symlink_to("vendorlib", target_is_directory=True)
    before = snapshot(project)
    with pytest.raises(OutputExistsError) as refused:
        _stray_lib_tflm(project, copying=True)
    assert "so lib/tflm would be written into the folder it names" in str(refused.value)
    assert "outside" not in str(refused.value)
    with pytest.raises(OutputExistsError, match="would be written into the folder it names"):
        write(project, made[1])
    assert snapshot(project) == before


def test_the_move_away_advice_names_a_free_destination(made: Made, tmp_path: Path) -> None:
    """Followed verbatim, ``mv X X.mine`` replaced an X.mine moved aside before."""
    project = project_copy(made, tmp_path)
    own = project / "lib" / "tflm"
    own.write_text("notes v2\n")
    Path(f"{own}.mine").write_text("notes v1, kept earlier\n")
    Path(f"{own}.mine.1").symlink_to(tmp_path / "gone")  # a dangling link is in use too
    with pytest.raises(OutputExistsError) as refused:
        _stray_lib_tflm(project, copying=True)
    assert f"(mv {own} {own}.mine.2)" in str(refused.value)
    words = shlex.split(str(refused.value).split("(mv ", 1)[1].split(")", 1)[0])
    os.rename(own, words[1])
    assert Path(f"{own}.mine").read_text() == "notes v1, kept earlier\n"
    assert Path(f"{own}.mine.2").read_text() == "notes v2\n"


def test_build_says_to_move_away_an_empty_lib_tflm_tinyslm_never_recorded(
    made: Made, tmp_path: Path
) -> None:
    """rev7's F5: build's advice (get a tree, regenerate) was refused by that regenerate,
    "lib/tflm/ (not written by tinyslm)"; the move-away step now comes first."""
    project = project_copy(made, tmp_path)
    doc = _record(project)
    doc["trees"], doc["tree_files"] = [], {}
    (project / ".tinyslm-files.json").write_text(json.dumps(doc))
    own = project / "lib" / "tflm"
    own.mkdir()
    with pytest.raises(ProjectError) as built:
        build.open_checked(project)
    assert f"move it away yourself (mv {own} {own}.mine), get a tree" in str(built.value)
    os.rename(own, f"{own}.mine")  # as advised; then the regenerate goes through
    write(project, made[1])
    assert (own / tflm.CORTEX_M_MARKER).is_file()
    assert Path(f"{own}.mine").is_dir()


def test_build_does_not_say_to_move_away_a_recorded_tree(made: Made, tmp_path: Path) -> None:
    """A tree the record lists is tinyslm's: the regenerate replaces it, no move needed."""
    project = project_copy(made, tmp_path)
    (project / "lib" / "tflm").mkdir()
    with pytest.raises(ProjectError) as built:
        build.open_checked(project)
    assert "move it away" not in str(built.value)
    assert "(it is empty)" in str(built.value)


def _old_record_project(made: Made, tmp_path: Path) -> Path:
    """The project with its tree, recorded as before round 32 (no ``tree_files``)."""
    project = tmp_path / "old"
    shutil.copytree(made[0], project)
    doc = _record(project)
    del doc["tree_files"]
    (project / ".tinyslm-files.json").write_text(json.dumps(doc))
    return project


def test_a_file_added_to_a_tree_an_old_record_lists_no_files_of_stops_the_copy(
    made: Made, tmp_path: Path
) -> None:
    """rev7's F4: --force --tflm-dir deleted it ("a file you added there stops it")."""
    project = _old_record_project(made, tmp_path)
    mine = project / "lib" / "tflm" / "mine.cc"
    mine.write_text("mine\n")
    before, copied = snapshot(project), made[0] / "lib" / "tflm"  # with its library.json
    with pytest.raises(OutputExistsError, match=r"lib/tflm/mine\.cc \(not as in the new copy"):
        write(project, copied)
    assert snapshot(project) == before
    mine.unlink()  # the rest is as the new copy: replaced, and listed from then on
    write(project, copied)
    assert "lib/tflm/" + tflm.CORTEX_M_MARKER in _record(project)["tree_files"]  # type: ignore[operator]


def test_prune_reports_a_tree_an_old_record_lists_no_files_of_as_unlisted(
    made: Made, tmp_path: Path
) -> None:
    """Kept, as before, but not because it was "edited since tinyslm wrote" it."""
    project = _old_record_project(made, tmp_path)
    report = write(project, None, prune=True, absent_trees=["lib/tflm"])
    assert report.stale_unlisted == ("lib/tflm/",)
    assert (project / "lib" / "tflm" / tflm.CORTEX_M_MARKER).is_file()
    edited = project_copy(made, tmp_path)
    shutil.copytree(made[1], edited / "lib" / "tflm")
    (edited / "lib" / "tflm" / "mine.cc").write_text("mine\n")
    report = write(edited, None, prune=True, absent_trees=["lib/tflm"])
    assert report.stale_edited == ("lib/tflm/",)
    assert report.stale_unlisted == ()


def test_the_cli_says_why_a_tree_an_old_record_lists_no_files_of_is_kept(
    made: Made, tmp_path: Path
) -> None:
    """The prune's note names the old record as the reason, not an edit the user made."""
    project = _old_record_project(made, tmp_path)
    args = ["generate", "--board", "esp32", "--model", str(FIXTURE_MODEL), "-o", str(project)]
    proc = run_cli(*args, "--force", "--prune", env={"TINYSLM_CACHE_DIR": str(tmp_path / "c")})
    assert proc.returncode == 0, proc.stderr
    assert "kept because the record, written before round 32, lists none of their files" in (
        proc.stderr
    ), proc.stderr
    assert "kept because edited since" not in proc.stderr, proc.stderr
    assert (project / "lib" / "tflm" / tflm.CORTEX_M_MARKER).is_file()
