"""A second interrupt during the rollback of a --force write (round 51, rev7 F1).

A closing terminal sends SIGHUP then SIGTERM, which tinyslm.cli.main turns into two
KeyboardInterrupts. The rollback decided once, outside the repeated put_back, whether the
last move was made; the second interrupt landing on that check skipped every undo, and
the finally removed the staging folder with old/ (the replaced files and the record).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tree_snapshot import tree

from tinyslm import outdir
from tinyslm.outdir import Ownership, write_tree

PROJECT = Ownership(
    kind="project", marker="tinyslm.json", record=".tinyslm-files.json", keep_foreign=True
)
OLD = {"README.md": b"old readme\n", "tinyslm.json": b"{}\n", "src/main.c": b"old main\n"}
NEW = {**OLD, "README.md": b"new\n", "src/main.c": b"new main\n"}


def test_a_second_interrupt_at_the_rollback_still_puts_every_file_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "p"
    write_tree(OLD, project, ownership=PROJECT)
    before = tree(project)
    rename, lexists = os.rename, os.path.lexists
    armed = [False]

    def failing_rename(src: Any, dst: Any) -> None:
        # The first interrupt: the record's put-in, the last rename of the write.
        if str(dst) == str(project / PROJECT.record) and "/new/" in str(src):
            armed[0] = True
            raise KeyboardInterrupt
        rename(src, dst)

    def second(path: Any) -> bool:
        # The second interrupt: the rollback's first look at what was moved.
        if armed[0]:
            armed[0] = False
            raise KeyboardInterrupt
        return lexists(path)

    monkeypatch.setattr(os, "rename", failing_rename)
    monkeypatch.setattr(outdir.os.path, "lexists", second)
    with pytest.raises(KeyboardInterrupt):
        write_tree(NEW, project, force=True, ownership=PROJECT)
    monkeypatch.undo()
    assert tree(project) == before
    assert (project / "README.md").read_bytes() == b"old readme\n"
    assert (project / "src/main.c").read_bytes() == b"old main\n"
