"""``--json out/`` names a folder: refused in one line, no file ``out`` written.

Path() drops the trailing separator, so ``tinyslm eval MODEL DATA --json out/`` wrote the
figures to a file named ``out`` (the benchmarks' ``--json`` had the same fault).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


@pytest.mark.parametrize(
    "args",
    [
        ["eval", str(FIXTURE_MODEL), "demo"],
        ["info", str(FIXTURE_MODEL)],
    ],
    ids=["eval", "info"],
)
def test_json_naming_a_folder_is_refused(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [*args, "--json", "out/"])
    assert result.exit_code != 0, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "out/ names a folder (it ends in '/'); give a file name" in errors[0], errors
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_json_to_a_file_still_works(tmp_path: Path) -> None:
    out = tmp_path / "info.json"
    result = CliRunner().invoke(cli, ["info", str(FIXTURE_MODEL), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_json_naming_a_folder_by_its_dot_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review: Path("out/.") is "out": --json out/. wrote a file named out.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["info", str(FIXTURE_MODEL), "--json", "out/."])
    assert result.exit_code != 0, result.output
    assert "out/. names a folder (it ends in '.'); give a file name" in result.output
    assert not (tmp_path / "out").exists()
