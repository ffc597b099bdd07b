"""Every command refuses an option of one value given twice, as generate does.

click keeps the last value without a word: ``tinyslm train data.csv --epochs 3 ... --epochs
50`` (an alias or a script that appends a flag) trained for 50 epochs with the user
believing 3. A repeatable option (``--mic-pin``, ``synth --engine``) is not one of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["train", "demo", "--epochs", "3", "--epochs", "5"], "--epochs is given twice (3, 5)"),
        (["train", "demo", "--seed=1", "--seed", "2"], "--seed is given twice (1, 2)"),
        (
            ["info", str(FIXTURE_MODEL), "--json", "a", "--json", "-"],
            "--json is given twice (a, -)",
        ),
        (["synth", "yes", "no", "-o", "a", "-o", "b"], "--out is given twice (a, b)"),
        (["eval", str(FIXTURE_MODEL), "demo", "--split", "a", "--split=b"], "--split is given"),
    ],
)
def test_an_option_of_one_value_given_twice_is_refused(
    argv: list[str], line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code != 0, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert line in lines[0]
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


def test_a_repeatable_option_is_not_refused_for_repeating() -> None:
    """``synth --engine`` is repeatable: two engines pass the repeat check (and fail, if
    at all, on what they name, never as 'given twice')."""
    result = CliRunner().invoke(cli, ["synth", "--help"])
    assert "--engine" in result.output
    repeat = CliRunner().invoke(cli, ["synth", "yes", "no", "--engine", "x", "--engine", "y"])
    assert "given twice" not in repeat.output


def test_a_short_cluster_counts_its_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-qo A -o B``: -q is a flag, -o takes A; B was written without a word."""
    monkeypatch.chdir(tmp_path)
    argv = ["generate", "--board", "esp32", "--model", str(FIXTURE_MODEL), "-qo", "a", "-o", "b"]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code != 0 and "--output is given twice (a, b)" in result.output
    assert list(tmp_path.iterdir()) == []
    # A cluster of flags alone, and a value that looks like a cluster, are no repeats.
    once = CliRunner().invoke(cli, [*argv[:5], "-qo", "-qo"])
    assert once.exit_code == 0, once.output
    assert (tmp_path / "-qo" / "tinyslm.json").is_file()


def test_help_wins_over_a_repeated_option() -> None:
    """``--help`` showed the help whatever else was on the line; the repeat check ran
    first and sent the user to the --help they had typed."""
    result = CliRunner().invoke(cli, ["train", "x.csv", "--epochs", "3", "--epochs", "5", "--help"])
    assert result.exit_code == 0 and "train [OPTIONS] [DATA]" in result.output


def test_an_empty_value_given_twice_is_shown() -> None:
    result = CliRunner().invoke(cli, ["generate", "--board", "esp32", "--model=", "--model", "x"])
    assert "--model is given twice ('', x)" in result.output


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "-o", "", "--epochs", "1", "-q"],
        ["train", "", "-o", "m", "--epochs", "1", "-q"],
        ["synth", "yes", "no", "-o", ""],
        ["info", ""],
        ["eval", "", "x.csv"],
        ["emulate", "", "--text", "hi"],
        ["report", ""],
    ],
    ids=["train-o", "train-data", "synth-o", "info", "eval", "emulate", "report"],
)
def test_an_empty_path_is_refused_not_read_as_here(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Path("") is "."; ``train -o "$OUT"`` and ``synth -o "$OUT"`` with OUT unset wrote
    into the current folder (generate's -o was fixed first)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code != 0
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "an empty path" in lines[0], result.output
    assert list(tmp_path.iterdir()) == []
