"""Round 49: ``tinyslm train demo`` trains on the bundled demo set, as ``eval``,
``emulate --data`` and ``report --data`` take ``demo``, unless a file or folder of that
name is in the current folder. It was refused as 'demo: dataset not found', while
train's own help says "(default: demo set)"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.operating_point import DEMO_DATASET

TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "1"]


def test_train_demo_is_the_bundled_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no file or folder named demo here
    args = ["train", "demo", "-o", "out", "--no-report", "-q", *TINY]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    # As DATA left out records it: generate's and report's demo hints look for this name.
    assert manifest["metrics"]["dataset"] == DEMO_DATASET


@pytest.mark.parametrize("typed", ["demo/", "./demo"])
def test_a_demo_path_that_does_not_exist_is_not_the_bundled_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", typed, "-o", "out"])
    assert result.exit_code == 1, result.output
    assert "no such file or folder ('demo' alone names the bundled demo set)" in result.output
    assert not (tmp_path / "out").exists()


def test_a_file_named_demo_is_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text("text,label\n")
    result = CliRunner().invoke(cli, ["train", "demo", "-o", "out"])
    assert result.exit_code == 1, result.output
    assert result.output == "error: demo: unknown dataset format '(no extension)'; " + (
        "expected one of .csv, .tsv, .jsonl, .json\n"
    ), result.output
