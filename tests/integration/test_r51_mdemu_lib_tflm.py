"""Round 51 mends: a project whose ``lib/tflm`` is a dangling link or a file.

- ``generate --force`` with a tree to copy failed with "cannot write <project>: Not a
  directory" and left a ``.tinyslm-tmp-*`` staging folder in the project (undoing the
  failed rename moved the user's link into it, and that failed too);
- it is not tinyslm's, so it is refused in one line naming it, never replaced or deleted;
- ``build`` and ``emulate --qemu`` said "no lib/tflm" and printed a regenerate command
  that then failed: their line now says what is there and to remove it, and following
  the line's steps gives a project both accept.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli
from lib_tflm_fixtures import (
    FIXTURE_MODEL,
    Made,
    lib_in_the_way,
    made_fixture,
    regenerate_as_said,
    snapshot,
    stray,
    take_step,
    write,
)

from tinyslm import outdir
from tinyslm.errors import OutputExistsError, ProjectError
from tinyslm.toolchain import build
from tinyslm.toolchain.cortex_m import resolve_cortex_m_tree

ENTRIES = ["dangling link", "file"]
made = made_fixture("r51_mdemu")


@pytest.mark.parametrize("entry", ENTRIES)
def test_generate_refuses_it_naming_lib_tflm_and_changes_nothing(
    made: Made, tmp_path: Path, entry: str
) -> None:
    project = stray(made, tmp_path, entry)
    before = snapshot(project)
    args = ["generate", "--board", "stm32h7", "--model", str(FIXTURE_MODEL), "-o", str(project)]
    proc = run_cli(*args, "--force", "--tflm-dir", str(made[1]))
    own = project / "lib" / "tflm"
    # A file is the user's data: moved away, not removed; only a link is removed.
    step = (
        f"move it away yourself (mv {own} " if entry == "file" else f"remove it yourself (rm {own})"
    )
    line = assert_one_error_line(proc, f"{own} is a ", step)
    assert "Not a directory" not in line
    assert snapshot(project) == before  # no .tinyslm-tmp-*, the link or file kept


@pytest.mark.parametrize("entry", ENTRIES)
def test_lib_in_the_way_is_named_and_nothing_changes(
    made: Made, tmp_path: Path, entry: str
) -> None:
    """lib itself a dangling link or a file: the write failed (mkdir, or the tree's
    rename), and its line named only the project ("cannot write P: Not a directory"),
    then lib/tflm for lib a file. generate now refuses it first, naming lib (a prefix
    ``({lib}`` was also met by ``({lib}/tflm)``); the failed write's naming is tested in
    test_r51_mdout_lib_tflm.py."""
    project = lib_in_the_way(made, tmp_path, entry)
    lib = project / "lib"
    before = snapshot(project)
    args = ["generate", "--board", "stm32h7", "--model", str(FIXTURE_MODEL), "-o", str(project)]
    proc = run_cli(*args, "--force", "--tflm-dir", str(made[1]))
    line = assert_one_error_line(proc, f"error: {lib} is a ", "so lib/tflm cannot be written")
    assert f"{lib}/tflm" not in line
    assert outdir.STAGE_PREFIX not in line
    assert snapshot(project) == before


def test_without_a_tree_it_is_kept_and_the_note_names_it(made: Made, tmp_path: Path) -> None:
    """No tree to copy (no --tflm-dir, no fetched one): generate writes nothing there, so
    the link stays; the note said only that no tree was found."""
    project = stray(made, tmp_path, "dangling link")
    args = ["generate", "--board", "stm32h7", "--model", str(FIXTURE_MODEL), "-o", str(project)]
    env = {"TINYSLM_CACHE_DIR": str(tmp_path / "cache")}  # no fetched tree
    proc = run_cli(*args, "--force", env=env)
    assert proc.returncode == 0, proc.stderr
    own = project / "lib" / "tflm"
    assert f"note: lib/tflm not included: {own} is a symbolic link to " in proc.stderr
    assert f"kept as yours: remove it yourself (rm {own}) before generating with a TFLM tree" in (
        proc.stderr
    )
    assert os.readlink(own) == str(tmp_path / "gone")
    assert not [p for p in project.iterdir() if p.name.startswith(outdir.STAGE_PREFIX)]


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_write_refuses_it_as_not_tinyslms(made: Made, tmp_path: Path, entry: str) -> None:
    """The write's own check (generate refuses earlier): a file at a recorded lib/tflm
    was put aside and deleted with the staging folder, as a tree tinyslm wrote."""
    project = stray(made, tmp_path, entry)
    before = snapshot(project)
    with pytest.raises(OutputExistsError, match=r"lib/tflm \(a .*not written by tinyslm"):
        write(project, made[1])
    assert snapshot(project) == before


def test_a_failed_swap_leaves_the_folder_as_it_was(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback, reached as by a link made after the checks (a race): the rename of
    the tree failed, and undoing that rename (never made) tried to move the user's link
    into the staging folder, failed, and so kept the staging folder in the project."""
    project = stray(made, tmp_path, "dangling link")
    before = snapshot(project)
    monkeypatch.setattr(outdir, "tree_place_problem", lambda *_a, **_k: None)
    with pytest.raises(NotADirectoryError):
        write(project, made[1])
    assert snapshot(project) == before


@pytest.mark.parametrize("entry", ENTRIES)
def test_builds_line_says_what_is_there_and_its_steps_work(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))  # no fetched tree
    project = stray(made, tmp_path, entry)
    line = assert_one_error_line(run_cli("build", str(project)), "no usable lib/tflm (a ")
    assert "no lib/tflm" not in line
    with pytest.raises(ProjectError) as emulated:
        resolve_cortex_m_tree(None, project)
    assert f"error: {emulated.value}" == line  # emulate --qemu gives build's line
    # The steps, as printed: rm, then the command with MODEL_DIR and the --tflm-dir PATH
    # the line says to add.
    own = project / "lib" / "tflm"
    take_step(shlex.split(line.split(" yourself (", 1)[1].split(")", 1)[0]), own, entry)
    regenerate_as_said(line, made[1])
    build.open_checked(project)  # what build checks before PlatformIO starts
    assert resolve_cortex_m_tree(None, project) == (project / "lib" / "tflm").resolve()


def test_a_path_in_the_staging_folder_is_not_named() -> None:
    """It is removed by the time the line is read: naming it sent the user to nothing."""
    from tinyslm.pipeline import _failed_path

    project = Path("/p/proj")
    staged = f"/p/proj/{outdir.STAGE_PREFIX}0123456789ab/new/README.md"
    assert _failed_path(OSError(28, "No space left on device", staged), project) == ""
    new = "/p/.proj.tmp-0123456789ab/src/main.c"
    assert _failed_path(OSError(28, "No space left on device", new), project) == ""
    renamed = OSError(20, "Not a directory", staged, None, "/p/proj/lib/tflm")
    assert _failed_path(renamed, project) == " (/p/proj/lib/tflm)"
