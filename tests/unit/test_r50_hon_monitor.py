"""Round 50 honesty audit: behaviours of round 49's monitor commits that no test held
(each reverted alone, the commit's own test modules passed).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import pytest
from monitor_resync import hand_fed_resync
from test_r47_monitor_resync import _Board

from tinyslm import monitor as monitor_mod


def _flight(*lines: bytes) -> monitor_mod._TypedFlight:
    """A typed flight with ``lines`` sent (numbered from 1), each given up on."""
    flight = monitor_mod._TypedFlight()
    for seq, line in enumerate(lines, start=1):
        flight.sent(monitor_mod._Sent(line, seq, True))
        flight.give_up()
    return flight


def test_a_late_answer_a_resync_pairs_with_a_command_credits_the_command() -> None:
    # 2739631 #06: a resync that pairs a late answer with a ':' command given up on
    # credits it as a command; counted as a phrase, the end said a ':' command got no
    # answer (and failed a silent-looking session's count).
    flight = _flight(b":info\n")
    flight.late(1)
    tally = flight.tally()
    assert (tally.missed, tally.missed_commands) == (0, 0), tally


class _LateAnswer(_Board):
    """A text board that answers each line ``delay`` seconds after it came, noting when
    it put each answer on the wire."""

    def __init__(self, delay: float, **kwargs: Any) -> None:
        self.delay = delay
        self.put_at: list[float] = []
        super().__init__(**kwargs)

    def _reply(self, line: str) -> bytes | None:
        time.sleep(self.delay)
        return super()._reply(line)

    def answer(self, data: bytes) -> None:
        self.put_at.append(time.monotonic())
        super().answer(data)


PHRASE = ("phrase", None)


def test_a_resync_settling_the_lines_forgets_that_one_was_unsure() -> None:
    # df16ab8 #09: clear() (a resync settled every typed line) also ends `unsure`. Left
    # set, the first line typed after the resync and never answered was counted as
    # answered when given up on: no loss report could cover it, and the end said nothing
    # of it.
    flight = _flight(b"one\n")
    flight.sent(monitor_mod._Sent(b"two\n", 2, True))
    flight.answered(PHRASE)  # 'one' late, or 'two': unsure
    assert flight.unsure
    flight.clear()
    flight.sent(monitor_mod._Sent(b"three\n", 3, True))
    flight.give_up()
    assert [(s.line, s.given_up) for s in flight.pending()] == [(b"three\n", True)]
    assert flight.tally().missed == 1


def test_a_new_resync_starts_with_nothing_left_from_the_last_ones_resends() -> None:
    # 374c562 #21, df16ab8 #17: a new rx_overflow starts a resync afresh: the lines
    # passed over, the lines resent and not answered and whether the last of them may
    # have been answered are the last resync's. Kept, a late answer in the new one was
    # paired with a line of the old one (an index into another flight list), and a
    # stale `out_unsure` counted a line answered that was not.
    resync = hand_fed_resync()
    try:
        stale = monitor_mod._Sent(b"old\n", 1, True)
        resync.passed, resync.out, resync.out_unsure = [0], [stale, stale], True
        assert resync.observe('{"error":"rx_overflow"}') == "resync"
        assert (resync.passed, resync.out, resync.out_unsure) == ([], [], False)
    finally:
        resync.gate.stop.set()  # end its watcher


class _HostWaiting:
    """The host worker's side: the typed ':do' lines it waits on the board's answer to."""

    def __init__(self, *acts: monitor_mod._Act) -> None:
        self.acts = list(acts)

    def in_flight(self) -> list[monitor_mod._Act]:
        return self.acts


def _in_flight(flight: monitor_mod._TypedFlight, *acts: monitor_mod._Act) -> list[Any]:
    resync = hand_fed_resync(flight)
    resync.host = _HostWaiting(*acts)  # type: ignore[assignment]
    try:
        return resync._in_flight()
    finally:
        resync.gate.stop.set()


def test_a_typed_do_the_host_waits_on_keeps_what_the_typed_flight_knows_of_it() -> None:
    # 374c562 #22, df16ab8 #18: a typed ':do' is in both the typed flight and the host's
    # acts; the resync's one entry for it keeps the typed flight's `given_up` (a line
    # given up on is paired only when no later line can take the answer: _match) and
    # `unsure` (named in the note as one the board may have answered). Made afresh from
    # the act, both were lost.
    given = _flight(b":do b\n")
    (line,) = _in_flight(given, monitor_mod._Act(True, "b", b":do b\n", 1))
    assert (line.seq, line.given_up, line.act is not None) == (1, True, True)

    unsure = _flight(b":do a\n")
    unsure.sent(monitor_mod._Sent(b":do a\n", 2, True))
    unsure.answered(("do", "a"))  # the first ':do a' late, or the second's own
    (line,) = _in_flight(unsure, monitor_mod._Act(True, "a", b":do a\n", 2))
    assert (line.seq, line.unsure, line.given_up) == (2, True, False)


def test_a_resent_typed_line_not_answered_in_time_is_given_up_on_not_settled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 374c562 #23: while resending, a resent typed line with no answer in ANSWER_WAIT_S
    # lets the next one go and is given up on as a typed line is (its late answer is
    # still credited to it, a later loss report still covers it). clear() settled it as
    # if a resync had: its late answer was credited to nothing and the end of a piped
    # session counted only the lines after it.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.1)
    flight = monitor_mod._TypedFlight()
    written: list[bytes] = []
    resync = hand_fed_resync(flight, written=written)
    try:
        with resync.gate.cond:
            resync.active = resync.gate.shut = True
            resync.queue = deque(
                [monitor_mod._Sent(b"a\n", 1, True), monitor_mod._Sent(b"b\n", 2, True)]
            )
            resync._resend_next()
        threading.Thread(target=resync._watch, args=(resync.episode,), daemon=True).start()
        deadline = time.monotonic() + 5.0
        while b"b\n" not in written and time.monotonic() < deadline:
            time.sleep(0.02)
        assert written == [b"a\n", b"b\n"]
        assert [(s.line, s.given_up) for s in flight.pending()] == [
            (b"a\n", True),
            (b"b\n", False),
        ]
        assert not flight.tally().since_resync
    finally:
        resync.gate.stop.set()
