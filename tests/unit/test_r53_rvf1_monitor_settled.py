"""``tinyslm monitor`` round 53 (review of F1): an unsure line settled uncredited by the
give-up (its deadline, or the end of input's cap) whose own answer then comes.

The end of piped input waits for the lines in flight 5 s at most, then for the board
to go quiet. A line left unsure there (its first answer taken, late, for the line before
it) now waits up to twice the board's silence, past that cap when the action code is busy
longer than about 2.5 s after each answer: the give-up settled it uncredited, and its
own answer, which came while the session settled, was dropped. With the board's action
printing after each answer, then busy 4 s, ``p0\\np1\\np2\\n`` piped: the three answers
were shown, then ``1 of the 3 phrases sent got no answer from the board``.
"""

from __future__ import annotations

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent
LOCAL = ("phrase", None)  # a local answer: it names no phrase


def _settled_unsure() -> monitor_mod._TypedFlight:
    """``x`` given up on, ``y`` sent, a local answer taken for ``x``'s, late (``y`` could
    take it too), then the give-up at ``y``'s deadline or the end's cap."""
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"x\n", 1, True))
    flight.give_up()
    flight.sent(_Sent(b"y\n", 2, True))
    flight.answered(LOCAL)
    assert [(s.seq, s.unsure) for s in flight.pending()] == [(2, True)]
    flight.give_up()
    assert flight.pending() == [] and not flight.waiting
    return flight


def test_the_own_answer_of_an_unsure_line_settled_at_the_give_up_is_counted() -> None:
    # Before: missed == 1, the end note "1 of the 2 phrases sent got no answer".
    flight = _settled_unsure()
    flight.answered(LOCAL)  # 'y''s own, while the session settles
    assert flight.tally().missed == 0
    assert flight.pending() == [] and not flight.waiting


def test_without_its_own_answer_one_of_the_two_lines_is_counted_unanswered() -> None:
    # One answer came for two lines: one of them got none.
    assert _settled_unsure().tally().missed == 1


def test_an_answer_after_the_next_line_went_is_that_lines() -> None:
    # The next line went: an answer is taken for it (as before), not also for 'y'.
    flight = _settled_unsure()
    flight.sent(_Sent(b"z\n", 3, True))
    flight.answered(LOCAL)
    assert flight.pending() == [] and not flight.waiting
    assert flight.tally().missed == 1  # x and z credited, y not: never more than sent
    flight.answered(LOCAL)  # a stray answer with nothing waiting credits no one
    assert flight.tally().missed == 1


def test_an_answer_the_settled_line_cannot_take_is_not_counted_for_it() -> None:
    flight = _settled_unsure()
    flight.answered(("info", None))  # an ':info' answer: 'y' is a phrase
    assert flight.tally().missed == 1
