"""Round 49: ``emulate --qemu`` refuses the project's own ``lib/tflm`` that ``build``
refuses, with build's line.

A user saving disk linked ``lib/tflm`` to the tree the project was generated from (no
``library.json``): ``build`` refused it before PlatformIO, while ``--qemu`` ran it with
defines made up in place of that file's and answered (exit 0), though its tree is
documented as "what the board build compiles".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from lib_tflm_fixtures import Made, made_fixture

from tinyslm.cli import cli
from tinyslm.toolchain.cortex_m import resolve_cortex_m_tree

generated = made_fixture("r49_lib_tflm")  # (the project, the tree it was made from)


def _one_error(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_an_untouched_project_still_runs_its_own_tree(generated: Made) -> None:
    project, _ = generated
    own = project / "lib" / "tflm"
    assert resolve_cortex_m_tree(None, project) == own.resolve()


def test_qemu_refuses_a_lib_tflm_build_refuses_with_builds_line(
    generated: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyslm.emulate import qemu

    monkeypatch.setattr(qemu, "check_tools", lambda: None)  # QEMU is not what is checked
    ran: list[Path] = []
    monkeypatch.setattr(qemu, "run_qemu", lambda _p, tree, lines: ran.append(tree) or [])
    original, tree = generated
    project = tmp_path / "pl"
    shutil.copytree(original, project, ignore=shutil.ignore_patterns("tflm"))
    (project / "lib" / "tflm").symlink_to(tree, target_is_directory=True)  # the repro

    built = _one_error(["build", str(project)])
    assert "library.json is missing" in built, built
    for args in (["--text", "turn on the lights"], ["--data", "demo"]):
        emulated = _one_error(["emulate", str(project), "--qemu", *args])
        assert emulated == built, args
    assert ran == []
    # An explicit --tflm-dir is the user's choice: the project's own tree is not read.
    with_tree = ["emulate", str(project), "--qemu", "--tflm-dir", str(tree), "--text", "hi"]
    result = CliRunner().invoke(cli, with_tree)
    assert result.exit_code == 0, result.output
    assert ran == [tree.resolve()]
