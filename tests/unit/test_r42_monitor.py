"""``tinyslm monitor`` round 42: a row that cannot be printed ends the session (it left
a deaf monitor exiting 0), the longest escalation the firmware writes is one row, CR
ended input is paced line by line, JSON of another shape is shown as it came, and a
last line without a line end is shown."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_serial import FakePort, use_port

from tinyslm import escalate as escalate_mod
from tinyslm import monitor as monitor_mod
from tinyslm.errors import ToolchainError
from tinyslm.monitor import (
    MAX_LINE_BYTES,
    UNTERMINATED_MARK,
    _reader_thread,
    _typed_lines,
    format_device_line,
)
from tinyslm.text.dataset import MAX_LINE_LIMIT

REPO = Path(__file__).resolve().parents[2]
LOCAL = b'{"intent":"lights_on","score":0.900,"route":"local","us":5}\n'


class _OpenStdin(io.RawIOBase):
    """Standard input that stays open with nothing typed (a user who types nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_event = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        self.closed_event.wait(30.0)
        return 0


def _monitor_in_thread(**kwargs: object) -> list[BaseException | None]:
    """Run ``monitor("fake", ...)`` with an open, silent stdin; what it raised (or
    None), once it ended within 10 s (the old monitor ran on deaf, waiting for stdin)."""
    stdin = _OpenStdin()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            monitor_mod.monitor("fake", stdin=stdin, status=lambda _: None, **kwargs)  # type: ignore[arg-type]
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10.0)
    stdin.closed_event.set()
    alive = thread.is_alive()
    thread.join(timeout=10.0)
    assert not alive, "the monitor kept running after its reader thread failed"
    return outcome


# --- 1: a row that cannot be printed ---------------------------------------------


def test_a_closed_output_ends_the_session_with_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use_port(monkeypatch, FakePort(LOCAL * 3))

    def echo(row: str) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    outcome = _monitor_in_thread(echo=echo)
    assert isinstance(outcome[0], ToolchainError), outcome
    assert str(outcome[0]) == "monitor stopped: its output was closed (the reader went away)"


def test_an_unexpected_error_in_the_reader_ends_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_port(monkeypatch, FakePort(LOCAL))

    def broken(line: str) -> str:
        raise RuntimeError("formatter\nbug")

    monkeypatch.setattr(monitor_mod, "format_device_line", broken)
    outcome = _monitor_in_thread(echo=lambda _: None)
    assert isinstance(outcome[0], ToolchainError), outcome
    assert str(outcome[0]) == (
        "monitor stopped: unexpected RuntimeError in the reader of the board's lines: formatter bug"
    )


def test_an_unexpected_error_in_the_host_worker_ends_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    esc = b'{"intent":"a","score":0.100,"route":"escalate","us":5,"text":"dim it"}\n'
    use_port(monkeypatch, FakePort(esc))

    def broken(escalation: object, line: object) -> object:
        raise RuntimeError("host bug")

    monkeypatch.setattr(escalate_mod, "answer_of", broken)
    outcome = _monitor_in_thread(echo=lambda _: None, escalation=object())
    assert isinstance(outcome[0], ToolchainError), outcome
    assert (
        str(outcome[0]) == "monitor stopped: unexpected RuntimeError in the host worker: host bug"
    )


def test_rows_an_output_cannot_encode_are_escaped_and_the_session_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # cp1252 has no U+FFFD, which every byte that is not UTF-8 becomes.
    use_port(monkeypatch, FakePort(b"boot \xff ok\n" + LOCAL))
    out = io.BytesIO()
    text = io.TextIOWrapper(out, encoding="cp1252", errors="strict", write_through=True)
    monitor_mod.monitor(
        "fake",
        stdin=io.BytesIO(b""),
        echo=lambda row: print(row, file=text),
        status=lambda _: None,
        linger=0.2,
    )
    rows = out.getvalue().decode("cp1252").splitlines()
    assert rows[0] == "boot \\ufffd ok"
    assert rows[1].split()[:3] == ["lights_on", "0.900", "local"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "tinyslm", "monitor", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
    )


def test_cli_piped_to_a_reader_that_went_away_exits_1_in_one_line() -> None:
    """``tinyslm monitor | head -1``: the reader thread died with a BrokenPipeError
    traceback and the monitor exited 0 when stdin ended."""
    proc = _cli("--port", "loop://")
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.close()  # head exited
    try:
        _, err = proc.communicate(b"one\ntwo\nthree\n", timeout=60)
    except BrokenPipeError:  # the monitor already ended (what is tested)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert err.decode().splitlines() == [
        "monitor: loop:// at 115200 baud",
        "error: monitor stopped: its output was closed (the reader went away)",
    ]


def test_cli_with_a_cp1252_output_shows_undecodable_bytes_escaped() -> None:
    proc = _cli("--port", "loop://", env={"PYTHONIOENCODING": "cp1252"})
    out, err = proc.communicate(b"a\xffb\nafter\n", timeout=60)
    assert proc.returncode == 0, err
    # loop:// echoes the lines (round 49: the last row says that none was answered).
    assert out.decode("cp1252").splitlines()[:2] == ["a\\ufffdb", "after"]
    assert "did not answer any of the 2 phrases sent" in out.decode("cp1252").splitlines()[2]
    assert b"Traceback" not in err


# --- 2: the longest line the firmware writes ------------------------------------


class _ScriptedPort:
    """Reads return the given chunks (at most 256 bytes each), then nothing; a chunk that
    is an exception is raised (a board unplugged)."""

    def __init__(self, chunks: list[bytes | Exception]) -> None:
        self.chunks = list(chunks)
        self.drained = threading.Event()

    def read(self, size: int) -> bytes:
        if not self.chunks:
            self.drained.set()
            time.sleep(0.01)
            return b""
        chunk = self.chunks.pop(0)
        if isinstance(chunk, Exception):
            self.drained.set()
            raise chunk
        return chunk


def _read_all(data: bytes, *, then: Exception | None = None) -> tuple[list[str], list[str]]:
    """(lines, notes) the reader hands on for ``data``, then ``then`` raised or the
    session ended."""
    chunks: list[bytes | Exception] = [data[i : i + 256] for i in range(0, len(data), 256)]
    if then is not None:
        chunks.append(then)
    port = _ScriptedPort(chunks)
    stop = threading.Event()
    lines: list[str] = []
    notes: list[str] = []
    thread = _reader_thread(port, stop, lines.append, lambda exc: stop.set(), on_note=notes.append)
    thread.start()
    assert port.drained.wait(10.0)
    stop.set()
    thread.join(timeout=5.0)
    return lines, notes


def test_the_longest_escalation_the_firmware_writes_is_one_row() -> None:
    """A TINYSLM_MAX_LINE phrase of bytes that are not UTF-8 is echoed as "\\ufffd" each:
    cut at 4096 bytes, its rows were never forwarded to the host."""
    text = "\\ufffd" * MAX_LINE_LIMIT
    line = (
        '{"intent":"' + "i" * 64 + '","score":0.999,"route":"escalate","us":4294967295,'
        '"text":"' + text + '"}'
    )
    assert len(line) <= MAX_LINE_BYTES < 64 * 1024  # fits, and stays bounded
    lines, notes = _read_all(line.encode() + b"\r\n")
    assert lines == [line] and notes == []
    esc = escalate_mod.parse_escalation(lines[0])
    assert esc is not None and esc.text == "\ufffd" * MAX_LINE_LIMIT


def test_a_line_still_too_long_is_cut_with_one_note() -> None:
    lines, notes = _read_all(b"x" * (2 * MAX_LINE_BYTES + 10) + b"\nok\n")
    assert lines == ["x" * MAX_LINE_BYTES, "x" * MAX_LINE_BYTES, "x" * 10, "ok"]
    assert notes == [
        f"(the line above is longer than {MAX_LINE_BYTES} bytes, more than the longest "
        "escalation the firmware writes: it goes on in the next rows)"
    ]


# --- 3: typed lines ended by CR ---------------------------------------------------


class _Chunks(io.RawIOBase):
    """A stream without a file descriptor whose reads return the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__()
        self.chunks = list(chunks)

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


def test_typed_lines_end_at_cr_lf_and_crlf() -> None:
    chunks = [b"a\r", b"\nb", b"\rc\r", b"\n", b"d\ne\r\nf"]
    assert list(_typed_lines(_Chunks(chunks))) == [
        b"a\r",
        b"b\r",
        b"c\r",
        b"d\n",
        b"e\r\n",
        b"f",
    ]
    # A real descriptor (a pipe: `printf 'a\rb\r' | tinyslm monitor`).
    read_end, write_end = os.pipe()
    os.write(write_end, b"one\rtwo\r\nthree\r")
    os.close(write_end)
    with open(read_end, "rb", buffering=0) as stdin:
        assert list(_typed_lines(stdin)) == [b"one\r", b"two\r\n", b"three\r"]


class _AnsweringBoard(FakePort):
    """Answers each non-blank line (ended by "\\n") 0.1 s after it came, and counts
    lines that came while one was still unanswered."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[bytes] = []
        self.unanswered = 0
        self.overlapped = 0

    def write(self, data: bytes) -> int:
        super().write(data)
        *lines, rest = bytes(self.written).split(b"\n")
        self.written[:] = rest
        for line in lines:
            self.lines.append(line)
            with self.lock:
                self.overlapped += self.unanswered > 0
                self.unanswered += 1
            threading.Timer(0.1, self._answer).start()
        return len(data)

    def _answer(self) -> None:
        with self.lock:
            self.unanswered -= 1
        self.answer(LOCAL)


def test_cr_ended_input_is_paced_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The device ends a line at "\\r": CR-only input was one line to the monitor, sent
    in one burst without waiting for the answers."""
    board = _AnsweringBoard()
    use_port(monkeypatch, board)
    rows: list[str] = []
    typed = io.BytesIO(b"lights on\rlights off\r\nopen the door\r")
    monitor_mod.monitor("fake", stdin=typed, echo=rows.append, linger=0.3)
    assert board.lines == [b"lights on", b"lights off", b"open the door"]
    assert board.overlapped == 0
    assert sum(row.startswith("lights_on") for row in rows) == 3


# --- 4: JSON of another shape -----------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        '{"intent":"x"}',
        '{"intent":"x","score":true,"route":"local","us":5}',
        '{"intent":"x","score":NaN,"route":"local","us":5}',
        '{"intent":"x","score":Infinity,"route":"local","us":5}',
        '{"intent":"x","score":0.5,"route":"local","us":false}',
        '{"intent":"x","score":0.5,"route":"escalate","us":5}',
        '{"intent":5,"route":"host"}',
        '{"keyword":"yes","score":0.9,"t_ms":5}',
        '{"end":{"frames":"1","inferences":1,"detections":1}}',
        '{"info":{"ops":"FULLY"}}',
        '{"error":["x"]}',
    ],
)
def test_json_of_another_shape_is_shown_as_it_came(line: str) -> None:
    assert format_device_line(line) == line


def test_the_firmware_shapes_are_still_rows() -> None:
    assert format_device_line(LOCAL.decode().strip()).split() == [
        "lights_on",
        "0.900",
        "local",
        "5",
        "us",
    ]
    kw = format_device_line('{"keyword":"yes","score":0.912,"t_ms":1400,"us":5120}')
    assert kw.split() == ["yes", "0.912", "at", "1.400", "s", "5120", "us"]
    end = format_device_line('{"end":{"frames":3,"inferences":2,"detections":1}}')
    assert end == "end of stream: 3 frames, 2 inferences, 1 detection"
    info = {
        "version": "0.1.0",
        "board": "esp32",
        "modality": "keywords",
        "model_sha256": "ab" * 32,
        "model_bytes": 1,
        "arena_bytes": 2,
        "ops": ["CONV_2D"],
        "labels": 4,
        "threshold": 0.5,
        "keywords": ["yes"],
    }
    assert format_device_line(json.dumps({"info": info})).endswith("ops CONV_2D")


# --- 5: a last line without a line end ------------------------------------------


def test_a_last_line_without_line_end_is_shown_when_the_port_closes() -> None:
    lines, notes = _read_all(b"ok\nI (12) boot: \x1b[0m", then=OSError("unplugged"))
    assert lines == ["ok"]
    assert notes == ["I (12) boot: \\x1b[0m" + UNTERMINATED_MARK]


def test_a_last_line_without_line_end_is_shown_when_the_session_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_port(monkeypatch, FakePort(LOCAL + b"rebooting..."))
    rows: list[str] = []
    monitor_mod.monitor(
        "fake", stdin=io.BytesIO(b""), echo=rows.append, status=lambda _: None, linger=0.2
    )
    assert rows[1:] == ["rebooting..." + UNTERMINATED_MARK]


# --- the board's unknown_intent after the host's ':do' ------------------------------------


def test_the_boards_unknown_intent_after_a_host_answer_is_explained_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host model with intents the board lacks: ':do alarm_set' is answered
    {"error":"unknown_intent"}, which read as a board fault. Said once, with why."""
    monkeypatch.setattr(
        escalate_mod,
        "answer_of",
        lambda escalation, esc: {"intent": "alarm_set", "score": 0.9, "route": "local"},
    )
    rows: list[str] = []
    sent: list[bytes] = []
    worker = monitor_mod._HostWorker(object(), rows.append, False, sent.append)  # type: ignore[arg-type]
    unknown = '{"error":"unknown_intent"}'
    worker.offer(unknown)  # before any ':do': the board's own business
    worker.offer('{"intent":"a","score":0.100,"route":"escalate","us":5,"text":"wake me"}')
    worker.pending.join()
    assert [line.strip() for line in sent] == [b":do alarm_set"], sent
    worker.offer(unknown)
    worker.offer(unknown)
    notes = [r for r in rows if "has no intent" in r]
    # Only the board's answer to the host's ':do' is the host's: another line in between
    # (the answer to a ':do foo' typed by the user) is not blamed on it.
    rows.clear()
    other = monitor_mod._HostWorker(object(), rows.append, False, sent.append)  # type: ignore[arg-type]
    other.offer('{"intent":"a","score":0.100,"route":"escalate","us":5,"text":"wake me"}')
    other.pending.join()
    other.offer('{"intent":"alarm_set","score":1.000,"route":"host"}')
    other.offer(unknown)
    assert not [r for r in rows if "has no intent" in r]
    assert notes == [
        '  host: the board has no intent "alarm_set", which the host answered (unknown_intent):'
        " the host knows intents the board's model lacks, and the board takes no action for them"
    ]
