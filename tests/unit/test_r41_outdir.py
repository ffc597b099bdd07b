"""Output folders after a read-only TFLM tree, a run killed mid-swap, a killed new write.

- A TFLM tree copied from a read-only SDK folder (dr-xr-xr-x) is the project owner's to
  replace and remove: its copy is user-writable, and tinyslm's own removals (the staging
  folder after ``--force``, a pruned tree, a failed new project) also get through
  read-only folders. Root ignores folder modes, so those run as ``nobody`` in a child.
- After ``generate --force`` is killed halfway through the swap, a file already as the
  run writes it is not "edited since it was generated": rerunning loses nothing.
- The temporary ``.NAME.tmp-<hex>`` a killed new write leaves next to its target is named
  by the next run into that target (never removed: it is not provably tinyslm's).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tinyslm import outdir
from tinyslm.errors import OutputExistsError
from tinyslm.outdir import Ownership, write_file, write_tree
from tinyslm.toolchain import tflm

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
PROJECT = Ownership(
    kind="project",
    marker="tinyslm.json",
    record=".tinyslm-files.json",
    keep_foreign=True,
    trees=("lib/tflm",),
)

# Shared by the unprivileged children: a read-only tree as the shared SDK's is.
CHILD_PRELUDE = """
import os, shutil, sys
from pathlib import Path
from tinyslm import outdir
from tinyslm.outdir import Ownership, write_tree

PROJECT = Ownership(kind="project", marker="tinyslm.json", record=".tinyslm-files.json",
                    keep_foreign=True, trees=("lib/tflm",))
FILES = {"tinyslm.json": b"{}", "src/main.cc": b"a"}

def read_only_tree(root, top_mode=0o555):
    (root / "tensorflow" / "kernels").mkdir(parents=True)
    (root / "tensorflow" / "kernels" / "k.cc").write_text("x")
    (root / "tensorflow" / "k.h").write_text("y")
    for folder, name in [(root / "tensorflow" / "kernels", "k.cc"), (root / "tensorflow", "k.h")]:
        os.chmod(folder / name, 0o444)
        os.chmod(folder, 0o555)
    os.chmod(root, top_mode)
    return root

def copier(tree):
    return lambda stage: shutil.copytree(tree, stage / "lib" / "tflm")

def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if "tmp-" in p.name)
"""


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A folder the unprivileged user owns (pytest's tmp_path is root's, mode 700)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a child as an unprivileged user (root ignores modes)")
    work = Path(tempfile.mkdtemp(prefix="tinyslm-r41-"))
    os.chmod(work, 0o755)
    os.chown(work, NOBODY, NOBODY)
    try:
        yield work
    finally:
        for root, dirnames, _ in os.walk(work):  # root can remove anything; tidy the modes
            for d in dirnames:
                os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(work)


def _as_nobody(python: str, args: list[str], work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, *args],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_as_nobody(work: Path, body: str) -> str:
    """Run ``body`` (after :data:`CHILD_PRELUDE`) as nobody in ``work``; its stdout.

    The children need only the standard library: where the venv's interpreter is not
    reachable for nobody (under root's home), the system's Python runs them."""
    code = CHILD_PRELUDE + textwrap.dedent(body)
    why = "no Python"
    for python in dict.fromkeys([sys.executable, shutil.which("python3", path="/usr/bin")]):
        if python is None:
            continue
        try:
            probe = _as_nobody(
                python, ["-c", "import tinyslm.outdir, tinyslm.toolchain.tflm"], work
            )
        except OSError as exc:
            why = str(exc)
            continue
        if probe.returncode != 0:
            why = probe.stderr[-200:]
            continue
        done = _as_nobody(python, ["-c", code], work)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout
    pytest.skip(f"cannot run tinyslm as an unprivileged user here: {why}")


# --- 1. a read-only TFLM tree ------------------------------------------------


def make_read_only_tflm_tree(root: Path) -> Path:
    """A fake create_tflm_tree.py output, every file and folder read-only, one script
    executable (as /work/shared/sdk/tflm/cortex-m7 is)."""
    for rel in [*tflm.REQUIRED_FILES, "tensorflow/lite/micro/kernels/softmax.cc", "tools/gen.sh"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"// {rel}\n")
    for dirpath, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o555 if name == "gen.sh" else 0o444)
        os.chmod(dirpath, 0o555)
    return root


def test_a_copy_of_a_read_only_tflm_tree_is_the_owners_to_change(tmp_path: Path) -> None:
    tree = make_read_only_tflm_tree(tmp_path / "tree")
    dest = tmp_path / "proj" / "lib" / "tflm"
    try:
        tflm.install_tree(tree, dest)
        modes = {
            p.relative_to(dest).as_posix(): stat.S_IMODE(p.stat().st_mode)
            for p in [dest, *dest.rglob("*")]
        }
        for rel, mode in modes.items():
            want = stat.S_IRWXU if (dest / rel).is_dir() else stat.S_IRUSR | stat.S_IWUSR
            assert mode & want == want, f"{rel}: {oct(mode)}"
        # Only the owner's bits are added: the exec bits and the others' modes stay.
        assert modes["tools/gen.sh"] == 0o755
        assert modes["tensorflow/lite/micro/kernels/softmax.cc"] == 0o644
        assert modes["tensorflow"] == 0o755
    finally:
        for dirpath, _, _ in os.walk(tmp_path):
            os.chmod(dirpath, 0o755)


@pytest.mark.parametrize("top_mode", [0o755, 0o555], ids=["inner-read-only", "all-read-only"])
def test_force_three_times_with_a_read_only_tree_leaves_nothing(
    nobody_dir: Path, top_mode: int
) -> None:
    out = run_as_nobody(
        nobody_dir,
        f"""
        tree = read_only_tree(Path("rotree"), {top_mode:#o})
        proj = Path("proj")
        write_tree(FILES, proj, extra=copier(tree), ownership=PROJECT)
        for n in range(2):
            FILES["src/main.cc"] = b"v%d" % n
            write_tree(FILES, proj, force=True, extra=copier(tree), ownership=PROJECT)
            assert not leftovers(proj), leftovers(proj)
        print("ok", sorted(os.listdir(proj)))
        """,
    )
    assert out.startswith("ok"), out


def test_prune_removes_a_read_only_tree(nobody_dir: Path) -> None:
    out = run_as_nobody(
        nobody_dir,
        """
        tree = read_only_tree(Path("rotree"), 0o755)
        proj = Path("proj")
        write_tree(FILES, proj, extra=copier(tree), ownership=PROJECT)
        report = write_tree(FILES, proj, force=True, ownership=PROJECT, prune=True,
                            absent_trees=("lib/tflm",))
        assert report.removed == ("lib/tflm/",), report
        assert not (proj / "lib").exists()
        assert not leftovers(proj), leftovers(proj)
        print("ok")
        """,
    )
    assert out.startswith("ok"), out


def test_a_failed_new_project_leaves_no_read_only_copy_behind(nobody_dir: Path) -> None:
    out = run_as_nobody(
        nobody_dir,
        """
        tree = read_only_tree(Path("rotree"))

        def copy_then_fail(stage):
            copier(tree)(stage)
            raise RuntimeError("boom")

        try:
            write_tree(FILES, Path("proj"), extra=copy_then_fail, ownership=PROJECT)
        except RuntimeError as exc:
            assert str(exc) == "boom"  # the error itself, not one of the cleanup
        assert leftovers(Path(".")) == [], leftovers(Path("."))
        assert not Path("proj").exists()
        print("ok")
        """,
    )
    assert out.startswith("ok"), out


def test_removing_a_staging_folder_gets_through_read_only_folders(nobody_dir: Path) -> None:
    out = run_as_nobody(
        nobody_dir,
        """
        stage = Path(".tinyslm-tmp-0123456789ab")
        read_only_tree(stage / "old" / "lib" / "tflm")
        outdir._remove_made([stage])
        assert not stage.exists()
        print("ok")
        """,
    )
    assert out.startswith("ok"), out


def test_install_tree_from_a_read_only_tree_as_its_user(nobody_dir: Path) -> None:
    tree = make_read_only_tflm_tree(nobody_dir / "tree")
    out = run_as_nobody(
        nobody_dir,
        """
        from tinyslm.toolchain import tflm
        tflm.install_tree(Path("tree"), Path("proj/lib/tflm"))
        assert (Path("proj/lib/tflm") / tflm.LIBRARY_JSON).is_file()
        shutil.rmtree("proj")  # the owner can remove the copy again
        print("ok")
        """,
    )
    assert out.startswith("ok"), out
    assert tree.is_dir()


def test_a_staging_folder_that_cannot_be_removed_is_named_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = tmp_path / "proj"
    write_tree({"tinyslm.json": b"{}", "a.c": b"1"}, proj, ownership=PROJECT)

    def busy(path: object, ignore_errors: bool = False, onerror: object = None) -> None:
        if not ignore_errors:  # as shutil.rmtree does: ignore_errors swallows the error
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))

    monkeypatch.setattr(outdir.shutil, "rmtree", busy)
    write_tree({"tinyslm.json": b"{}", "a.c": b"2"}, proj, force=True, ownership=PROJECT)
    err = capsys.readouterr().err
    stage = [p.name for p in proj.iterdir() if p.name.startswith(outdir.STAGE_PREFIX)]
    assert stage and "warning: cannot remove the temporary folder" in err
    assert stage[0] in err and "Device or resource busy" in err


# --- 2. a run killed halfway through the swap ------------------------------------------

V1 = {"tinyslm.json": b'{"v": 1}', "README.md": b"one\n", "src/main.cc": b"int v = 1;\n"}
V2 = {"tinyslm.json": b'{"v": 2}', "README.md": b"two\n", "src/main.cc": b"int v = 2;\n"}


def test_files_already_as_this_run_writes_them_are_not_edited(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    write_tree(V1, proj, ownership=PROJECT)
    # As a killed run leaves it: two files are the new ones, the record still the old one.
    (proj / "README.md").write_bytes(V2["README.md"])
    (proj / "src" / "main.cc").write_bytes(V2["src/main.cc"])
    report = write_tree(V2, proj, force=True, ownership=PROJECT)
    assert report.unchanged == ("README.md", "src/main.cc")
    assert report.changed == ("tinyslm.json",)
    record = json.loads((proj / PROJECT.record).read_text())  # type: ignore[operator]
    assert set(record["files"]) == set(V2)
    # A file edited to something else is still refused.
    (proj / "README.md").write_bytes(b"mine\n")
    with pytest.raises(OutputExistsError, match=r"README\.md \(edited since it was generated\)"):
        write_tree(V1, proj, force=True, ownership=PROJECT)


def test_a_tree_file_already_as_the_new_copy_is_not_edited(tmp_path: Path) -> None:
    proj = tmp_path / "proj"

    def tree(version: bytes) -> Callable[[Path], None]:
        def extra(stage: Path) -> None:
            (stage / "lib" / "tflm").mkdir(parents=True)
            (stage / "lib" / "tflm" / "k.cc").write_bytes(version)

        return extra

    write_tree(V1, proj, extra=tree(b"old"), ownership=PROJECT)
    (proj / "lib" / "tflm" / "k.cc").write_bytes(b"new")  # the new tree was put in
    write_tree(V2, proj, force=True, extra=tree(b"new"), ownership=PROJECT)
    assert (proj / "lib" / "tflm" / "k.cc").read_bytes() == b"new"


KILLED_UPDATE = """
import os, sys
from pathlib import Path
from tinyslm import outdir
from tinyslm.outdir import Ownership, write_tree

PROJECT = Ownership(kind="project", marker="tinyslm.json", record=".tinyslm-files.json",
                    keep_foreign=True, trees=("lib/tflm",))
files = {k: bytes.fromhex(v) for k, v in __import__("json").loads(sys.argv[2]).items()}
real_rename, count = os.rename, [0]

def rename(src, dst):
    real_rename(src, dst)
    count[0] += 1
    if count[0] == int(sys.argv[3]):
        os._exit(137)  # as kill -9: no cleanup at all

outdir.os.rename = rename
write_tree(files, Path(sys.argv[1]), force=True, ownership=PROJECT)
"""


def test_after_a_kill_mid_swap_moving_back_the_missing_files_is_enough(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    write_tree(V1, proj, ownership=PROJECT)
    # The swap goes file by file, sorted: README.md aside, in; src/main.cc aside (3), killed.
    wanted = json.dumps({k: v.hex() for k, v in V2.items()})
    done = subprocess.run(
        [sys.executable, "-c", KILLED_UPDATE, str(proj), wanted, "3"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 137, done.stderr[-2000:]
    assert not (proj / "src" / "main.cc").exists()
    [stage] = [p for p in proj.iterdir() if p.name.startswith(outdir.STAGE_PREFIX)]
    with pytest.raises(OutputExistsError) as refused:
        write_tree(V2, proj, force=True, ownership=PROJECT)
    assert (
        f"{stage.name}/old/ holds files from before a tinyslm run that was stopped while "
        f"replacing them (or is still running): README.md, src/main.cc; move back into "
        f"{proj} those you want to keep, delete {stage.name}/, then run again"
    ) in str(refused.value)
    # As the message says: the missing file moved back, the staging folder deleted.
    os.rename(stage / "old" / "src" / "main.cc", proj / "src" / "main.cc")
    shutil.rmtree(stage)
    report = write_tree(V2, proj, force=True, ownership=PROJECT)
    assert report.unchanged == ("README.md",)
    assert report.changed == ("src/main.cc", "tinyslm.json")
    assert {rel: (proj / rel).read_bytes() for rel in V2} == V2


# --- 3. what a killed new write leaves next to its target ------------------------------


def test_a_killed_new_writes_leftover_is_named_by_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left = tmp_path / ".proj.tmp-0123456789ab"
    (left / "src").mkdir(parents=True)
    (left / "src" / "main.cc").write_bytes(b"half")
    not_ours = [tmp_path / ".proj.tmp-mine", tmp_path / ".other.tmp-0123456789ab"]
    for path in not_ours:
        path.mkdir()
    write_tree(V1, tmp_path / "proj", ownership=PROJECT)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: ")
    assert f"{left}: the unfinished output of an earlier tinyslm run into" in err
    assert "delete it" in err and ".proj.tmp-mine" not in err and ".other" not in err
    # Named, never removed; named again by a --force run into the same folder.
    assert (left / "src" / "main.cc").read_bytes() == b"half"
    write_tree(V2, tmp_path / "proj", force=True, ownership=PROJECT)
    assert str(left) in capsys.readouterr().err
    assert left.is_dir() and all(p.is_dir() for p in not_ours)


def test_a_killed_single_files_leftover_is_named_by_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left = tmp_path / ".report.html.tmp-a1b2c3d4e5f6"
    left.write_bytes(b"<html>half")
    write_file(tmp_path / "report.html", b"<html>", "report -o", lambda data: True)
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {left}: the unfinished file of an earlier tinyslm run")
    assert left.read_bytes() == b"<html>half"
