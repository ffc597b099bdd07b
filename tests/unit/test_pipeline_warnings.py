"""Dataset warnings reach the user before training starts, not after it ends."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import tinyslm.text.train
from tinyslm.cli import cli
from tinyslm.errors import TinySlmError
from tinyslm.pipeline import run_train

DEMO = Path(__file__).resolve().parents[2] / "tinyslm" / "data" / "demo_commands.csv"


class _TrainingStarted(TinySlmError):
    pass


def _data_with_a_duplicate(tmp_path: Path) -> Path:
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "dup.csv"
    data.write_text("\n".join([*lines, lines[1], lines[1]]) + "\n", encoding="utf-8")
    return data


@pytest.fixture()
def training_stops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Training raises at once; the list records when it was reached."""
    events: list[str] = []

    def stop(*args: object, **kwargs: object) -> None:
        events.append("train")
        raise _TrainingStarted("training started")

    monkeypatch.setattr(tinyslm.text.train, "train", stop)
    return events


def test_run_train_warns_before_training(tmp_path: Path, training_stops: list[str]) -> None:
    with pytest.raises(_TrainingStarted):
        run_train(
            _data_with_a_duplicate(tmp_path),
            tmp_path / "model",
            warn=lambda message: training_stops.append(f"warning: {message}"),
        )
    assert training_stops[-1] == "train"
    warnings = training_stops[:-1]
    assert any("duplicate" in w for w in warnings), training_stops
    assert not (tmp_path / "model").exists()


def test_cli_prints_dataset_warnings_before_training(
    tmp_path: Path, training_stops: list[str]
) -> None:
    result = CliRunner().invoke(
        cli, ["train", str(_data_with_a_duplicate(tmp_path)), "-o", str(tmp_path / "m"), "-q"]
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "error: training started"
    assert any(ln.startswith("warning: ") and "duplicate" in ln for ln in lines[:-1]), lines
