"""Round 48: train's and generate's -o inside a model folder, and intents no text reaches.

A hunter found: ``train -o MODEL/sub`` wrote a model folder inside another one, which
then blocked that one's ``train --force`` (``--json`` and ``report -o`` there were
already refused); and a dataset whose phrases were all punctuation trained and wrote
a model that answers every phrase of its own data ``no_tokens``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tinyslm import pipeline
from tinyslm.cli import cli
from tinyslm.errors import DatasetError
from tinyslm.text.features import FeatureSpec
from tinyslm.text.train import TrainConfig

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


class _Stop(Exception):
    """Raised by the stand-in trainer: reaching it is what these tests look for."""


def _fake_run_train(*_: Any, **__: Any) -> Any:
    raise _Stop


def _one_error(output: str) -> str:
    errors = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, output
    assert "Traceback" not in output, output
    return errors[0]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A model folder (the committed fixture's two files)."""
    return Path(shutil.copytree(FIXTURE_MODEL, tmp_path / "m"))


@pytest.mark.parametrize("inside", ["sub", "a/b"])
def test_train_into_a_folder_inside_a_model_folder_is_refused(
    model: Path, monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    monkeypatch.setattr(pipeline, "run_train", _fake_run_train)
    out = model / inside
    result = CliRunner().invoke(cli, ["train", "-o", str(out), "--epochs", "1"])
    assert result.exit_code == 1, result.output
    error = _one_error(result.output)
    assert f"-o {out} is inside the model folder {model}" in error, error
    assert "give a path outside it" in error, error
    assert sorted(p.name for p in model.iterdir()) == ["manifest.json", "model.tflite"]


def test_train_force_into_the_model_folder_itself_is_not_refused_as_inside(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "run_train", _fake_run_train)
    result = CliRunner().invoke(cli, ["train", "-o", str(model), "--force", "--epochs", "1"])
    assert isinstance(result.exception, _Stop), result.output


def test_generate_into_another_model_folder_is_refused(model: Path, tmp_path: Path) -> None:
    other = Path(shutil.copytree(FIXTURE_MODEL, tmp_path / "other"))
    out = other / "proj"
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(model), "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    error = _one_error(result.output)
    assert f"-o {out} is inside the model folder {other}" in error, error
    assert not out.exists()


def test_generate_without_o_inside_a_model_folder_says_to_give_o(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review found "give a path outside it" where no path was given.
    other = Path(shutil.copytree(FIXTURE_MODEL, tmp_path / "other"))
    monkeypatch.chdir(other)
    result = CliRunner().invoke(cli, ["generate", "--board", "esp32", "--model", str(model)])
    assert result.exit_code == 1, result.output
    error = _one_error(result.output)
    assert "the project folder (no -o given)" in error, error
    assert error.endswith("give -o outside it, or run generate from another folder"), error


def test_generate_into_the_model_being_used_keeps_its_message(model: Path) -> None:
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(model), "-o", str(model / "p")]
    )
    assert result.exit_code == 1, result.output
    assert "is inside the model being used" in _one_error(result.output)


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text(
        "text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows), encoding="utf-8"
    )
    return path


_TINY = TrainConfig(features=FeatureSpec(buckets=256, seq_len=32), dim=8, hidden=16, epochs=1)


def test_a_dataset_of_only_punctuation_is_refused_before_training(tmp_path: Path) -> None:
    rows = [(c * (i % 5 + 1), label) for i in range(30) for c, label in (("?", "a"), ("!", "b"))]
    data = _csv(tmp_path / "punct.csv", rows)
    out = tmp_path / "o"
    result = CliRunner().invoke(
        cli, ["train", str(data), "-o", str(out), "--epochs", "1", "--no-report"]
    )
    assert result.exit_code == 1, result.output
    error = _one_error(result.output)
    assert "intent(s) 'a', 'b' (of 2) have no training phrase holding an n-gram" in error
    assert "give them phrases with words" in error
    assert not out.exists()


def test_an_intent_no_text_can_reach_is_named(tmp_path: Path) -> None:
    from tinyslm.text.fit import fit_text

    rows = [(f"turn on the light {i}", "on") for i in range(20)]
    rows += [(f"turn off the lamp {i}", "off") for i in range(20)]
    rows += [("?" * (i % 4 + 1), "what") for i in range(20)]
    data = _csv(tmp_path / "d.csv", rows)
    with pytest.raises(DatasetError, match=r"^intent\(s\) 'what' \(of 3\) have no training"):
        fit_text(data, _TINY, report=False)


def test_an_intent_with_some_readable_phrases_still_trains(tmp_path: Path) -> None:
    from tinyslm.text.fit import fit_text

    rows = [(f"turn on the light {i}", "on") for i in range(20)]
    rows += [(f"turn off the lamp {i}" if i % 2 else "!?", "off") for i in range(20)]
    fitted = fit_text(_csv(tmp_path / "d.csv", rows), _TINY, report=False)
    assert any("no_tokens" in w for w in fitted.warnings), fitted.warnings
