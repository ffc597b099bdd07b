"""``tinyslm monitor`` through pyserial's ``loop://`` port (what is written comes back)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_serial import FakePort, use_port

from tinyslm import monitor as monitor_module
from tinyslm.cli import cli
from tinyslm.errors import ToolchainError
from tinyslm.monitor import (
    MAX_LINE_BYTES,
    _reader_thread,
    choose_port,
    format_device_line,
    shown_line,
)

# The end of a piped session on loop://, which echoes the phrases typed (answering none).
LOOP_NOTE = (
    "  monitor: the board did not answer {n} sent, though it sent other lines (a keyword "
    "board answers only ':' commands such as ':info'; a text board answers every line: is "
    "it running a tinyslm project's firmware at 115200 baud?)"
)

INFO = (
    '{"info":{"version":"0.1.0","board":"esp32","model_sha256":"'
    + "ab" * 32
    + '","model_bytes":12345,"arena_bytes":4096,"ops":["FULLY_CONNECTED","GATHER"],'
    '"labels":8,"threshold":0.550}}'
)


def test_format_device_lines() -> None:
    local = format_device_line('{"intent":"lights_on","score":0.930,"route":"local","us":812}')
    assert local.split() == ["lights_on", "0.930", "local", "812", "us"]
    esc = format_device_line(
        '{"intent":"lights_on","score":0.412,"route":"escalate","us":799,"text":"dim \\"it\\""}'
    )
    assert esc.split()[:4] == ["lights_on", "0.412", "escalate", "799"]
    assert esc.endswith('-> escalate: "dim \\"it\\""')
    host = format_device_line('{"intent":"lights_on","route":"host"}')
    assert host.split() == ["lights_on", "host", "(the", "host's", "answer,", "acted", "on)"]
    info = format_device_line(INFO)
    assert info.startswith("info: tinyslm 0.1.0 on esp32, model abababababab... (12345 B)")
    assert "ops FULLY_CONNECTED,GATHER" in info and "threshold 0.55" in info
    assert format_device_line('{"error":"line_too_long","max":256}') == (
        "device error: line_too_long (max 256)"
    )
    assert format_device_line("I (312) boot: ESP-IDF v5.3") == "I (312) boot: ESP-IDF v5.3"


@pytest.mark.parametrize(
    "line",
    [
        '{"intent":"x","score":"a"}',
        '{"intent":"x","us":null}',
        '{"keyword":"k","t_ms":"5"}',
        '{"info":{"ops":5}}',
        '{"intent":"x","score":' + "1" * 400 + "}",
        "[" * 3000,
    ],
)
def test_json_of_unexpected_types_is_shown_as_it_came(line: str) -> None:
    """Valid JSON with values the firmware never writes (another program on the port):
    before round 32 formatting it raised in the reader thread, which died, so the
    monitor showed nothing more for the rest of the session."""
    assert format_device_line(line) == line


def test_escapes_in_json_strings_reach_the_terminal_escaped() -> None:
    """A JSON escape decodes to a control character (an OSC sequence retitles the
    terminal) or to a lone surrogate (which printing cannot encode): both are shown as
    escapes, and the session goes on."""
    fields = ',"score":0.9,"t_ms":5,"us":7}'
    osc = format_device_line('{"keyword":"\\u001b]0;pwned\\u0007"' + fields)
    assert "\x1b" not in osc and "\x07" not in osc and osc.startswith("\\x1b]0;pwned\\x07")
    sur = format_device_line('{"keyword":"\\ud800"' + fields)
    assert sur.startswith("\\ud800") and sur.encode("utf-8")
    typed = '{"keyword":"\\ud800"}\n{"intent":"x","score":"a"}\nafter\n'
    result = CliRunner().invoke(cli, ["monitor", "--port", "loop://"], input=typed)
    assert result.exit_code == 0, result.output
    # loop:// echoes each line: no answer to any (round 49: the last row says so).
    assert result.stdout.splitlines()[1:3] == ['{"intent":"x","score":"a"}', "after"]
    assert result.stdout.splitlines()[3:] == [LOOP_NOTE.format(n="any of the 3 phrases")]


def test_monitor_forwards_lines_and_pretty_prints_answers() -> None:
    # loop:// echoes what the monitor forwards, so the typed lines come back as
    # device lines: that proves forwarding (with "\n" terminators) and formatting.
    typed = '{"intent":"fan_on","score":0.875,"route":"local","us":90}\r\n' + INFO + "\n"
    result = CliRunner().invoke(cli, ["monitor", "--port", "loop://"], input=typed)
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["fan_on", "0.875", "local", "90", "us"]
    assert rows[1].startswith("info: tinyslm 0.1.0 on esp32")
    assert len(rows) == 2

    raw = CliRunner().invoke(cli, ["monitor", "--port", "loop://", "--raw"], input=typed)
    assert raw.stdout.splitlines() == typed.replace("\r", "").splitlines()


class _ScriptedPort:
    """A serial connection that returns the given chunks, then nothing, as reads."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.drained = threading.Event()

    def read(self, size: int) -> bytes:
        if not self.chunks:
            self.drained.set()
            return b""
        chunk = self.chunks.pop(0)
        assert len(chunk) <= size
        return chunk


def _lines_read(chunks: list[bytes]) -> list[str]:
    port = _ScriptedPort(chunks)
    stop = threading.Event()
    lines: list[str] = []
    thread = _reader_thread(port, stop, lines.append, lambda exc: stop.set())
    thread.start()
    assert port.drained.wait(10.0)
    stop.set()
    thread.join(timeout=5.0)
    return lines


def test_reader_escapes_control_bytes_and_bounds_a_line_without_newline() -> None:
    # An ESC sequence in a boot log (it would clear the user's terminal), a bell, a
    # lone \r mid-line and invalid UTF-8 come out as visible text; tabs stay tabs.
    # The JSON answer after them is untouched. The reader hands on the decoded line (an
    # escalated phrase is forwarded as the board sent it, round 46); it is shown escaped.
    answer = b'{"keyword":"yes","score":0.912,"t_ms":1400,"us":5120}'
    lines = _lines_read([b"boot\x1b[2J\x07 ok\tdone\r\n", b"a\rb\xff\x00\n", answer + b"\r\n"])
    assert lines == ["boot\x1b[2J\x07 ok\tdone", "a\rb\ufffd\x00", answer.decode()]
    assert [shown_line(line) for line in lines] == [
        "boot\\x1b[2J\\x07 ok\tdone",
        "a\\x0db\ufffd\\x00",
        answer.decode(),
    ]
    # A board that never ends a line (an ESP32 ROM's 74880-baud boot read at 115200)
    # is shown in rows of MAX_LINE_BYTES, not held in memory until a newline comes.
    # One note says so, after the first row (round 42: two raw fragments were silent).
    flood = [b"x" * 256] * (3 * MAX_LINE_BYTES // 256 + 1)
    rest = 256 * len(flood) - 3 * MAX_LINE_BYTES  # MAX_LINE_BYTES need not be 256s
    rows = _lines_read([*flood, b"\n", answer + b"\n"])
    assert [len(row) for row in rows[:1] + rows[2:4]] == [MAX_LINE_BYTES] * 3
    assert rows[1].startswith(f"(the line above is longer than {MAX_LINE_BYTES} bytes")
    assert rows[4:] == ["x" * rest, answer.decode()]


def test_monitor_shows_control_bytes_escaped() -> None:
    typed = "\x1b]0;owned\x07title\n"
    note = LOOP_NOTE.format(n="the phrase")  # loop:// echoes it: no answer (round 49)
    for flags, end in (([], [note]), (["--raw"], [])):  # --raw: notes go to stderr
        result = CliRunner().invoke(cli, ["monitor", "--port", "loop://", *flags], input=typed)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == ["\\x1b]0;owned\\x07title", *end]


def test_monitor_bad_port() -> None:
    result = CliRunner().invoke(cli, ["monitor", "--port", "/dev/nonexistent-tty"], input="")
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot open serial port /dev/nonexistent-tty")
    assert len(result.output.splitlines()) == 1


@pytest.mark.parametrize(
    "url",
    [
        "spy:///dev/nonexistent-tty?file={log}",
        "spy:///dev/nonexistent-tty?raw&file={log}",
        "alt://spy:///dev/nonexistent-tty?file={log}",
    ],
)
def test_monitor_spy_url_never_overwrites_a_file(tmp_path: Path, url: str) -> None:
    # pyserial opens a spy:// URL's log file for writing while it parses the URL, before
    # the port is opened: a helper's 'spy://loop://?file=README.md' emptied the README.
    kept = tmp_path / "notes.txt"
    kept.write_text("the user's notes\n")
    port = url.format(log=kept)
    result = CliRunner().invoke(cli, ["monitor", "--port", port], input="")
    assert result.exit_code == 1
    assert kept.read_text() == "the user's notes\n"
    assert result.output == (
        f"error: --port {port}: spy:// would overwrite {kept} with its log; "
        "name a file that does not exist yet\n"
    )


def test_monitor_spy_url_may_name_a_new_log(tmp_path: Path) -> None:
    new = tmp_path / "serial.log"
    for log in (new, "/dev/null"):  # nothing there to lose
        port = f"spy:///dev/nonexistent-tty?file={log}"
        result = CliRunner().invoke(cli, ["monitor", "--port", port], input="")
        # Past the check: pyserial opened the log, then found no such device.
        assert result.output.startswith(f"error: cannot open serial port {port}")
    # The empty log it created for a port that never opened is gone (round 44).
    assert not new.exists()


class _Port:
    """A pyserial ListPortInfo as far as choose_port looks (device, USB vid)."""

    def __init__(self, device: str, vid: int | None) -> None:
        self.device = device
        self.vid = vid


def test_choose_port_picks_the_only_usb_port() -> None:
    ports = [_Port("/dev/ttyS0", None), _Port("/dev/ttyUSB0", 0x10C4)]
    assert choose_port(ports) == "/dev/ttyUSB0"


@pytest.mark.parametrize(
    ("ports", "needles"),
    [
        ([], ("no USB serial port found; plug the board in or pass --port",)),
        # A PC's own UART (no USB id, what Linux lists as /dev/ttyS0) is never picked.
        ([_Port("/dev/ttyS0", None)], ("no USB serial port found", "not picked: /dev/ttyS0")),
        (
            [_Port("/dev/ttyUSB0", 0x10C4), _Port("/dev/ttyACM0", 0x0483)],
            ("several USB serial ports (/dev/ttyACM0, /dev/ttyUSB0)", "--port"),
        ),
    ],
    ids=["none", "only-a-legacy-uart", "ambiguous"],
)
def test_choose_port_refuses(ports: list[_Port], needles: tuple[str, ...]) -> None:
    with pytest.raises(ToolchainError) as err:
        choose_port(ports)
    for needle in needles:
        assert needle in str(err.value)


def test_monitor_without_port_refuses_a_legacy_uart(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [_Port("/dev/ttyS0", None)])
    result = CliRunner().invoke(cli, ["monitor"], input="")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: no USB serial port found (not USB, not picked: /dev/ttyS0); plug the board in "
        "or pass --port"
    ]


def test_monitor_says_which_port_it_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [_Port("loop://", 0x10C4)])
    result = CliRunner().invoke(cli, ["monitor"], input="")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "monitor: loop:// at 115200 baud (the only USB serial port)"
    ]
    named = CliRunner().invoke(cli, ["monitor", "--port", "loop://", "--baud", "9600"], input="")
    assert named.stderr.splitlines() == ["monitor: loop:// at 9600 baud"]


def test_monitor_with_a_closed_stdin_types_nothing() -> None:
    # sys.stdin is None with descriptor 0 closed: it was an AttributeError traceback.
    from cli_support import run_cli

    result = run_cli("monitor", "--port", "loop://", close_stdin=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["monitor: loop:// at 115200 baud"]


class _SlowBoard(FakePort):
    """A board that answers each non-blank line ``delay`` s after it arrives (never,
    with ``delay`` None) and counts lines that came while one was still unanswered."""

    def __init__(self, delay: float | None) -> None:
        super().__init__()
        self.delay = delay
        self.lines: list[bytes] = []
        self.unanswered = 0
        self.overlapped = 0

    def write(self, data: bytes) -> int:
        super().write(data)
        *lines, rest = bytes(self.written).split(b"\n")
        self.written[:] = rest
        for line in lines:
            self.lines.append(line)
            if not line.strip():
                continue
            with self.lock:
                self.overlapped += self.unanswered > 0
                self.unanswered += 1
            if self.delay is not None:
                threading.Timer(self.delay, self._answer).start()
        return len(data)

    def _answer(self) -> None:
        with self.lock:
            self.unanswered -= 1
        self.answer(b'{"intent":"lights_on","score":0.900,"route":"local","us":5}\n')


def test_piped_lines_wait_for_the_answer_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file piped in went out at full speed; the board's answers take longer to send
    than the phrases, so its receive buffer overflowed and lines were lost. Each line
    now waits for the answer to the one before; blank lines get none and hold nothing."""
    board = _SlowBoard(0.15)
    use_port(monkeypatch, board)
    rows: list[str] = []
    typed = io.BytesIO(b"lights on\nlights off\n\n \t\nopen the door\n:info\n")
    monitor_module.monitor("fake", stdin=typed, echo=rows.append, linger=0.3)
    assert board.lines == [b"lights on", b"lights off", b"", b" \t", b"open the door", b":info"]
    assert board.overlapped == 0
    assert sum(row.startswith("lights_on") for row in rows) == 4


def test_a_line_the_board_never_answers_holds_the_next_one_only_so_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    board = _SlowBoard(None)
    use_port(monkeypatch, board)
    monkeypatch.setattr(monitor_module, "ANSWER_WAIT_S", 0.3)
    start = time.monotonic()
    # Not a byte back: the session fails at its end, saying so (round 49), for lines with
    # a ':' command among them (every tinyslm board answers one; a keyword board no phrase).
    with pytest.raises(ToolchainError, match="no byte came back from the board on fake"):
        monitor_module.monitor("fake", stdin=io.BytesIO(b"a\n:b\nc\n"), echo=lambda _: None,
                               linger=0.1)  # fmt: skip
    took = time.monotonic() - start
    assert board.lines == [b"a", b":b", b"c"]
    assert 0.6 <= took < 3.0, took
