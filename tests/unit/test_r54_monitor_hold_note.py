"""``tinyslm monitor`` round 54: a line typed at a terminal that is held longer than the
answer wait is said so, once per hold, on stderr (the status line's stream).

Behind an unsure line (round 53) a typed line waited up to 15 s, and behind lines the
board did not answer (the answer wait grown, test_r54_monitor_backoff.py) up to 4 answer
waits, with nothing on screen: the prompt looked dead. Piped lines get no such note.
"""

from __future__ import annotations

import io
import threading

import pytest
from fake_serial import FakePort, use_port
from test_r49_emu_monitor_unanswered import _Terminal
from test_r53_f1_monitor_unsure import _unsure_flight

from tinyslm import monitor as monitor_mod

HELD = "  monitor: holding your line until the board answers the last one (up to {} s)"


class _AnswersFirst(FakePort):
    """A text board that answers the first phrase it gets (a local answer) and then says
    nothing more: the answer wait grows only once a board has answered a phrase."""

    def write(self, data: bytes) -> int:
        if not self.written:
            self.answer(b'{"intent":"on","score":0.9,"route":"local"}\n')
        return super().write(data)


def _session(
    monkeypatch: pytest.MonkeyPatch,
    stdin: io.BytesIO,
    *,
    raw: bool = False,
    port: FakePort | None = None,
) -> tuple[list[str], list[str]]:
    """(stdout rows, status rows) of ``monitor`` over ``port`` (a board that answers
    the first phrase and then nothing), with a 0.2 s answer wait."""
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.2)
    use_port(monkeypatch, port if port is not None else _AnswersFirst())
    rows: list[str] = []
    status: list[str] = []
    monitor_mod.monitor(
        "fake", stdin=stdin, echo=rows.append, status=status.append, linger=0.2, raw=raw
    )
    return rows, status


@pytest.mark.parametrize("raw", [False, True])
def test_a_typed_line_held_past_the_answer_wait_gets_one_note_on_stderr(
    monkeypatch: pytest.MonkeyPatch, raw: bool
) -> None:
    # 'a' answered; 'b' given up on after 0.2 s lets 'c' go, which is then waited for
    # 0.4 s (one line given up on before) and 'd' 0.8 s, holding 'd' and 'e': one note
    # each, not one per 50 ms tick. Before: none.
    rows, status = _session(monkeypatch, _Terminal(b"a\nb\nc\nd\ne\n"), raw=raw)
    assert status[1:] == [HELD.format(1), HELD.format(1)], status
    assert not [r for r in rows if "holding" in r], rows


def test_piped_lines_get_no_hold_note(monkeypatch: pytest.MonkeyPatch) -> None:
    rows, status = _session(monkeypatch, io.BytesIO(b"a\nb\nc\nd\n"))
    assert not [r for r in rows + status if "holding" in r], rows + status


def test_a_line_held_behind_an_unsure_line_is_told_how_long_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The unsure line 'y' is waited for 1.4 s from its late answer (round 53's case):
    # the line typed then is told so, once, and held on.
    clock, flight = _unsure_flight(monkeypatch)
    held: list[float] = []
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)  # the fake clock stands still meanwhile
    timer.start()
    flight.wait(stop, clock.monotonic, lambda: False, on_hold=held.append)
    timer.cancel()
    assert held == [pytest.approx(1.4)]
    assert flight.waiting  # still held: the note does not let it go


@pytest.mark.parametrize(
    "said",
    [
        pytest.param(b"", id="silent"),
        pytest.param(b'boot\n{"info":{"board":"esp32"}}\n', id="keyword-board"),
    ],
)
def test_a_board_that_answered_no_phrase_keeps_the_plain_wait(
    monkeypatch: pytest.MonkeyPatch, said: bytes
) -> None:
    # A board that has answered no phrase is not busy on phrases it queued: a wrong port
    # (not one byte), or a keyword board, which says a boot line, answers ':info' and
    # reports detections but never answers a phrase. So the wait does not grow, and no
    # line is held. Grown, 100 piped phrases took 800 s to reach the end's note.
    waits: list[float] = []
    plain = monitor_mod._TypedFlight.answer_wait

    def recorded(self: monitor_mod._TypedFlight) -> float:
        waits.append(plain(self))
        return waits[-1]

    monkeypatch.setattr(monitor_mod._TypedFlight, "answer_wait", recorded)
    rows, status = _session(monkeypatch, _Terminal(b"a\nb\nc\nd\n"), port=FakePort(said))
    assert waits and set(waits) == {0.2}, sorted(set(waits))
    assert not [r for r in rows + status if "holding" in r], rows + status


def test_the_hold_note_is_written_with_the_flight_let_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stderr that blocks (a terminal paused with Ctrl-S) must not hold the reader
    # thread, which takes the flight's lock for each answer: the note is written without
    # it. Before: another thread could not take the lock while the note was written.
    clock, flight = _unsure_flight(monkeypatch)
    free: list[bool] = []

    def note(_: float) -> None:
        other = threading.Thread(target=flight.has_info)
        other.start()
        other.join(timeout=2.0)
        free.append(not other.is_alive())

    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    flight.wait(stop, clock.monotonic, lambda: False, on_hold=note)
    timer.cancel()
    assert free == [True]
