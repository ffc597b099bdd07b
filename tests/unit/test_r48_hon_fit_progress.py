"""``tinyslm train`` (keyword): the line before the report is drawn comes from
``report_progress`` (round 48's test-honesty audit, item 8): it names the detection
curve only where there is one. Before round 47 fit_audio said "detection curve on the
test streams" for every report, one without a curve too. Loading, training and
streaming stand in (as test_untrue_messages' keyword fit test): only fit_audio is real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_untrue_messages import stand_in_fit

from tinyslm.audio import fit

_MATERIAL = object()  # the test streams' material, as evaluate_streams gives it
_SPEC = object()  # the streams' spec


def _stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in_fit(
        monkeypatch, spec=_SPEC, test_material=_MATERIAL, threshold_q=0, threshold_found=True
    )
    monkeypatch.setattr(fit, "threshold_advice", lambda *a: None)
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
