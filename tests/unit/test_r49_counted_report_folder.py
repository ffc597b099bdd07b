"""``report -o newdir/`` names a folder (rev2 #3, round 49): it wrote a file named
``newdir`` (Path() drops the separator), the fault round 49 fixed for ``--json out/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("name", sorted({"new/", f"new{os.sep}", "new/."}))
def test_report_refuses_an_output_ending_in_a_separator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["report", str(FIXTURES / "model"), "--data", str(FIXTURES / "fixture_commands.csv")]
    result = CliRunner().invoke(cli, [*args, "-o", name])
    assert result.exit_code != 0
    lines = result.output.splitlines()
    assert lines == [
        f"error: -o {name} names a folder (it ends in {name[-1]!r}); give a file name, "
        f"e.g. -o {os.path.join(name, 'report.html')}"
    ], result.output
    assert list(tmp_path.iterdir()) == []  # no file named 'new', nor a folder
