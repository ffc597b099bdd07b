"""``tinyslm monitor`` round 51, review mends of the echo pairing (73d46c2).

- An escalated answer echoing the second line in flight is that line's: the first got
  none (before, it was credited to the first, and the line it echoed was resent).
- A line that is not valid UTF-8 takes only the echo the firmware writes for it (each
  byte that starts no valid sequence a U+FFFD), not any echo.
- The resync pairs an escalated answer by its echo too (untested before).
- The longest escalation the firmware writes, under the longest intent name a dataset
  may have, is one row (a 4,000-byte name made a 28,649-byte line, cut at 25,600).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from monitor_resync import hand_fed_resync
from test_r42_monitor import _read_all
from test_r47_monitor_resync import _run
from test_r49_monitor_late_pairing import _Logged

from tinyslm import escalate as escalate_mod
from tinyslm import monitor as monitor_mod
from tinyslm.text.dataset import DO_PREFIX, MAX_LINE_LIMIT

_Sent = monitor_mod._Sent
INFO = json.dumps({"info": {"version": "0.1.0"}})


def _escalated(phrase: str, intent: str = "i") -> str:
    return json.dumps(
        {"intent": intent, "score": 0.4, "route": "escalate", "us": 5, "text": phrase},
        ensure_ascii=False,
    )


def _kind(line: str) -> tuple[str, str | None]:
    kind = monitor_mod._answer_kind(line)
    assert kind is not None
    return kind


# --- F1: an echo of the second line in flight ----------------------------------------


def test_an_answer_echoing_the_second_line_in_flight_settles_that_line() -> None:
    # 'y' is lost at a reset whose boot log lets 'z' go at once; z's answer echoes "z".
    # Before, it was credited to 'y' and 'z' stayed in flight, waited for, then given up.
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"y\n", 1, True))
    flight.release()
    flight.sent(_Sent(b"z\n", 2, True))
    flight.answered(_kind(_escalated("z")))
    assert flight.pending() == [] and not flight.waiting
    assert flight.tally().missed == 1  # 'y', which got no answer


def test_an_echo_of_no_line_in_flight_is_the_oldest_ones_as_before() -> None:
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"y\n", 1, True))
    flight.release()
    flight.sent(_Sent(b"z\n", 2, True))
    flight.answered(_kind(_escalated("garbled")))
    assert [s.line for s in flight.pending()] == [b"z\n"]


class _Resets(_Logged):
    """The board resets as 'y' arrives: 'y' is lost and its boot log is printed."""

    def _reply(self, line: str) -> bytes | None:
        if line == "y":
            return b"rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"
        return super()._reply(line)


def test_a_line_answered_after_a_reset_is_not_resent(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reviewer's run: z's escalated answer was credited to 'y', 'z' was given up on,
    # and the loss report covering 'w' resent 'z' (its action ran twice): ['one', 'z',
    # 'z', 'w'].
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Resets(escalate=("z", "w"), stm32=True, drop_after=False, lose={"w": 1})
    rows, notes, _ = _run(monkeypatch, board, b"one\ny\nz\nw\n", linger=1.0)
    assert board.phrases == ["one", "z", "w"], rows + notes


# --- F2: a line that is not valid UTF-8 ------------------------------------------------


def test_a_line_not_valid_utf8_takes_only_the_echo_the_firmware_writes_for_it() -> None:
    # tinyslm_json_escaped writes one U+FFFD per byte that starts no valid sequence.
    assert monitor_mod._answers(("phrase", "\ufffd\ufffdA"), b"\xe2\x80A\n")
    assert not monitor_mod._answers(("phrase", "\ufffdA"), b"\xe2\x80A\n")  # Python's "replace"
    assert monitor_mod._answers(("phrase", "caf\ufffd"), "café\n".encode("cp1252"))
    assert not monitor_mod._answers(("phrase", "lights on"), "café\n".encode("cp1252"))
    assert monitor_mod._answers(("phrase", "\ufffd\ufffd\ufffdx"), b"\xf0\x9f\x98x\n")


def test_an_echo_a_cp1252_line_cannot_have_leaves_the_line_in_flight_sure() -> None:
    # 'café' from a cp1252 file is given up on; 'lights on' is answered, echoing it.
    # Before: taken for caf\xe9's late answer, so 'lights on' waited on, unsure (a loss
    # report then resent it, its action running twice).
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent("café\n".encode("cp1252"), 1, True))
    flight.give_up()
    flight.sent(_Sent(b"lights on\n", 2, True))
    flight.answered(_kind(_escalated("lights on")))
    assert flight.pending() == [] and not flight.waiting and not flight.unsure


# --- F3: the resync pairs by the echo --------------------------------------------------


def _wait_for(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10.0
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_resync_resends_the_line_an_echo_does_not_name() -> None:
    # 'a' and 'b' given up on; a loss report; an answer echoing "a"; the marker's answer.
    # Without the echo, the answer went to 'b' (the last line given up on that could
    # take it): the answered 'a' was resent and the lost 'b' never was.
    flight = monitor_mod._TypedFlight()
    for seq, line in enumerate((b"a\n", b"b\n"), 1):
        flight.sent(_Sent(line, seq, True))
        flight.give_up()
    written: list[bytes] = []
    resync = hand_fed_resync(flight, written=written)
    try:
        assert resync.observe('{"error":"rx_overflow"}') == "resync"
        assert resync.observe(_escalated("a")) == "resync"
        assert resync.answered == {0}
        assert resync.observe(INFO) == "marker"
        assert written == [monitor_mod.RESYNC_MARKER, b"b\n"]
    finally:
        resync.abandon()


def test_an_answer_echoing_the_last_line_resent_is_not_a_late_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 'a' and 'b' resent; a's answer does not come in the answer wait, so 'b' goes; then
    # an answer echoing "b": the last line resent is answered (out cleared), not 'a'
    # late (which would keep 'b' in flight and the next line waiting).
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.1)
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"a\n", 1, True))
    flight.sent(_Sent(b"b\n", 2, True))
    written: list[bytes] = []
    resync = hand_fed_resync(flight, written=written)
    try:
        resync.observe('{"error":"rx_overflow"}')
        assert resync.observe(INFO) == "marker"
        _wait_for(lambda: len(written) == 3 and not resync.active)
        assert written == [monitor_mod.RESYNC_MARKER, b"a\n", b"b\n"]
        assert not resync.active and [s.line for s in resync.out] == [b"a\n", b"b\n"]
        assert resync.observe(_escalated("b")) == ""
        assert resync.out == []
    finally:
        resync.abandon()


# --- F4: the longest escalation is one row ---------------------------------------------


def _longest_escalation() -> str:
    """handle_text's line at its longest: the longest intent name of quotes (each
    escaped), the widest score and "us", a full phrase of control bytes (each \\u00NN)."""
    label = '"' * (MAX_LINE_LIMIT - len(DO_PREFIX))
    return (
        '{"intent":' + json.dumps(label) + ',"score":4294967.295,"route":"escalate",'
        '"us":4294967295,"text":"' + "\\u0001" * MAX_LINE_LIMIT + '"}'
    )


def test_the_longest_escalation_under_the_longest_intent_name_is_one_row() -> None:
    line = _longest_escalation()
    assert len(line) == monitor_mod.MAX_LINE_BYTES  # the bound is exact: nothing to spare
    lines, notes = _read_all(line.encode() + b"\n")
    assert lines == [line] and notes == []
    assert monitor_mod._answer_kind(lines[0]) == ("phrase", "\x01" * MAX_LINE_LIMIT)
    esc = escalate_mod.parse_escalation(lines[0])
    assert esc is not None and esc.text == "\x01" * MAX_LINE_LIMIT


def test_a_line_one_byte_longer_is_cut_with_a_true_note() -> None:
    line = _longest_escalation() + " "
    lines, notes = _read_all(line.encode() + b"\n")
    assert lines == [line[:-1], " "]
    assert notes == [
        f"(the line above is longer than {monitor_mod.MAX_LINE_BYTES} bytes, more than the "
        "longest escalation the firmware writes: it goes on in the next rows)"
    ]


class _Resets(_Logged):
    """A board that resets as 'y' arrives: its boot log answers no line."""

    def _reply(self, line: str) -> bytes | None:
        if line == "y":
            return b"rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)"
        return super()._reply(line)


def test_a_do_answer_after_a_release_settles_its_own_line() -> None:
    """A ':do' answer names its line as surely as an echo does: the line lost at the
    reset before it got no answer (round 51's re-read: it was taken for that line)."""
    flight = monitor_mod._TypedFlight()
    flight.sent(_Sent(b"y\n", 1, True))
    flight.release()
    flight.sent(_Sent(b":do lights\n", 2, True))
    flight.answered(monitor_mod._answer_kind('{"intent":"lights","route":"host"}'))
    assert flight.pending() == [], flight.pending()


def test_a_do_answered_after_a_reset_is_not_acted_on_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.5)
    board = _Resets(known=("lights",), stm32=True, drop_after=False, lose={"w": 1})
    rows, notes, _ = _run(monkeypatch, board, b"one\ny\n:do lights\nw\n", linger=1.0)
    assert board.acted == ["lights"], (board.acted, rows, notes)
