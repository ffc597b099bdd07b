"""Round 48: ``emulate --data`` times are n/a (null in --json) when nothing was timed.

A split whose every phrase the device refused (no_tokens, line_too_long) carries no
``us`` at all; the report printed p50/p95/p99 of 0 us, a figure nothing measured.
"""

from __future__ import annotations

import json

from tinyslm.emulate.phrases import PhraseResult, format_report, score_results


def _error(text: str, label: str, oos: bool) -> PhraseResult:
    line = json.dumps({"error": "no_tokens"})
    return PhraseResult(text, label, oos, line, None, None, None, None, "no_tokens")


def test_nothing_timed_is_no_time() -> None:
    results = [_error("?!", "lights_on", False), _error("...", "oos", True)]
    report = score_results(results, source="allerr.csv", split="all")
    assert (report.us_p50, report.us_p95, report.us_p99) == (None, None, None)
    text = format_report(report)
    assert "p50 n/a  p95 n/a  p99 n/a" in text
    assert " 0  p95" not in text
    summary = report.summary()
    assert summary["us_p50"] is None and summary["us_p99"] is None
    assert '"us_p95": null' in json.dumps(summary)


def test_timed_answers_keep_their_percentiles() -> None:
    answer = json.dumps({"intent": "lights_on", "score": 0.9, "route": "local", "us": 745})
    timed = PhraseResult("turn on", "lights_on", False, answer, "lights_on", "local", 0.9, 745)
    report = score_results([timed, _error("?!", "lights_on", False)], source="x", split="all")
    assert report.us_p50 == report.us_p99 == 745.0
    assert "p50 745  p95 745  p99 745" in format_report(report)
    assert report.summary()["us_p50"] == 745.0
