"""``tinyslm monitor`` round 52 (F2): the resync's pairing with two phrases in flight.

Action code that prints a line after each answer lets the next phrase go while the one
before is in flight, so two phrases are in flight when an STM32 reports a gap in the
first. The board answers the lines before a gap before reporting it, so the answer after
the report is the second's; a local answer names no phrase, and the resync took it for
the first: the phrase lost was never resent, and the one answered was resent and acted
on twice. Now the answers after a report are the last lines'.
"""

from __future__ import annotations

import pytest
from monitor_resync import hand_fed_resync
from test_r47_monitor_resync import _Board, _run

from tinyslm import monitor as monitor_mod

_Sent = monitor_mod._Sent
LOCAL = '{"intent":"lamp","score":0.9,"route":"local","us":5}'
INFO = (
    '{"info":{"version":"0.1.0","board":"stm32h7","model_sha256":"' + "ab" * 32 + '",'
    '"model_bytes":1,"arena_bytes":2,"ops":[],"labels":3,"threshold":0.5}}'
)


class _PrintsAfterAnswers(_Board):
    """A text board whose action code prints a line after a phrase's answer once the
    phrase named first in ``after[phrase]`` has arrived (so the line comes while that
    one is in flight), and goes on once the others named there have arrived too: an
    event, not a sleep, orders the lines."""

    def __init__(self, after: dict[str, list[str]], **kwargs: object) -> None:
        self.after = dict(after)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _reply(self, line: str) -> bytes | None:
        reply = super()._reply(line)
        if reply is None or line not in self.after:
            return reply
        self.answer(reply + b"\n")
        for n, wanted in enumerate(self.after[line]):
            with self.cond:
                self.cond.wait_for(lambda w=wanted: w in self.received, timeout=10.0)
            if n == 0:
                self.answer(b"lamp: on\n")
        return None


def test_the_phrase_lost_with_another_in_flight_is_the_one_resent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # p1's output lets p3 go while p2 is in flight, p2's lets p4 go while p3 is; p3
    # arrives with bytes lost (an STM32 gap that ends at its line end), and the board
    # reports it once p4 is in, then answers p4. Before: p4's answer was taken for p3's,
    # p4 was resent (acted on twice: phrases p1 p2 p4 p4) and p3 never was.
    board = _PrintsAfterAnswers(
        {"p1": ["p2"], "p2": ["p3", "p4"]}, stm32=True, drop_after=False, lose={"p3": 1}
    )
    rows, notes, _ = _run(monkeypatch, board, b"p1\np2\np3\np4\n", linger=1.0)
    assert board.received == ["p1", "p2", "p3", "p4", "", ":info", "p3"], rows + notes
    assert board.phrases == ["p1", "p2", "p4", "p3"], rows + notes
    said = [r for r in rows + notes if "lost bytes" in r]
    assert len(said) == 1 and "resent 1 line" in said[0], said
    assert not [r for r in rows + notes if "got no answer" in r], rows + notes


def _resync_over(lines: list[bytes]) -> tuple[monitor_mod._Resync, list[bytes]]:
    flight = monitor_mod._TypedFlight()
    for seq, line in enumerate(lines, start=1):
        flight.sent(_Sent(line, seq, True))
        flight.release()  # action output: the next line goes
    written: list[bytes] = []
    return hand_fed_resync(flight, written=written), written


def test_the_answers_after_a_report_are_the_last_lines() -> None:
    # Three phrases in flight, two answers after the report: the first phrase was lost.
    resync, written = _resync_over([b"a\n", b"b\n", b"c\n"])
    assert resync.observe('{"error":"rx_overflow"}') == "resync"
    assert resync.observe(LOCAL) == "resync"
    assert resync.observe(LOCAL) == "resync"
    assert resync.observe(INFO) == "marker"
    assert written == [monitor_mod.RESYNC_MARKER, b"a\n"]


def test_an_answer_that_only_an_earlier_line_can_take_is_that_lines() -> None:
    # ':info' then a phrase in flight, an info answer after the report: the typed ':info'
    # was answered (only it can take that), the phrase lost; the marker's answer follows.
    resync, written = _resync_over([b":info\n", b"b\n"])
    assert resync.observe('{"error":"rx_overflow"}') == "resync"
    assert resync.observe(INFO) == "resync"
    assert resync.observe(INFO) == "marker"
    assert written == [monitor_mod.RESYNC_MARKER, b"b\n"]


@pytest.mark.parametrize("late", [False, True])
def test_the_loss_note_blames_an_escalated_answer_for_a_repeated_phrase(late: bool) -> None:
    # 'lamp' twice: the first given up on (late) or let go by action output, then an
    # escalated answer echoing 'lamp', which fits both. The note said a local answer,
    # which does not say which phrase it answers, was taken: this one said it.
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"lamp\n", 1, True))
    if late:
        flight.give_up()
    else:
        flight.release()
    flight.sent(_Sent(b"lamp\n", 2, True))
    flight.answered(("phrase", "lamp"))
    notes: list[str] = []
    resync = hand_fed_resync(flight, notes=notes.append)
    assert resync.observe('{"error":"rx_overflow"}') == "resync"
    assert resync.observe(INFO) == "marker"
    assert len(notes) == 1, notes
    assert "(an escalated answer echoing its phrase, also an earlier line's, was" in notes[0]
    assert "a local answer" not in notes[0], notes


def test_the_loss_note_still_blames_a_local_answer_for_one() -> None:
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"lamp\n", 1, True))
    flight.give_up()
    flight.sent(_Sent(b"fan\n", 2, True))
    flight.answered(("phrase", None))
    notes: list[str] = []
    resync = hand_fed_resync(flight, notes=notes.append)
    resync.observe('{"error":"rx_overflow"}')
    assert resync.observe(INFO) == "marker"
    assert "(a local answer, which does not say which phrase it answers, was" in notes[0]
