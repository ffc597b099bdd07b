"""``tinyslm monitor --host-cmd/--host-model`` round 46 (host-report.md): a phrase with
DEL or a C1 control is forwarded and its lines stay JSON, a program's first line cut at
the bytes kept is no answer, ``--raw`` stdout holds only JSON of the monitor's own, a
host row names its phrase, the board's answers to the host's ``:do`` lines neither
lose the unknown_intent note nor let typed lines outrun the board, and phrases still
waiting at the end are answered or said."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
import threading
import time
from typing import Any

import pytest
from fake_serial import FakePort, use_port

from tinyslm import monitor as monitor_mod
from tinyslm.errors import ToolchainError
from tinyslm.escalate import MAX_ANSWER_BYTES, Escalated, HostCommand, act_line


def _escalation(text: str, intent: str = "lights_on") -> bytes:
    """The firmware's escalation line for ``text`` (as tinyslm_json_escaped writes it:
    DEL and C1 controls pass through unescaped)."""
    head = f'{{"intent":"{intent}","score":0.412,"route":"escalate","us":799,"text":'
    return (head + json.dumps(text, ensure_ascii=False) + "}\n").encode()


class _Answers:
    """A host that answers every phrase with ``answer`` after ``delay`` seconds."""

    def __init__(self, answer: str = "ok", delay: float = 0.0) -> None:
        self.reply, self.delay = answer, delay

    def answer(self, esc: Escalated) -> dict[str, Any]:
        time.sleep(self.delay)
        return {"text": esc.text, "answer": self.reply}


class _Board(FakePort):
    """A fake board answering each line the monitor writes through ``on_line`` (which
    gets the line and returns what the board writes back, possibly later)."""

    def __init__(self, out: bytes = b"") -> None:
        super().__init__(out)
        self.partial = b""
        self.log: list[tuple[float, str]] = []  # (when, what) as the board saw it

    def on_line(self, line: str) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> int:
        super().write(data)
        self.partial += data
        while b"\n" in self.partial:
            line, self.partial = self.partial.split(b"\n", 1)
            self.log.append((time.monotonic(), "got " + line.decode()))
            self.on_line(line.decode())
        return len(data)

    def later(self, seconds: float, data: bytes, what: str) -> None:
        """Write ``data`` after ``seconds``, as a board busy that long."""

        def send() -> None:
            self.log.append((time.monotonic(), what))
            self.answer(data)

        timer = threading.Timer(seconds, send)
        timer.daemon = True
        timer.start()


def _run(
    monkeypatch: pytest.MonkeyPatch,
    port: FakePort,
    escalation: Any,
    *,
    typed: bytes = b"",
    raw: bool = False,
    linger: float = 0.2,
) -> tuple[list[str], list[str]]:
    """(stdout rows, status rows) of ``monitor`` over ``port``."""
    use_port(monkeypatch, port)
    rows: list[str] = []
    notes: list[str] = []
    monitor_mod.monitor(
        "fake",
        stdin=io.BytesIO(typed),
        echo=rows.append,
        status=notes.append,
        linger=linger,
        raw=raw,
        escalation=escalation,
    )
    return rows, notes


# --- 1: DEL and C1 controls in an escalated phrase ---------------------------------------


@pytest.mark.parametrize("raw", [True, False])
def test_a_phrase_with_del_or_a_c1_control_is_answered_and_stays_json(
    monkeypatch: pytest.MonkeyPatch, raw: bool
) -> None:
    phrases = ["turn\x7f on", "lamp\u0085 on", "plain"]
    port = FakePort(b"".join(_escalation(p) for p in phrases))
    rows, _ = _run(monkeypatch, port, _Answers("hi \u0085x"), raw=raw)
    if raw:
        parsed = [json.loads(row) for row in rows]  # every stdout line is JSON
        assert [p["text"] for p in parsed if "intent" in p] == phrases
        assert [p["host"] for p in parsed if "host" in p] == [
            {"text": p, "answer": "hi \u0085x"} for p in phrases
        ]
    else:
        device = [r for r in rows if "-> escalate:" in r]
        assert [r.split("-> escalate: ")[1] for r in device] == [
            '"turn\\u007f on"',
            '"lamp\\u0085 on"',
            '"plain"',
        ]
        assert [r for r in rows if r.startswith("  host")] == [
            '  host: hi \\x85x  ("turn\\u007f on")',
            '  host: hi \\x85x  ("lamp\\u0085 on")',
            '  host: hi \\x85x  ("plain")',
        ]
    for row in rows:
        assert row.isprintable(), row


def test_json_lines_are_shown_with_json_escapes_other_lines_with_x_escapes() -> None:
    assert monitor_mod.shown_line('{"a":"x\x7fy\u009f"}') == '{"a":"x\\u007fy\\u009f"}'
    assert json.loads(monitor_mod.shown_line('{"a":\r"\x85"}')) == {"a": "\x85"}
    assert monitor_mod.shown_line("boot\x7f\x1b") == "boot\\x7f\\x1b"
    # JSON of another shape is shown as it came, kept JSON.
    assert monitor_mod.format_device_line('{"x":"\x7f"}') == '{"x":"\\u007f"}'


# --- 2: a first output line longer than the bytes kept -----------------------------------


def test_a_do_line_longer_than_the_bytes_kept_is_no_answer_and_is_not_sent() -> None:
    esc = Escalated("hello", "x", 0.1)
    code = "import sys; sys.stdout.write(':do ' + 'a' * 5000 + '\\n')"
    answer = HostCommand([sys.executable, "-c", code]).answer(esc)
    assert "answer" not in answer and act_line(answer) is None
    assert answer["error"] == (
        f"its first output line is longer than the {MAX_ANSWER_BYTES} bytes kept "
        '(starts ":do aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...): not an answer, nothing sent'
    )
    # A first line that ends within the bytes kept is the answer, the rest dropped.
    code = "import sys; sys.stdout.write(':do lights_on\\n' + 'b' * 9000)"
    answer = HostCommand([sys.executable, "-c", code]).answer(esc)
    assert answer == {"text": "hello", "answer": ":do lights_on"}
    # Blank bytes past what is kept: no answer, and not "printed nothing".
    code = "import sys; sys.stdout.write(' ' * 9000 + 'late')"
    answer = HostCommand([sys.executable, "-c", code]).answer(esc)
    assert answer["error"].startswith(f"its first {MAX_ANSWER_BYTES} bytes of output")


@pytest.mark.parametrize(
    ("size", "end", "whole"),
    [
        (MAX_ANSWER_BYTES, "\\n", True),
        (MAX_ANSWER_BYTES - 1, "\\r\\n", True),
        (MAX_ANSWER_BYTES, "\\r\\n", True),
        (MAX_ANSWER_BYTES + 1, "\\n", False),
    ],
)
def test_a_first_line_of_the_bytes_kept_is_the_answer(size: int, end: str, whole: bool) -> None:
    # A line of MAX_ANSWER_BYTES bytes (its line end right after them) is no longer
    # one: it was called "longer than the 4096 bytes kept" and refused.
    esc = Escalated("hello", "x", 0.1)
    code = f"import sys; sys.stdout.write(':do ' + 'a' * {size - 4} + '{end}' + 'more')"
    answer = HostCommand([sys.executable, "-c", code]).answer(esc)
    if whole:
        assert answer == {"text": "hello", "answer": ":do " + "a" * (size - 4)}
    else:
        assert answer["error"].startswith("its first output line is longer than")


# --- 3: --raw stdout is the board's lines and JSON of the monitor's own ------------------


class _UnknownIntentBoard(_Board):
    def on_line(self, line: str) -> None:
        if line.startswith(":do "):
            self.answer(b'{"error":"unknown_intent"}\n')


def test_raw_skipped_rows_are_json_and_notes_go_to_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = monitor_mod.MAX_PENDING_ESCALATIONS + 4
    port = _UnknownIntentBoard(b"".join(_escalation(f"phrase {i}") for i in range(total)))
    rows, notes = _run(monkeypatch, port, _Answers(":do alarm_set", delay=0.05), raw=True)
    parsed = [json.loads(row) for row in rows]  # stdout: JSON lines only
    host = [p["host"] for p in parsed if "host" in p]
    assert sorted(h["text"] for h in host) == sorted(f"phrase {i}" for i in range(total))
    skipped = [h for h in host if "error" in h]
    assert skipped and all(h["error"].startswith("skipped: 16 escalations") for h in skipped)
    assert [n for n in notes if "has no intent" in n] == [
        '  host: the board has no intent "alarm_set", which the host answered (unknown_intent):'
        " the host knows intents the board's model lacks, and the board takes no action for them"
    ]


# --- 4: a host row names its phrase ------------------------------------------------------


def test_each_host_row_names_its_phrase(monkeypatch: pytest.MonkeyPatch) -> None:
    port = FakePort(_escalation("turn the lamp on") + _escalation("is it raining"))
    rows, _ = _run(monkeypatch, port, _Answers(":do lights_off", delay=0.1))
    host = [r for r in rows if r.startswith("  host")]
    assert host == [
        '  host: :do lights_off  ("turn the lamp on")',
        '  host: :do lights_off  ("is it raining")',
    ]


# --- 5: the unknown_intent note with other lines in between ------------------------------


class _BusyBoard(_Board):
    """Answers a ':do' only after a local answer to something else."""

    def on_line(self, line: str) -> None:
        if line.startswith(":do "):
            local = b'{"intent":"fan_on","score":0.900,"route":"local","us":5}\n'
            self.answer(local + b'{"error":"unknown_intent"}\n')


def test_the_unknown_intent_note_survives_a_line_in_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _BusyBoard(_escalation("wake me"))
    rows, _ = _run(monkeypatch, port, _Answers(":do alarm_set"))
    assert len([r for r in rows if 'the board has no intent "alarm_set"' in r]) == 1


# --- 6: escalations still coming at the end of input -------------------------------------


class _LateBoard(_Board):
    """Escalates the typed phrase; after the host's first ':do' it escalates three more
    phrases 0.1 s later (after the monitor's first wait for the queue is over)."""

    def on_line(self, line: str) -> None:
        if line.startswith(":do "):
            self.answer(b'{"intent":"lights_on","route":"host"}\n')
            if not any(what == "late escalations" for _, what in self.log):
                late = b"".join(_escalation(f"late {i}") for i in range(3))
                self.log.append((time.monotonic(), "late escalations"))
                self.later(0.1, late, "sent late escalations")
        elif line:
            self.answer(_escalation(line))


def test_escalations_at_the_end_of_input_are_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _LateBoard()
    rows, _ = _run(monkeypatch, port, _Answers(":do lights_on", delay=0.3), typed=b"go\n", raw=True)
    host = [json.loads(r)["host"] for r in rows if r.startswith('{"host"')]
    assert host == [
        {"text": t, "answer": ":do lights_on"} for t in ["go", "late 0", "late 1", "late 2"]
    ]


def test_phrases_left_when_the_session_ends_get_a_row() -> None:
    gate = threading.Event()
    rows: list[str] = []

    class _Hung:
        def answer(self, esc: Escalated) -> dict[str, Any]:
            gate.wait(10)
            return {"text": esc.text, "answer": "too late"}

    worker = monitor_mod._HostWorker(_Hung(), rows.append, raw=True)  # type: ignore[arg-type]
    for i in range(3):
        worker.offer(_escalation(f"p{i}").decode())
    deadline = time.monotonic() + 10
    while worker.current is None and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.close()
    gate.set()
    time.sleep(0.2)  # the answer that comes now is not shown: the row above said it
    assert [json.loads(r)["host"] for r in rows] == [
        {"text": f"p{i}", "error": "not answered: the session ended first"} for i in range(3)
    ]


# --- 7: the board's answers to the host's ':do' lines do not pace typed lines -----------


class _SlowBoard(_Board):
    """Takes 0.3 s per typed phrase (then escalates it) and answers ':do' at once."""

    def on_line(self, line: str) -> None:
        if line.startswith(":do "):
            self.answer(b'{"intent":"lights_on","route":"host"}\n')
        elif line:
            self.later(0.3, _escalation(line), "answered " + line)


def test_typed_lines_wait_for_their_own_answer_not_the_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _SlowBoard()
    _run(monkeypatch, port, _Answers(":do lights_on"), typed=b"alpha\nbravo\ncharlie\ndelta\n")
    events = [what for _, what in sorted(port.log)]
    typed = ["alpha", "bravo", "charlie", "delta"]
    # Each typed phrase reaches the board only after the one before was answered.
    for before, after in itertools.pairwise(typed):
        assert events.index("answered " + before) < events.index("got " + after), events


# --- the reader hands on decoded lines: every caller shows them escaped ------------------


@pytest.mark.parametrize("raw", [True, False])
def test_monitor_wav_shows_control_bytes_escaped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, raw: bool
) -> None:
    import numpy as np

    from tinyslm.audio.wav import write_wav
    from tinyslm.errors import ToolchainError

    use_port(monkeypatch, FakePort(b"boot\x1b[2J\x7f\n"))
    path = tmp_path / "short.wav"
    write_wav(path, np.zeros(1600, dtype=np.int16))
    rows: list[str] = []
    with pytest.raises(ToolchainError):  # no end-of-stream answer: not what is tested
        monitor_mod.monitor_wav(path, "x", echo=rows.append, raw=raw, pace=False, end_timeout=0.3)
    assert "boot\\x1b[2J\\x7f" in rows


# --- rev2 (review of the above): notes printable, ':do' accounting, the end wait --------


@pytest.mark.parametrize("raw", [True, False])
def test_the_unknown_intent_note_is_printable(monkeypatch: pytest.MonkeyPatch, raw: bool) -> None:
    # The program echoes C1 and bidi characters (as a phrase from the board can hold
    # them) into its ':do' line; the note quoting it reached the terminal raw.
    port = _UnknownIntentBoard(_escalation("lamp"))
    rows, notes = _run(monkeypatch, port, _Answers(":do x\u009b2J \u202egnp.exe"), raw=raw)
    said = [r for r in rows + notes if "has no intent" in r]
    assert said and '"x\\x9b2J \\u202egnp.exe"' in said[0]
    for row in rows + notes:
        assert row.isprintable(), row


class _InOrderBoard(_Board):
    """Answers each line 0.2 s after the one before, in order: a ':do' naming one of
    ``known`` is acted on, another gets unknown_intent; the first ``lose`` ':do' lines
    are lost (rx_overflow); ':info' is answered; any other line is escalated."""

    def __init__(self, known: set[str], lose: int = 0) -> None:
        super().__init__()
        self.known, self.lose, self.due = known, lose, 0.0

    def on_line(self, line: str) -> None:
        if not line.strip():
            return  # a board ignores a blank line (the monitor's resync sends one)
        if line == ":info":  # the monitor's resync marker, answered in order
            reply = b'{"info":{"board":"fake"}}\n'
            now = time.monotonic()
            self.due = max(self.due, now) + 0.2
            self.later(self.due - now, reply, "answered " + line)
            return
        if line.startswith(":do ") and self.lose:
            self.lose -= 1
            self.answer(b'{"error":"rx_overflow"}\n')  # at once: before the next line
            return
        if line.startswith(":do "):
            intent = line[len(":do ") :]
            acted = json.dumps({"intent": intent, "route": "host"}).encode() + b"\n"
            reply = acted if intent in self.known else b'{"error":"unknown_intent"}\n'
        else:
            reply = _escalation(line)
        now = time.monotonic()
        self.due = max(self.due, now) + 0.2
        self.later(self.due - now, reply, "answered " + line)


def test_a_typed_do_answered_is_not_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The user's ':do foo' and the host's ':do lights_on' are both in flight: the board's
    # unknown_intent answers the typed line, and lights_on was acted on.
    port = _InOrderBoard({"lights_on"})
    start = time.monotonic()
    rows, _ = _run(
        monkeypatch, port, _Answers(":do lights_on", delay=0.05), typed=b"turn it on\n:do foo\n"
    )
    assert not [r for r in rows if "has no intent" in r], rows
    assert "lights_on                host   (the host's answer, acted on)" in rows
    # The typed ':do foo' was answered: nothing waited out ANSWER_WAIT_S for it.
    assert time.monotonic() - start < monitor_mod.ANSWER_WAIT_S + 1.5


def test_a_do_the_board_lost_does_not_shift_the_note(monkeypatch: pytest.MonkeyPatch) -> None:
    # The board loses the host's first ':do' (rx_overflow), acts on the second, and has
    # no intent for the third: the note names the third, never one the board acted on.
    port = _InOrderBoard({"lights_on", "fan_on"}, lose=1)
    answers = {"lamp": ":do lights_on", "fan": ":do fan_on", "alarm": ":do alarm_set"}

    class _ByPhrase:
        def answer(self, esc: Escalated) -> dict[str, Any]:
            return {"text": esc.text, "answer": answers[esc.text]}

    rows, _ = _run(monkeypatch, port, _ByPhrase(), typed=b"lamp\nfan\nalarm\n", linger=0.5)
    said = [r for r in rows if "has no intent" in r]
    assert len(said) == 1 and '"alarm_set"' in said[0], rows


def test_an_acted_answer_resyncs_the_dos_in_flight() -> None:
    worker = monitor_mod._HostWorker(_Answers(), [].append, raw=False)
    for line in (b":do a\n", b":do b\n", b":do c\n"):
        worker.sending(line, typed=False)
    # 'a' was lost without a word: the board's answer naming 'b' answers 'b'.
    assert worker.offer('{"intent":"b","route":"host"}')
    assert [a.intent for a in worker.acts] == ["c"]
    # An acted answer naming no line in flight (one forgotten) answers none of them.
    assert not worker.offer('{"intent":"z","route":"host"}')
    assert [a.intent for a in worker.acts] == ["c"]
    worker.offer('{"error":"rx_overflow"}')
    assert not worker.acts
    typed = worker.sending(b":do d\n", typed=True)
    assert typed is not None and not worker.offer('{"error":"unknown_intent"}')
    gone = worker.sending(b":do e\n", typed=False)
    assert gone is not None
    worker.unsent(gone)
    assert not worker.acts


class _ChainBoard(_Board):
    """Acts on each ':do' and escalates two more phrases for it: never quiet."""

    def __init__(self) -> None:
        super().__init__()
        self.count = itertools.count()

    def on_line(self, line: str) -> None:
        if line.startswith(":do "):
            n = next(self.count)
            more = _escalation(f"a{n}") + _escalation(f"b{n}")
            self.answer(b'{"intent":"x","route":"host"}\n' + more)
        elif line:
            self.answer(_escalation(line))


def test_a_board_escalating_for_ever_ends_the_session_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = _Answers(":do x", delay=0.05)
    answers.timeout_s = 0.5  # type: ignore[attr-defined]
    start = time.monotonic()
    rows, _ = _run(monkeypatch, _ChainBoard(), answers, typed=b"go\n", raw=True, linger=0.1)
    # At most the first round (one timeout per phrase queued) and 3 timeouts more; it
    # was each round's whole deadline while the queue refilled (over a minute here).
    assert time.monotonic() - start < 8.0
    assert any("not answered" in r for r in rows)


def test_ctrl_c_at_the_end_of_input_still_says_the_phrases_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = threading.Event()

    class _Hung:
        timeout_s = 30.0

        def answer(self, esc: Escalated) -> dict[str, Any]:
            gate.wait(10)
            return {"text": esc.text, "answer": "too late"}

    def interrupted(host: Any, *args: Any) -> None:
        deadline = time.monotonic() + 10
        while host.pending.unfinished_tasks < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(monitor_mod, "_finish_host", interrupted)
    rows: list[str] = []
    port = FakePort(_escalation("first") + _escalation("second"))
    use_port(monkeypatch, port)
    try:
        with pytest.raises(KeyboardInterrupt):
            monitor_mod.monitor(
                "fake", stdin=io.BytesIO(b""), echo=rows.append, linger=0.1, escalation=_Hung()
            )
    finally:
        gate.set()
    assert [r for r in rows if "not answered" in r] == [
        '  host error: not answered: the session ended first  ("first")',
        '  host error: not answered: the session ended first  ("second")',
    ]


def test_a_phrase_taken_after_close_gets_its_row() -> None:
    rows: list[str] = []
    worker = monitor_mod._HostWorker(_Answers(), rows.append, raw=True)
    with worker.lock:  # the worker waits on the queue; close() won the lock first
        worker.closed = True
        worker.pending.put_nowait(Escalated("late", "x", 0.4))
    deadline = time.monotonic() + 5
    while not rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [json.loads(r)["host"] for r in rows] == [
        {"text": "late", "error": "not answered: the session ended first"}
    ]


def test_monitor_wav_raw_notes_go_to_status(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import numpy as np

    from tinyslm.audio.wav import write_wav

    end = b'{"end":{"frames":9,"inferences":0,"detections":0}}\n'
    use_port(monkeypatch, FakePort(end + b"ets Jul 29 2019\x1b[0m"))
    path = tmp_path / "short.wav"
    write_wav(path, np.zeros(1600, dtype=np.int16))
    rows: list[str] = []
    notes: list[str] = []
    # The board's counts are not what is tested: the error they may give is let pass.
    with contextlib.suppress(ToolchainError):
        monitor_mod.monitor_wav(
            path, "x", echo=rows.append, status=notes.append, raw=True, pace=False, end_timeout=0.5
        )
    assert not [r for r in rows if "unterminated" in r], rows
    assert [n for n in notes if "unterminated" in n]
