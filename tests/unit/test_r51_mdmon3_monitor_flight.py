"""``tinyslm monitor`` round 51, rev8's findings on the typed lines in flight.

F4: a resync's ``clear()`` resets ``maybe``. F1: the end of input waits for every line in
flight, not only the last one sent (a board line that answers none, the action code's
output, let the last line go while the one before was in flight: its answer was lost
and the end note said it got none). F2: a keyword board's detection line while a phrase
is in flight lets ':info' go; its answer is the ':info''s, not the phrase's. F3: the loss
note's counts add up to the lines resent and name the cause of the doubt.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
from test_r47_monitor_resync import _run
from test_r49_monitor_late_pairing import _Logged

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent
PHRASE = ("phrase", None)  # a local answer: it names no phrase
DETECTION = b'{"keyword":"yes","score":0.912,"t_ms":12340,"us":850}\n'


def test_clear_forgets_a_line_left_maybe_answered() -> None:
    # A resync settles 'z' (left maybe answered by a release): the first line typed after
    # it is not unsure, so the answer wait gives it up (a later loss report resends it)
    # rather than counting it answered.
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"y\n", 1, True))
    flight.release()
    flight.sent(_Sent(b"z\n", 2, True))
    flight.answered(PHRASE)
    flight.clear()
    flight.sent(_Sent(b"w\n", 3, True))
    flight.give_up()
    assert [(s.line, s.given_up) for s in flight.pending()] == [(b"w\n", True)]


def test_the_end_wait_covers_a_line_let_go_by_a_line_that_answers_none() -> None:
    # 'y' is in flight when a line answering none comes: no longer `waiting`, but the end
    # waits for it all the same (bounded: here by `until`), then gives it up.
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"y\n", 1, True))
    flight.release()
    stop = threading.Event()
    flight.wait(stop, time.monotonic, lambda: False, until=time.monotonic() + 0.2)
    assert [(s.line, s.given_up) for s in flight.pending()] == [(b"y\n", False)]
    flight.wait(stop, time.monotonic, lambda: False, until=time.monotonic() + 0.2, every=True)
    assert [(s.line, s.given_up) for s in flight.pending()] == [(b"y\n", True)]


def test_the_end_wait_returns_at_the_answer_of_the_line_in_flight() -> None:
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"y\n", 1, True))
    flight.release()
    answered = threading.Timer(0.1, flight.answered, args=(PHRASE,))
    answered.start()
    flight.wait(threading.Event(), time.monotonic, lambda: False, until=math.inf, every=True)
    answered.join()
    assert flight.pending() == [] and flight.tally().missed == 0


class _BusyAction(_Logged):
    """The action code prints a line after each phrase's answer, then is busy ``busy_s``
    (a servo, a blink): longer than the session's ``linger``, less than the answer wait.
    Its output comes once the line in ``then`` has arrived (sent at the answer): an
    event, not a sleep, puts it while that line is in flight."""

    def __init__(self, busy_s: float, then: dict[str, str], **kwargs: Any) -> None:
        self.busy_s, self.then = busy_s, dict(then)
        super().__init__(**kwargs)

    def _reply(self, line: str) -> bytes | None:
        reply = super()._reply(line)
        if reply is None or line.startswith(":"):
            return reply
        self.answer(reply + b"\n")
        after = self.then.get(line)
        if after is not None:
            with self.cond:
                self.cond.wait_for(lambda: after in self.received, timeout=10.0)
        self.answer(b"lamp: on\n")
        time.sleep(self.busy_s)
        return None


def test_the_last_lines_answer_is_waited_for_after_action_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rev8's F1: p1's output let p2 go while p1's answer was the last taken; the end's
    # wait returned at once (not `waiting`), the session settled after `linger` of quiet
    # while the board was still busy, and the note said 1 of the 3 got no answer.
    # The answer wait is long, so only the end's wait for p2 ends the session in time.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 30.0)
    board = _BusyAction(busy_s=1.5, then={"p0": "p1", "p1": "p2"})
    rows, notes, _ = _run(monkeypatch, board, b"p0\np1\np2\n", linger=0.3)
    assert board.phrases == ["p0", "p1", "p2"], rows + notes
    assert [r for r in rows if r.split(" ", 1)[0] == "p2"], rows
    assert not [r for r in rows + notes if "got no answer" in r], rows + notes


def test_an_info_answer_after_a_detection_is_the_infos() -> None:
    # rev8's F2: a keyword board answers no phrase; its detection line let ':info' go
    # while 'yes' was in flight. The info answer was taken for 'yes', and the end note
    # said a ':' command got no answer.
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"yes\n", 1, True))
    flight.release()  # a detection
    flight.sent(_Sent(b":info\n", 2, True))
    flight.answered(("info", None))
    assert flight.pending() == [] and not flight.waiting
    tally = flight.tally()
    assert (tally.missed, tally.missed_commands) == (1, 0)


class _Keyword(_Logged):
    """A keyword board: answers ':' commands only; a detection line as each phrase comes
    (event-driven: the phrase's bytes went to its audio parser)."""

    def _reply(self, line: str) -> bytes | None:
        if line == ":info":
            return super()._reply(line)
        self.answer(DETECTION)
        return None


def test_a_keyword_boards_info_answers_are_not_credited_to_phrases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Keyword()
    rows, notes, _ = _run(monkeypatch, board, b"yes\n:info\nno\n:info\n", linger=0.5)
    assert board.received == ["yes", ":info", "no", ":info"], rows + notes
    said = [r for r in rows + notes if "got no answer" in r]
    assert len(said) == 1 and "the 2 phrases sent got no answer" in said[0], said
    assert "command" not in said[0].split("(")[0], said


def test_the_loss_notes_counts_add_up_to_the_lines_resent() -> None:
    # rev8's F3: "resent 1 line, in order: those it dropped and 1 it may have answered"
    # read as 2 lines; the doubt named only a late local answer, when the usual cause is
    # the action code's output while the line before was in flight.
    one = monitor_mod._resent_what([_Sent(b"b\n", 2, True, unsure=True)], 0)
    assert one.startswith("resent 1 line, in order: 1 it may have answered before the loss")
    assert "your code's output" in one and "dropped" not in one
    two = monitor_mod._resent_what([_Sent(b"b\n", 2, True, unsure=True), _Sent(b"c\n", 3, True)], 0)
    assert two.startswith("resent 2 lines, in order: 1 it dropped and 1 it may have answered")
    sure = monitor_mod._resent_what([_Sent(b"b\n", 2, True), _Sent(b"c\n", 3, True)], 0)
    assert sure == "resent 2 lines it dropped, in order"
    unknown = monitor_mod._resent_what([_Sent(b":do a\n", 2, True)], 1)
    assert unknown == (
        "resent 1 line, in order: 1 it may have answered with an unknown_intent, "
        "which does not say which ':do' it answers"
    )


def test_detection_line_is_one_that_answers_none() -> None:
    assert monitor_mod._answer_kind(DETECTION.decode().strip()) is None


def test_a_line_counted_as_both_doubts_is_one_line_in_the_note() -> None:
    """A ':do' left unsure and perhaps answered with an unknown_intent is one line: the
    note said "resent 1 line, in order: 1 it may have answered with an unknown_intent ...
    and 1 it may have answered before the loss", and blamed a local answer, which a ':do'
    never gets."""
    do = monitor_mod._Sent(b":do a\n", 1, True, unsure=True)
    said = monitor_mod._resent_what([do], 1)
    assert said.startswith("resent 1 line, in order: 1 it may have answered before the"), said
    assert "unknown_intent" not in said and "a local answer" not in said, said
    assert "(an answer that fits more than one of the lines, was taken" in said, said
    phrase = monitor_mod._Sent(b"lights\n", 2, True, unsure=True)
    assert "(a local answer, which does not say which phrase it answers, was taken" in (
        monitor_mod._resent_what([phrase], 0)
    )
