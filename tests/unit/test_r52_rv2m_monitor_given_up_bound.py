"""``tinyslm monitor`` round 52 review of a294c59: what bounds the lines given up on.

a294c59 made ``_TypedFlight.given_up`` a deque without a length, kept for
GIVEN_UP_KEEP_S (15 s) by the ``_expire()`` that ``give_up()`` now calls. No test held
it to that: with the call taken out, every round-52 monitor test passed, and a board
that answers no typed line (a keyword board sent phrases, a board still busy) kept every
line given up on, as ``answered()`` and ``pending()``, the other two that expire them,
are never called then: 9,999 of 10,000 piped lines. A fake clock drives the flight, so
nothing here depends on the machine's speed.
"""

from __future__ import annotations

import pytest

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent


class _Clock:
    """``time`` as :mod:`tinyslm.monitor` reads it, moved on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("in_flight", [1, monitor_mod.MAX_TYPED_IN_FLIGHT])
def test_the_lines_given_up_on_stay_bounded_when_none_is_answered(
    monkeypatch: pytest.MonkeyPatch, in_flight: int
) -> None:
    # Each round: ``in_flight`` lines go (a board line that answers none letting each
    # next one go, for more than one), then all are given up on at the answer wait.
    clock = _Clock()
    monkeypatch.setattr(monitor_mod, "time", clock)
    flight = monitor_mod._TypedFlight()
    rounds = 500
    seq = 0
    peak = 0
    for _ in range(rounds):
        for _ in range(in_flight):
            seq += 1
            flight.sent(_Sent(b"p%d\n" % seq, seq, True))
            flight.release()
        clock.now += monitor_mod.ANSWER_WAIT_S
        flight.give_up()
        peak = max(peak, len(flight.given_up))
    # The give-ups of the last GIVEN_UP_KEEP_S, one every ANSWER_WAIT_S: 8 of them (the
    # one 15 s before expired, 16 s before), ``in_flight`` lines each.
    kept = int(monitor_mod.GIVEN_UP_KEEP_S / monitor_mod.ANSWER_WAIT_S) + 1
    assert peak == kept * in_flight, peak
    # Forgetting them changes no count: the end note still says none was answered.
    tally = flight.tally()
    assert (tally.sent, tally.missed) == (rounds * in_flight, rounds * in_flight)
