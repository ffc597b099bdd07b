"""``tinyslm train`` (keyword): the line before the report is drawn comes from
``report_progress`` (round 48's test-honesty audit, item 8): it names the detection
curve only where there is one. Before round 47 fit_audio said "detection curve on the
test streams" for every report, one without a curve too. Loading, training and
streaming stand in (as test_untrue_messages' keyword fit test): only fit_audio is real."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import tinyslm.audio.dataset
import tinyslm.audio.train
from tinyslm.audio import fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import KWS_FIXTURE, keyword_manifest

_MATERIAL = object()  # the test streams' material, as evaluate_streams gives it
_SPEC = object()  # the streams' spec


def _stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = keyword_manifest()
    dataset = SimpleNamespace(
        warnings=(), labels=manifest.labels, source="kws", split=lambda s: (), noise=()
    )
    trained = SimpleNamespace(
        model=(KWS_FIXTURE / "model.tflite").read_bytes(),
        output_quant=manifest.output_quant,
        input_quant=manifest.input_quant,
        arena_bytes=manifest.arena_bytes,
        ops=manifest.ops,
        history=(),
        int8_accuracy=1.0,
        float_accuracy=1.0,
        val_accuracy=1.0,
        per_class=(),
        confusion=(),
        macs=0,
        params=0,
        epochs_run=1,
        best_epoch=1,
        n_train=1,
        n_train_examples=3,
        n_val=1,
        n_test=1,
        feature_seconds=0.0,
        train_seconds=0.0,
        convert_seconds=0.0,
        verify_seconds=0.0,
    )
    streams = SimpleNamespace(
        spec=_SPEC,
        threshold_q=0,
        threshold_found=True,
        test_material=_MATERIAL,
        figures=None,
        val_noise_seconds=0.0,
        val_unknown_seconds=0.0,
    )
    monkeypatch.setattr(tinyslm.audio.dataset, "load_audio_dataset", lambda *a: dataset)
    monkeypatch.setattr(tinyslm.audio.train, "train_audio", lambda *a: trained)
    monkeypatch.setattr(fit, "keyword_spec", lambda *a: manifest.features)
    monkeypatch.setattr(fit, "evaluate_streams", lambda *a: streams)
    monkeypatch.setattr(fit, "threshold_advice", lambda *a: None)
    monkeypatch.setattr(fit, "stream_metrics", lambda *a: {})
    monkeypatch.setattr(fit, "_report_files", lambda *a: {})


def test_the_report_line_is_report_progress_for_the_test_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_ins(monkeypatch)
    asked: list[tuple[Any, Any]] = []

    def progress(material: Any, spec: Any) -> str:
        asked.append((material, spec))
        return "drawing report.html (no detection curve: stand-in) ..."

    monkeypatch.setattr(fit, "report_progress", progress)
    logged: list[str] = []
    fit.fit_audio(tmp_path, None, log=logged.append, report=True)
    assert asked == [(_MATERIAL, _SPEC)]
    drawing = [line for line in logged if line.startswith("drawing report.html")]
    assert drawing == ["drawing report.html (no detection curve: stand-in) ..."], logged


def test_no_report_no_report_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _stand_ins(monkeypatch)
    logged: list[str] = []
    fit.fit_audio(tmp_path, None, log=logged.append, report=False)
    assert not [line for line in logged if "report.html" in line], logged
