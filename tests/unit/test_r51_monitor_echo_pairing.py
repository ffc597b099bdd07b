"""``tinyslm monitor`` round 51: an escalated answer names its phrase.

A local answer does not say which phrase it answers, so one that a line given up on
and the line in flight could both take is the late one's, and the line in flight waits
on, unsure (round 49). An escalated answer echoes its phrase (``"text"``: the line's
bytes as the firmware received them, firmware/text/tinyslm_core.c), so the monitor
pairs it with that phrase: no extra answer wait, no pairing one answer behind.
"""

from __future__ import annotations

import json

import pytest
from test_r47_monitor_resync import _run
from test_r49_monitor_late_pairing import _Logged

from tinyslm import monitor as monitor_mod

LOCAL = '{"intent":"x","score":0.9,"route":"local","us":5}'


def _escalated(phrase: str) -> str:
    return json.dumps({"intent": "x", "score": 0.4, "route": "escalate", "us": 5, "text": phrase})


def _after_a_line_given_up(first: bytes = b"x\n") -> monitor_mod._TypedFlight:
    """'x' (``first``) given up on, then 'y' in flight."""
    sent = monitor_mod._Sent
    flight = monitor_mod._TypedFlight()
    flight.sent(sent(first, 1, True))
    flight.give_up()
    flight.sent(sent(b"y\n", 2, True))
    return flight


def _answered(flight: monitor_mod._TypedFlight, line: str) -> None:
    kind = monitor_mod._answer_kind(line)
    assert kind is not None
    flight.answered(kind)


def test_an_escalated_answer_is_read_with_the_phrase_it_echoes() -> None:
    assert monitor_mod._answer_kind(_escalated("y")) == ("phrase", "y")
    assert monitor_mod._answer_kind(LOCAL) == ("phrase", None)
    no_text = '{"intent":"x","score":0.4,"route":"escalate","us":5}'
    assert monitor_mod._answer_kind(no_text) == ("phrase", None)
    assert monitor_mod._answers(("phrase", "y"), b"y\n")
    assert not monitor_mod._answers(("phrase", "y"), b"x\n")
    assert monitor_mod._answers(("phrase", "caf\u00e9 \u2028"), "caf\u00e9 \u2028\n".encode())
    assert not monitor_mod._answers(("phrase", "y"), b":info\n")


def test_an_escalated_answer_echoing_the_line_in_flight_settles_it_at_once() -> None:
    # Before: taken for x's late one, so 'y' waited on (unsure) for a second answer or
    # the answer wait, and the next line went an answer wait late.
    flight = _after_a_line_given_up()
    _answered(flight, _escalated("y"))
    assert flight.pending() == [] and not flight.waiting and not flight.unsure


def test_an_escalated_answer_echoing_the_line_given_up_on_leaves_the_next_one_sure() -> None:
    # x's late answer: 'y' waits on for its own, and is not one the board "may have
    # answered" (before: unsure, so a loss report's note named it so).
    flight = _after_a_line_given_up()
    _answered(flight, _escalated("x"))
    assert [(s.line, s.unsure) for s in flight.pending()] == [(b"y\n", False)]
    assert flight.waiting and not flight.unsure


def test_after_a_late_escalated_answer_the_next_answer_is_not_paired_one_behind() -> None:
    # x's late answer, then a log line (the board moved on) and 'z' goes: y's answer
    # comes, then z's is lost. Before, 'y' was settled by the log line (its answer taken
    # to be the first), y's own answer was taken for z's, and 'z' was in flight at no
    # loss report: never resent.
    flight = _after_a_line_given_up()
    _answered(flight, _escalated("x"))
    flight.release()
    flight.sent(monitor_mod._Sent(b"z\n", 3, True))
    _answered(flight, _escalated("y"))
    assert [s.line for s in flight.pending()] == [b"z\n"] and flight.waiting


def test_a_local_answer_is_as_ambiguous_as_before() -> None:
    flight = _after_a_line_given_up()
    _answered(flight, LOCAL)
    assert [s.line for s in flight.pending()] == [b"y\n"] and flight.unsure


def test_a_line_not_valid_utf8_takes_the_echo_the_firmware_writes_for_it() -> None:
    # The firmware echoes each byte that starts no valid sequence as U+FFFD (E2 80:
    # two), which the monitor's decoding matches byte for byte (round 51 review): such a
    # line takes its own echo, and no other (before, it took any echo, "other" too).
    assert monitor_mod._answers(("phrase", "\ufffd\ufffd"), b"\xe2\x80\n")
    assert not monitor_mod._answers(("phrase", "other"), b"\xff\n")
    assert monitor_mod._answers(("phrase", "\ufffd"), b"\xff\n")
    flight = _after_a_line_given_up(b"\xff\xfe\n")
    _answered(flight, _escalated("\ufffd\ufffd"))  # x's, late: 'y' cannot take it
    assert [(s.line, s.unsure) for s in flight.pending()] == [(b"y\n", False)]


def test_an_escalated_answer_after_a_line_the_board_ignores_lets_the_next_go_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The board never answers 'x'; y's answer is escalated, naming 'y': 'z' goes as it
    # comes, not an answer wait later (test_r49's local answers still wait once).
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 1.0)
    board = _Logged(ignore=("x",), escalate=("y",))
    rows, _, _ = _run(monkeypatch, board, b"one\nx\ny\nz\n", linger=0.3)
    assert board.phrases == ["one", "y", "z"], rows
    assert board.sent_at("z") >= board.answered_at("y"), rows
    assert board.sent_at("z") - board.answered_at("y") < 0.9, rows
