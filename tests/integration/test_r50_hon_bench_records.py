"""Round 50 honesty audit: what emulate_parity's figures record of a model it trained
(f95c4c2 #26), which no test held: round 49's test stops the run at training, before
the figures are made. Nothing trains, builds or emulates here: each step is a stub."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tinyslm.text.dataset import demo_dataset_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_benchmark_cli import _load  # one loader of a benchmark script

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def test_emulate_parity_records_the_config_of_the_model_it_trained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bench = _load("emulate_parity")
    trained: list[Any] = []

    def run_train(data: Path, out: Path, config: Any) -> None:
        trained.append(config)
        shutil.copytree(FIXTURE_MODEL, out)  # the model it "trained"

    report = SimpleNamespace(
        results=[],
        phrases=1,
        oos_phrases=0,
        accuracy=1.0,
        accuracy_at_threshold=1.0,
        escalation_rate=0.0,
        oos_recall=None,
        errors=0,
        us_p50=None,
        us_p95=None,
        us_p99=None,
    )
    parity = SimpleNamespace(agreement=1.0, agree=1, phrases=1, mismatches=[])
    monkeypatch.setattr(bench, "run_train", run_train)
    monkeypatch.setattr(bench, "run_generate", lambda *a, **k: None)
    monkeypatch.setattr(bench, "run_emulate", lambda _config: SimpleNamespace(report=report))
    monkeypatch.setattr(bench, "reference_parity", lambda *a: parity)
    out = tmp_path / "figures.json"
    args = bench.parse_args(
        ["--data", str(demo_dataset_path()), "--epochs", "1", "--json", str(out)]
    )
    assert bench.measure(args) == 0
    figures = json.loads(out.read_text())
    assert len(trained) == 1
    # The config it trained, as its --model counterpart records null.
    assert figures["config"] == trained[0].to_dict(), figures["config"]
    assert figures["model"] is None


FIGURES = {
    "accuracy_float": 0.25,
    "accuracy_int8_tflm": 0.05,
    "n_test": 20,
    "per_class_int8": {},
    "model_bytes": 1,
    "arena_bytes": 1,
    "macs": 1,
    "params": 1,
    "epochs_run": 1,
    "best_epoch": 1,
    "feature_seconds": 0,
    "train_seconds": 0,
    "convert_seconds": 0,
    "verify_seconds": 0,
}


def test_speech_commands_under_selection_prints_its_figures_as_validation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # f95c4c2 #41: measure() passes "validation" to rows_of under --selection. Round 49's
    # test calls rows_of itself, so measure's call could drop it: the selection figures
    # printed "on 20 test clips" while scored on validation clips.
    bench = _load("speech_commands")
    monkeypatch.setattr(
        bench, "load_audio_dataset", lambda _p, _config=None: SimpleNamespace(labels=["a"])
    )
    monkeypatch.setattr(bench, "refuse_too_many_labels", lambda *a, **k: None)
    monkeypatch.setattr(bench, "selection_split", lambda data: data)
    monkeypatch.setattr(bench, "train_audio", lambda *a: None)
    monkeypatch.setattr(bench, "figures_of", lambda *a: dict(FIGURES))
    argv = ["--data", str(tmp_path), "--selection", "--quiet"]
    bench.measure(bench.parse_args(argv), argv)
    out = capsys.readouterr().out
    assert "on 20 validation clips" in out and "test clips" not in out, out
