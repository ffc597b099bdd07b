"""Round 47 test-honesty audit of ``tinyslm monitor`` (F3, F5-F8): behaviours of
4eeba94 and d11a058 that a revert left with every test passing.

- F3: with ``--raw`` the reader's notes go to status (the CLI: stderr), so stdout holds
  only JSON: held for ``--wav`` only; ``monitor()``'s unterminated-line note is here.
- F5: ``--wav --raw`` shows a board's JSON line as JSON (:func:`shown_line`: a control
  character as its ``\\u00NN`` escape), not with the ``\\xNN`` escapes that break it.
- F6: the unknown-intent note never names an intent the board acted on; it names the
  ``:do`` line the board answered.
- F7: at the end of input a later round waits one host timeout in all (the first, one
  per phrase queued), so a board that escalates for ever ends the session in about
  ``END_ROUNDS - 1`` timeouts after the first round.
- F8: a ``:do`` line whose write failed is not left in flight (no answer will come).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fake_serial import FakePort, use_port
from test_r46_monitor_host import _Answers, _escalation

from tinyslm import monitor as monitor_mod
from tinyslm.errors import ToolchainError
from tinyslm.escalate import Escalated


def _nowhere(row: str) -> None:
    """Where the rows a test does not look at go."""


# --- F3: monitor --raw, the unterminated line's note --------------------------------------


def test_raw_stdout_gets_no_unterminated_note(monkeypatch: pytest.MonkeyPatch) -> None:
    # The board's last bytes have no line end (a reset's ROM banner cut off).
    use_port(monkeypatch, FakePort(b'{"intent":"a","score":0.9}\nets Jul 29 2019'))
    rows: list[str] = []
    notes: list[str] = []
    monitor_mod.monitor(
        "fake", stdin=io.BytesIO(b""), echo=rows.append, status=notes.append, linger=0.2, raw=True
    )
    assert rows == ['{"intent":"a","score":0.9}']
    for row in rows:
        json.loads(row)
    assert [n for n in notes if n.startswith("ets Jul 29 2019") and "unterminated" in n], notes


def test_without_raw_the_unterminated_note_is_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not --raw: the note is one of the rows (nothing for the status line but its header).
    use_port(monkeypatch, FakePort(b"ets Jul 29 2019"))
    rows: list[str] = []
    notes: list[str] = []
    monitor_mod.monitor(
        "fake", stdin=io.BytesIO(b""), echo=rows.append, status=notes.append, linger=0.2
    )
    assert [r for r in rows if "unterminated" in r]
    assert not [n for n in notes if "unterminated" in n]


# --- F5: monitor --wav --raw keeps JSON lines JSON ----------------------------------------


@pytest.mark.parametrize("control", ["\x7f", "\x85", "\x1b"], ids=["del", "c1", "esc"])
def test_wav_raw_json_lines_with_a_control_stay_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, control: str
) -> None:
    import numpy as np

    from tinyslm.audio.wav import write_wav

    line = json.dumps({"keyword": f"yes{control}", "score": 0.9}, ensure_ascii=False)
    end = b'{"end":{"frames":2,"inferences":0,"detections":0}}\n'
    use_port(monkeypatch, FakePort(line.encode() + b"\n" + end))
    path = tmp_path / "short.wav"
    write_wav(path, np.zeros(1600, dtype=np.int16))
    rows: list[str] = []
    # The board's counts are not what is tested: the error they may give is let pass.
    with contextlib.suppress(ToolchainError):
        monitor_mod.monitor_wav(
            path, "x", echo=rows.append, status=lambda _: None, raw=True, pace=False,
            end_timeout=0.5,
        )  # fmt: skip
    assert rows, "no row shown"
    shown = [json.loads(row) for row in rows]  # each stays JSON
    assert {"keyword": f"yes{control}", "score": 0.9} in shown
    # ... and printable: the control is its JSON escape, not the byte.
    assert all(control not in row for row in rows)


# --- F6: the unknown-intent note names the line answered ----------------------------------


def test_the_unknown_intent_note_never_names_an_intent_the_board_acted_on() -> None:
    notes: list[str] = []
    worker = monitor_mod._HostWorker(_Answers(), notes.append, raw=False)
    worker.sending(b":do a\n", typed=False)
    assert worker.offer('{"intent":"a","route":"host"}')  # the board acted on 'a'
    # The host sends 'a' again, a line lost without a word, then 'zzz'.
    worker.sending(b":do a\n", typed=False)
    worker.sending(b":do zzz\n", typed=False)
    # The board answers 'zzz': it has no such intent.
    assert worker.offer('{"error":"unknown_intent"}')
    assert not [n for n in notes if 'has no intent "a"' in n], notes
    assert len(notes) == 1 and 'has no intent "zzz"' in notes[0], notes
    assert not worker.in_flight()


# --- F7: the end-of-input wait's later rounds ---------------------------------------------


class _HeldHost:
    """Answers its first phrase with ``:do x`` at once; later phrases are held until
    ``release`` (a host program that takes its whole timeout and more)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.release = threading.Event()
        self.count = 0

    def answer(self, esc: Escalated) -> dict[str, Any]:
        self.count += 1
        if self.count > 1:
            self.release.wait(30)
        return {"text": esc.text, "answer": ":do x"}


def _queued(worker: monitor_mod._HostWorker, n: int) -> None:
    for i in range(n):
        worker.offer(_escalation(f"phrase {i}").decode().rstrip("\n"))


def test_a_later_round_waits_one_host_timeout_in_all() -> None:
    host = _HeldHost(timeout_s=0.3)
    host.count = 1  # every phrase held
    worker = monitor_mod._HostWorker(host, _nowhere, raw=False)
    try:
        _queued(worker, 3)
        start = time.monotonic()
        worker.finish(first=False)
        took = time.monotonic() - start
        # One timeout (0.3 s), whatever is queued; margin for a loaded machine. It was
        # the first round's budget, a timeout per phrase plus 5 s: 6.2 s here.
        assert 0.25 <= took < 0.3 + 1.2, took
    finally:
        host.release.set()


def test_the_first_round_gives_each_phrase_its_timeout() -> None:
    host = _HeldHost(timeout_s=0.2)
    host.count = 1
    worker = monitor_mod._HostWorker(host, _nowhere, raw=False)
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    try:
        _queued(worker, 3)
        start = time.monotonic()
        timer.start()
        worker.finish(stop, first=True)  # a budget of 5.8 s: ended by stop at 1 s
        assert time.monotonic() - start >= 0.9
    finally:
        timer.cancel()
        host.release.set()


def test_a_board_escalating_for_ever_ends_within_the_later_rounds_budget() -> None:
    """_finish_host's rounds with a board that escalates two phrases during each wait for
    the line to go quiet, and a host that takes its whole timeout on each: the first round
    (nothing queued yet) ends at once, each of the END_ROUNDS - 1 later ones after one
    timeout in all."""
    per = 0.4
    host = _HeldHost(timeout_s=per)
    host.count = 1
    worker = monitor_mod._HostWorker(host, _nowhere, raw=False)
    rounds: list[float] = []

    def settle(busy: Any) -> None:
        rounds.append(time.monotonic())
        _queued(worker, 2)  # the board escalated meanwhile: busy at once

    try:
        start = time.monotonic()
        monitor_mod._finish_host(worker, settle, threading.Event(), lambda: False)
        took = time.monotonic() - start
    finally:
        host.release.set()
    assert len(rounds) == monitor_mod.END_ROUNDS
    # 3 timeouts (1.2 s), plus margin for a loaded machine. With the first round's budget
    # (a timeout per phrase queued plus 5 s) in each round it was over 5 s a round.
    later = per * (monitor_mod.END_ROUNDS - 1)
    assert later - 0.1 <= took < later + 1.5, took


# --- F8: a ':do' whose write failed --------------------------------------------------------


def test_a_do_line_whose_write_failed_is_not_in_flight() -> None:
    worker = monitor_mod._HostWorker(_Answers(), _nowhere, raw=False)

    def broken(line: bytes) -> None:
        raise OSError("port gone")

    with pytest.raises(OSError, match="port gone"):
        worker.transmit(b":do lights_on\n", broken, typed=False)
    with pytest.raises(OSError, match="port gone"):
        worker.transmit(b":do fan_on\n", broken, typed=True)
    assert worker.in_flight() == []
    # The next answer is then the next line's, not one for a line that never went out.
    worker.transmit(b":do alarm_set\n", lambda line: None, typed=False)
    assert worker.offer('{"error":"unknown_intent"}')
    assert worker.in_flight() == []
