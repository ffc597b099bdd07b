"""What the lib/tflm tests share: a fake Cortex-M7 tree, an STM32H7 project generated with
it, copies of that project with something else at ``lib/tflm`` or ``lib``, generate's
write, a folder's snapshot (links as links) to show that nothing changed, and the steps
build's line prints, followed."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tinyslm import outdir
from tinyslm.pipeline import PROJECT_OWNERSHIP, run_generate
from tinyslm.toolchain import tflm

FIXTURE_MODEL = Path(__file__).resolve().parent / "fixtures" / "model"

Made = tuple[Path, Path]


def fake_tree(root: Path) -> Path:
    """A Cortex-M7 tree as create_tflm_tree.py makes it (no library.json)."""
    for rel in (*tflm.REQUIRED_FILES, tflm.CORTEX_M_MARKER):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"// {rel}\n", encoding="utf-8")
    return root


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a file's sha256, a link's target, ``dir`` for a folder."""
    found: dict[str, str] = {}
    for root, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def made_fixture(name: str) -> Callable[..., Made]:
    """A module-scoped fixture: (a stm32h7 project with a copied tree, the tree it was
    copied from), made once in a temporary folder named after ``name``. A module assigns
    it to the fixture's name (``made = made_fixture("r51_mdemu")``)."""

    @pytest.fixture(scope="module")
    def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
        base = tmp_path_factory.mktemp(name)
        tree = fake_tree(base / "tree")
        project = base / "stm32h7"
        run_generate("stm32h7", project, model_dir=FIXTURE_MODEL, tflm_dir=tree)
        return project, tree

    return made


def project_copy(made: Made, tmp_path: Path) -> Path:
    """A copy of the project without its lib/tflm (its record still lists the tree)."""
    project = tmp_path / "p"
    shutil.copytree(made[0], project, ignore=shutil.ignore_patterns("tflm"))
    return project


def stray(made: Made, tmp_path: Path, entry: str) -> Path:
    """A copy of the project whose lib/tflm is ``entry``: a ``file`` or a
    ``dangling link``."""
    project = project_copy(made, tmp_path)
    own = project / "lib" / "tflm"
    if entry == "file":
        own.write_text("not a tree\n")
    else:
        own.symlink_to(tmp_path / "gone", target_is_directory=True)
    return project


def lib_in_the_way(made: Made, tmp_path: Path, entry: str) -> Path:
    """A copy of the project whose ``lib`` itself is ``entry``: a ``file`` or a
    ``dangling link``."""
    project = project_copy(made, tmp_path)
    lib = project / "lib"
    shutil.rmtree(lib)
    if entry == "file":
        lib.write_text("not a folder\n")
    else:
        lib.symlink_to(tmp_path / "gone", target_is_directory=True)
    return project


def write(project: Path, tree: Path | None, **kwargs: object) -> outdir.WriteReport:
    """generate's write into ``project`` (a changed README among its files), with
    ``tree`` copied to lib/tflm (None: no tree)."""

    def extra(stage: Path) -> None:
        if tree is not None:
            shutil.copytree(tree, stage / "lib" / "tflm")

    files = {"README.md": b"changed\n"}
    return outdir.write_tree(
        files,
        project,
        force=True,
        extra=extra,
        ownership=PROJECT_OWNERSHIP,
        **kwargs,  # type: ignore[arg-type]
    )


def take_step(words: list[str], path: Path, entry: str) -> None:
    """Check and follow the step build's line gives for ``path`` (its words, as printed):
    a ``file`` is the user's, moved away (``mv``) and kept; a link is removed (``rm``)."""
    if entry == "file":
        assert words == ["mv", str(path), f"{path}.mine"]
        os.rename(path, f"{path}.mine")
    else:
        assert words == ["rm", str(path)]
        os.unlink(path)


def regenerate_as_said(line: str, tree: Path) -> None:
    """Run the regenerate command build's ``line`` ends with, as printed, with the fixture
    model for MODEL_DIR and the ``--tflm-dir`` the line says to add."""
    from cli_support import run_cli  # tests/integration's, whose modules alone call this

    command = shlex.split(line.split(": tinyslm ", 1)[1])
    command[command.index("MODEL_DIR")] = str(FIXTURE_MODEL)
    done = run_cli(*command, "--tflm-dir", str(tree))
    assert done.returncode == 0, done.stderr
