"""``generate`` without ``-o``, run from inside the model it uses: the one line names ``-o``.

The default project folder (``projects/<board>``) is no folder the user typed, so the
plain "choose an output folder outside it" left them to find the option that moves it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def _one_error(output: str) -> str:
    errors = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, output
    assert "Traceback" not in output, output
    return errors[0]


@pytest.mark.parametrize("where", [".", "sub"])
def test_generate_without_o_inside_the_model_being_used_names_o(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    model = Path(shutil.copytree(FIXTURE_MODEL, tmp_path / "m"))
    cwd = model / where
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    given = "." if where == "." else ".."
    result = CliRunner().invoke(cli, ["generate", "--board", "esp32", "--model", given])
    assert result.exit_code == 1, result.output
    error = _one_error(result.output)
    assert "(the project folder, no -o given) is inside the model being used" in error, error
    assert error.endswith("give -o outside it, or run generate from another folder"), error
    assert not (cwd / "projects").exists()


def test_generate_with_o_inside_the_model_being_used_keeps_its_message(tmp_path: Path) -> None:
    model = Path(shutil.copytree(FIXTURE_MODEL, tmp_path / "m"))
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(model), "-o", str(model / "p")]
    )
    assert result.exit_code == 1, result.output
    error = _one_error(result.output)
    assert error.endswith(
        f"is inside the model being used ({model}); choose an output folder outside it"
    ), error
