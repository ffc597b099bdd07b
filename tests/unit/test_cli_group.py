"""The click group's own behaviour: a bare group asks for help, option ranges."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli


@pytest.mark.parametrize("args", [[], ["tflm"]])
def test_a_group_without_a_command_prints_its_help(args: list[str]) -> None:
    # Round 36: click 8.2 raises NoArgsIsHelpError, a UsageError, so the whole help came
    # out squashed into one "error:" line with exit 1.
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert "error:" not in result.output and "\nCommands:\n" in result.output


@pytest.mark.parametrize("baud", ["0", "-5", "99999999999"])
def test_monitor_refuses_a_baud_rate_out_of_range(baud: str) -> None:
    # 0 ran (a POSIX tty hangs up at B0), 99999999999 ended in pyserial's OverflowError.
    result = CliRunner().invoke(cli, ["monitor", "--port", "/dev/null", "--baud", baud])
    assert result.exit_code == 1
    assert result.output.startswith("error: Invalid value for '--baud'")
    assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize("command", [["eval", "m", "d.csv"], ["info", "m"], ["build", "p"]])
def test_an_empty_json_name_is_refused_as_empty(command: list[str]) -> None:
    # Round 36: Path("") is ".", so --json "" was refused as "--json . is a folder".
    result = CliRunner().invoke(cli, [*command, "--json", ""])
    assert result.exit_code == 1
    assert result.output.startswith("error: Invalid value for '--json': an empty file name")
