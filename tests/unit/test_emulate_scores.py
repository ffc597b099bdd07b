"""``emulate --data``'s figures from the device's answers (``tinyslm/emulate/phrases.py``)."""

from __future__ import annotations

import json

from tinyslm.emulate import phrases


def _result(
    text: str, label: str, oos: bool, route: str, intent: str | None
) -> phrases.PhraseResult:
    return phrases.PhraseResult(
        text=text, label=label, oos=oos, line="{}", intent=intent, route=route, score=None, us=None
    )


def test_a_run_without_in_scope_phrases_has_no_accuracy() -> None:
    # Two out-of-scope phrases read as "accuracy 0.0000" (0 right of 0), as if the model
    # had got everything wrong; eval says n/a (null) there.
    results = [
        _result("what is love", "oos", True, "escalate", "lights_on"),
        _result("bake a pie", "oos", True, "local", "lights_on"),
    ]
    report = phrases.score_results(results, source="s", split="all")
    assert report.accuracy is None and report.accuracy_at_threshold is None
    assert report.escalation_rate is None and report.oos_recall == 0.5
    text = phrases.format_report(report)
    assert "accuracy         n/a" in text and "accuracy @ gate  n/a" in text
    summary = json.loads(json.dumps(report.summary()))
    assert summary["accuracy"] is None and summary["escalation_rate"] is None
    one = phrases.score_results(
        [*results[:1], _result("a", "x", False, "local", "x")], source="s", split="all"
    )
    assert one.accuracy == 1.0 and one.escalation_rate == 0.0


def test_phrases_the_device_reads_as_commands_are_named() -> None:
    results = [
        _result(":do lights_on", "lights_on", False, "host", "lights_on"),
        _result("turn on the lights", "lights_on", False, "local", "lights_on"),
    ]
    report = phrases.score_results(results, source="s", split="all")
    assert any("1 phrase(s) start with ':'" in w and "command" in w for w in report.warnings)
    plain = phrases.score_results(results[1:], source="s", split="all")
    assert plain.warnings == ()


def test_qemu_timings_are_labelled_as_instructions() -> None:
    # Under -icount the "us" of an answer is thousands of instructions; the page said
    # "host time (us)" for them.
    results = [_result("turn on", "on", False, "local", "on")]
    report = phrases.score_results(results, source="s", split="all")
    assert "host time (us)" in phrases.format_report(report, "native")
    qemu = phrases.format_report(report, "qemu")
    assert "instructions (k)" in qemu and "host time" not in qemu


def test_device_lines_nested_too_deeply_are_not_json_objects() -> None:
    # json.loads raises RecursionError, not a ValueError, past Python's depth: a device
    # line of brackets was a traceback from the line parsers.
    import pytest

    from tinyslm.emulate import keywords
    from tinyslm.errors import ToolchainError

    deep = "[" * 100_000
    with pytest.raises(ToolchainError, match="not a JSON object"):
        phrases.parse_line(deep)
    assert keywords.parse_lines([deep]).errors == (deep,)
