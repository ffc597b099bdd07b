"""Round 49 test-honesty audit: 35d6720 made ``demo/`` and ``./demo`` (no such file or
folder here) a refusal, not the bundled demo set, for eval, emulate --data and report
--data; only eval's was tested (the other two could go back to taking them for the
bundled set with every test passing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_r48_cli_text import MODEL

from tinyslm.cli import cli

REFUSED = "no such file or folder ('demo' alone names the bundled demo set)"


@pytest.mark.parametrize("typed", ["demo/", "./demo"])
@pytest.mark.parametrize(
    "command",
    [["emulate", str(MODEL), "--data"], ["report", str(MODEL), "-o", "page.html", "--data"]],
    ids=["emulate", "report"],
)
def test_a_demo_path_that_does_not_exist_is_refused_by_emulate_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [*command, typed])
    assert result.exit_code != 0, result.output
    assert f"{typed!r}: {REFUSED}" in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "page.html").exists()
