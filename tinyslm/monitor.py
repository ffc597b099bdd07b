"""Serial monitor for a flashed board: pretty-print its JSON lines, forward typed lines.

The device speaks the line protocol in docs/architecture.md: one JSON object
per line out, one phrase or ``:info`` per line in. ``tinyslm monitor`` shows
each answer as one readable row and sends every line typed on stdin (or piped
in) to the board, terminated with ``\\n``. Lines that are not JSON (boot logs)
are shown as they are. pyserial comes with PlatformIO.

``tinyslm monitor --wav FILE`` plays a recording into a keyword board instead
(:func:`monitor_wav`): START, AUDIO frames, END of the framed PCM protocol
(:mod:`tinyslm.audio.frames`, docs/audio.md), paced at real time or, when the baud
rate cannot carry real time, as fast as the line does; the board's detection lines
are printed as they come and the run ends at the board's ``{"end":...}`` answer.
"""

from __future__ import annotations

import io
import json
import os
import queue
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from tinyslm.errors import ToolchainError

if TYPE_CHECKING:
    from tinyslm.escalate import Escalated, Escalation

DEFAULT_BAUD = 115200

# The longest device line shown as one row. The firmware's own lines are a few hundred
# bytes; a board that never sends a newline (an ESP32 ROM booting at 74880 baud read at
# 115200 is a stream of garbage) is cut into rows of this size instead of growing
# without bound in the monitor's memory.
MAX_LINE_BYTES = 4096
# Escalated phrases waiting for the host's answer; beyond this a phrase is skipped (and
# said so) rather than queued without bound behind a slow --host-cmd.
MAX_PENDING_ESCALATIONS = 16


def printable(text: str) -> str:
    """``text`` with control characters other than tab written as ``\\xNN`` escapes,
    and lone surrogates (a JSON ``\\ud800`` decodes to one) as ``\\uNNNN``.

    Device bytes go to the user's terminal: an ESC sequence from a board's boot log,
    or garbage read at the wrong baud rate, would otherwise clear the screen or
    reprogram the terminal. The firmware's JSON lines have no control characters
    (json escapes them), so they are unchanged. A surrogate cannot be written as
    UTF-8 at all: printing one raised in the thread that shows the board's lines.
    """

    def shown(ch: str) -> str:
        kind = unicodedata.category(ch)
        if kind == "Cc" and ch != "\t":
            return f"\\x{ord(ch):02x}"
        return f"\\u{ord(ch):04x}" if kind == "Cs" else ch

    return "".join(shown(ch) for ch in text)


def format_device_line(line: str) -> str:
    """One device line as a readable row; non-JSON text comes back unchanged, and so does
    JSON whose values are not of the types the firmware writes (a board at the wrong baud
    rate, another program on the port): any bytes are shown, none ends the monitor."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return line
    if not isinstance(obj, dict):
        return line
    try:
        row = _device_row(obj, line)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return line
    # JSON escapes (\u001b) decode to control characters: the row is made printable again.
    return printable(row)


def _device_row(obj: dict[str, Any], line: str) -> str:
    if "intent" in obj and obj.get("route") == "host":
        return f"{obj.get('intent')!s:<24} host   (the host's answer, acted on)"
    if "intent" in obj:
        row = (
            f"{obj.get('intent')!s:<24} {obj.get('score', 0):.3f}  "
            f"{obj.get('route')!s:<8} {obj.get('us', 0):>7} us"
        )
        if obj.get("route") == "escalate" and "text" in obj:
            row += f"  -> escalate: {json.dumps(obj['text'], ensure_ascii=False)}"
        return row
    if "keyword" in obj:
        return (
            f"{obj.get('keyword')!s:<24} {obj.get('score', 0):.3f}  at "
            f"{obj.get('t_ms', 0) / 1000:.3f} s {obj.get('us', 0):>7} us"
        )
    if isinstance(obj.get("end"), dict):
        end = obj["end"]
        return (
            f"end of stream: {end.get('frames')} frames, {end.get('inferences')} inferences, "
            f"{end.get('detections')} detections"
        )
    if isinstance(obj.get("info"), dict):
        info = obj["info"]
        sha = str(info.get("model_sha256", ""))[:12]
        ops = ",".join(str(op) for op in info.get("ops", []))
        return (
            f"info: tinyslm {info.get('version')} on {info.get('board')}, model {sha}... "
            f"({info.get('model_bytes')} B), arena {info.get('arena_bytes')} B, "
            f"{info.get('labels')} labels, threshold {info.get('threshold')}, ops {ops}"
        )
    if "error" in obj:
        extra = ", ".join(f"{k} {v}" for k, v in obj.items() if k != "error")
        return f"device error: {obj['error']}" + (f" ({extra})" if extra else "")
    return line


def _unread(conn: Any) -> int:
    """Bytes received but not yet read (0 where the port cannot tell)."""
    try:
        return int(conn.in_waiting)
    except Exception:  # closed port or a URL handler without the counter
        return 0


def choose_port(ports: Sequence[Any]) -> str:
    """The board's port among pyserial ``ListPortInfo``-like entries: the only USB one.

    Boards (ESP32 DevKitC, ST-LINK) show up as USB serial ports. Ports without a
    USB id (``hwid`` ``n/a``: a PC's own ``/dev/ttyS0``) are listed but never
    picked, so the monitor does not sit silently on a port no board is on.

    Raises:
        ToolchainError: no USB serial port, or several (each listed; pick one with --port).
    """
    usb = sorted(str(p.device) for p in ports if getattr(p, "vid", None) is not None)
    if len(usb) == 1:
        return usb[0]
    if usb:
        raise ToolchainError(f"several USB serial ports ({', '.join(usb)}); choose one with --port")
    others = sorted(str(p.device) for p in ports)
    seen = f" (not USB, not picked: {', '.join(others)})" if others else ""
    raise ToolchainError(f"no USB serial port found{seen}; plug the board in or pass --port")


def default_port() -> str:
    """The board's serial port (:func:`choose_port` over pyserial's list).

    Raises:
        ToolchainError: none or several candidates (then name one with --port).
    """
    from serial.tools import list_ports

    return choose_port(list_ports.comports())


def spy_log_problem(port: str) -> str | None:
    """Why ``port`` would overwrite a file (one line), or None.

    pyserial's ``spy://`` URL writes its traffic log to the file its ``file=`` option
    names, opened for writing: ``spy://loop://?file=README.md`` emptied the README
    before the first byte was sent. Only a file that is not there yet may be named.
    URLs nest (``alt://spy://...``, ``spy://spy://...``), so every ``spy://`` in
    ``port`` is checked.
    """
    from urllib.parse import parse_qs, urlsplit

    start = port.lower().find("spy://")
    while start >= 0:
        query = urlsplit(port[start:]).query
        for name in parse_qs(query, keep_blank_values=True).get("file", []):
            # A file or a link (to anything) would be emptied; /dev/null or a terminal
            # would not, so they may be named.
            if os.path.islink(name) or os.path.isfile(name):
                return (
                    f"--port {port}: spy:// would overwrite {name} with its log; "
                    "name a file that does not exist yet"
                )
        start = port.lower().find("spy://", start + 1)
    return None


def open_port(port: str, baud: int) -> Any:
    """Open ``port`` (a device path or a pyserial URL such as ``loop://``).

    Raises:
        ToolchainError: it cannot be opened, or a ``spy://`` URL names an existing log
            file (:func:`spy_log_problem`), which pyserial would empty.
    """
    import serial

    problem = spy_log_problem(port)
    if problem is not None:
        raise ToolchainError(problem)
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=0.1)
    except (serial.SerialException, ValueError) as exc:
        raise ToolchainError(f"cannot open serial port {port}: {exc}") from None


def _reader_thread(
    conn: Any,
    stop: threading.Event,
    on_line: Callable[[str], None],
    on_closed: Callable[[Exception], None],
    on_bytes: Callable[[], None] = lambda: None,
) -> threading.Thread:
    """A daemon thread (not started) handing the board's non-empty lines, ``\r\n`` or
    ``\n`` ended, decoded with replacement and made :func:`printable`, to ``on_line``
    until ``stop`` is set; a line longer than :data:`MAX_LINE_BYTES` is handed on in
    pieces of that size. ``on_closed`` gets the error of a port that went away (a board
    unplugged)."""

    def emit(raw_line: bytes) -> None:
        text = printable(raw_line.rstrip(b"\r").decode("utf-8", "replace"))
        if text:
            on_line(text)

    def read() -> None:
        pending = b""
        while not stop.is_set():
            try:
                chunk = conn.read(256)
            except Exception as exc:  # a board unplugged mid-read
                on_closed(exc)
                return
            if not chunk:
                continue
            on_bytes()
            pending += chunk
            while True:
                end = pending.find(b"\n", 0, MAX_LINE_BYTES + 1)
                if end >= 0:
                    emit(pending[:end])
                    pending = pending[end + 1 :]
                elif len(pending) > MAX_LINE_BYTES:
                    emit(pending[:MAX_LINE_BYTES])
                    pending = pending[MAX_LINE_BYTES:]
                else:
                    break

    return threading.Thread(target=read, daemon=True)


# A typed line waits for the board's answer to the one before (at most this long
# without a byte from the board): a file piped in at full speed outran the answers,
# which take longer to send than the phrases, and the board's receive buffer
# overflowed ({"error":"rx_overflow"}, lines dropped). A line the board never answers
# (a phrase typed at a keyword board) only holds the next one this long.
ANSWER_WAIT_S = 2.0
# What the firmware ignores without an answer (tinyslm_core.c is_blank, and line ends).
_BLANK = b" \t\x0b\x0c\r\n"


def _typed_lines(source: BinaryIO) -> Iterator[bytes]:
    """The lines of ``source`` as they are typed, the last one possibly without ``\n``.

    A real file descriptor is read with ``os.read``: the reading thread then holds no
    lock of ``sys.stdin.buffer``, which the interpreter would need at exit (the monitor
    ends while that thread still waits for a line when the board goes away).
    """
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):  # BytesIO, click's test input
        fd = -1
    if fd < 0:
        yield from iter(source.readline, b"")
        return
    pending = b""
    while chunk := os.read(fd, 4096):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def _typing_thread(source: BinaryIO, lines: queue.Queue[bytes | None]) -> threading.Thread:
    """A daemon thread (not started) putting the lines of ``source`` on ``lines``, then
    ``None`` at its end: the monitor waits on the queue, so a port that closes ends the
    session while stdin is still open (it waited for the next typed line, or for ever)."""

    def feed() -> None:
        try:
            for line in _typed_lines(source):
                lines.put(line)
        except (OSError, ValueError):  # stdin closed under the thread
            pass
        finally:
            lines.put(None)

    return threading.Thread(target=feed, daemon=True)


def monitor(
    port: str | None,
    baud: int = DEFAULT_BAUD,
    *,
    stdin: BinaryIO | None = None,
    echo: Callable[[str], None] = print,
    linger: float = 1.0,
    raw: bool = False,
    status: Callable[[str], None] | None = None,
    escalation: Escalation | None = None,
    host_act: bool = True,
) -> None:
    """Show the board's lines and forward stdin lines until stdin closes or Ctrl-C.

    Args:
        port: serial device or pyserial URL; ``None`` picks the only port present.
        baud: baud rate (the firmware's ``TINYSLM_BAUD_RATE``).
        stdin: where typed lines come from (binary); default ``sys.stdin``.
        echo: where formatted rows go.
        linger: seconds to keep reading after stdin closes (answers in flight).
        raw: print device lines unformatted.
        status: where the line naming the port goes (the CLI: stderr).
        escalation: answers each escalated phrase on the host (``--host-model``,
            ``--host-cmd``), in a worker thread so the board's lines keep coming; the
            answer is printed when it is ready (:mod:`tinyslm.escalate`).
        host_act: send the host's sure answers back as ``:do <intent>`` lines, so the
            board acts on them (``tinyslm.escalate.act_line``).

    Raises:
        ToolchainError: the port cannot be opened or found, or it closed (a board
            unplugged, the connection ended) before the session did.
    """
    name = port or default_port()
    conn = open_port(name, baud)
    (status or echo)(
        f"monitor: {name} at {baud} baud" + ("" if port else " (the only USB serial port)")
    )
    # A closed standard input (``<&-``: sys.stdin is None) types nothing, as /dev/null.
    source = stdin if stdin is not None else (sys.stdin.buffer if sys.stdin else io.BytesIO())
    stop = threading.Event()
    closed: list[Exception] = []  # why the port went away, if it did
    last_rx = [time.monotonic()]  # when the reader last got bytes
    answered = threading.Condition()
    awaiting = [0, 0.0]  # typed lines not yet answered, when the last one went out

    lock = threading.Lock()  # rows from the reader and the host worker never interleave
    tx_lock = threading.Lock()  # typed lines and the host's :do lines go out whole

    def show(row: str) -> None:
        with lock:
            echo(row)

    def send(line: bytes) -> None:
        with tx_lock:
            conn.write(line)
            conn.flush()

    host = (
        _HostWorker(escalation, show, raw, send if host_act else None)
        if escalation is not None
        else None
    )

    def on_line(text: str) -> None:
        show(text if raw else format_device_line(text))
        if host is not None:
            host.offer(text)
        with answered:
            awaiting[0] = max(0, int(awaiting[0]) - 1)
            answered.notify_all()

    def on_closed(exc: Exception) -> None:
        closed.append(exc)
        stop.set()

    def wait_for_answer() -> None:
        with answered:
            while awaiting[0] and not stop.is_set():
                idle = time.monotonic() - max(awaiting[1], last_rx[0])
                if idle >= ANSWER_WAIT_S:
                    awaiting[0] = 0  # not answered: the board ignores this kind of line
                    return
                answered.wait(timeout=min(0.05, ANSWER_WAIT_S - idle))

    def on_bytes() -> None:
        last_rx[0] = time.monotonic()

    thread = _reader_thread(conn, stop, on_line, on_closed, on_bytes)
    thread.start()
    typed: queue.Queue[bytes | None] = queue.Queue()
    _typing_thread(source, typed).start()
    try:
        while not stop.is_set():
            try:
                line = typed.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                break
            wait_for_answer()
            if stop.is_set():
                break
            if line.strip(_BLANK):  # counted before it goes: the answer can be quick
                with answered:
                    awaiting[0], awaiting[1] = 1, time.monotonic()
            try:
                send(line.rstrip(b"\r\n") + b"\n")
            except Exception as exc:  # the port went away between two reads
                on_closed(exc)

        def settle() -> None:
            # Answers still in flight: wait until the line has been quiet for `linger`
            # seconds and nothing is left unread (capped, for a board that never stops).
            since = time.monotonic()
            cap = since + max(5.0, 5 * linger)
            while not stop.is_set() and time.monotonic() < cap:
                quiet = time.monotonic() - max(last_rx[0], since)
                if quiet >= linger and not _unread(conn):
                    break
                time.sleep(0.05)

        settle()
        if host is not None and not closed:
            host.finish()
            settle()  # the board's answers to the host's :do lines
    finally:
        stop.set()
        thread.join(timeout=1.0)
        conn.close()
    if closed:
        raise _port_closed(name, closed[0])


def _port_closed(name: str, exc: Exception) -> ToolchainError:
    """The one-line error for a port that went away mid-session."""
    why = " ".join(str(exc).split())
    return ToolchainError(f"serial port {name} closed" + (f": {why}" if why else ""))


class _HostWorker:
    """Answers escalated device lines one at a time in a daemon thread."""

    def __init__(
        self,
        escalation: Escalation,
        show: Callable[[str], None],
        raw: bool,
        send: Callable[[bytes], None] | None = None,
    ) -> None:
        self.escalation, self.show, self.raw, self.send = escalation, show, raw, send
        self.pending: queue.Queue[Escalated] = queue.Queue(MAX_PENDING_ESCALATIONS)
        threading.Thread(target=self._run, daemon=True).start()

    def offer(self, line: str) -> None:
        from tinyslm.escalate import parse_escalation

        esc = parse_escalation(line)
        if esc is None:
            return
        try:
            self.pending.put_nowait(esc)
        except queue.Full:
            self.show(
                f"  host: skipped {json.dumps(esc.text)} ({MAX_PENDING_ESCALATIONS} escalations "
                "already waiting for an answer)"
            )

    def _run(self) -> None:
        from tinyslm.escalate import act_line, answer_of, format_host_answer, host_line

        while True:
            esc = self.pending.get()
            answer = answer_of(self.escalation, esc)
            row = host_line(answer) if self.raw else format_host_answer(answer)
            self.show(printable(row))
            act = act_line(answer)
            if act is not None and self.send is not None:
                try:
                    self.send(act)
                except Exception as exc:  # a board unplugged meanwhile
                    self.show(f"  host: could not send {act!r}: {exc}")
            self.pending.task_done()

    def finish(self) -> None:
        """Wait for the phrases already queued to be answered: each may take a program
        its whole timeout, so the wait is capped at that per phrase."""
        from tinyslm.escalate import DEFAULT_TIMEOUT_S

        per = float(getattr(self.escalation, "timeout_s", DEFAULT_TIMEOUT_S))
        deadline = time.monotonic() + per * (self.pending.unfinished_tasks + 1) + 5.0
        while self.pending.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)


# Bits per byte on a UART line (8N1: start, 8 data, stop).
BITS_PER_BYTE = 10


def frame_interval(samples: int, frame_bytes: int, baud: int, sample_rate: int = 16000) -> float:
    """Seconds between two frames: the audio they carry (real time), or the time the
    line takes to carry them when the baud rate is too low for real time."""
    return max(samples / sample_rate, frame_bytes * BITS_PER_BYTE / baud)


def monitor_wav(
    wav: Any,
    port: str | None,
    baud: int = DEFAULT_BAUD,
    *,
    echo: Callable[[str], None] = print,
    raw: bool = False,
    pace: bool = True,
    status: Callable[[str], None] | None = None,
    end_timeout: float = 10.0,
) -> list[str]:
    """Play a WAV into a keyword board over the serial line; print and return its lines.

    Args:
        wav: the recording (16 kHz mono 16-bit PCM; refused in one line otherwise).
        port: serial device or pyserial URL; ``None`` picks the only USB port present.
        baud: the firmware's ``TINYSLM_BAUD_RATE``.
        pace: send at real time (or the line's rate); ``False`` sends as fast as the
            port takes it (emulators, boards with flow control).
        end_timeout: seconds to wait after END for the board's ``{"end":...}`` line.

    Raises:
        DatasetError: the WAV is refused.
        ToolchainError: the port cannot be opened or found, or it closed before the
            board's end-of-stream answer.
    """
    from tinyslm.audio.frames import (
        FRAME_AUDIO,
        FRAME_END,
        FRAME_START,
        SAMPLES_PER_FRAME,
        encode_frame,
    )
    from tinyslm.audio.wav import read_wav

    samples = read_wav(wav)  # before the port: a bad file costs nothing
    name = port or default_port()
    conn = open_port(name, baud)
    seconds = len(samples) / 16000
    (status or echo)(f"monitor: {wav} ({seconds:.1f} s) to {name} at {baud} baud")
    stop = threading.Event()
    ended = threading.Event()
    closed: list[Exception] = []  # why the port went away, if it did
    lines: list[str] = []

    def on_line(text: str) -> None:
        lines.append(text)
        echo(text if raw else format_device_line(text))
        if text.startswith('{"end":'):
            ended.set()

    def on_closed(exc: Exception) -> None:
        closed.append(exc)
        ended.set()

    thread = _reader_thread(conn, stop, on_line, on_closed)
    thread.start()
    try:
        pcm = samples.astype("<i2").tobytes()
        step = SAMPLES_PER_FRAME * 2
        frames = [encode_frame(FRAME_START, 0)]
        frames += [
            encode_frame(FRAME_AUDIO, (i + 1) & 0xFF, pcm[at : at + step])
            for i, at in enumerate(range(0, len(pcm), step))
        ]
        frames.append(encode_frame(FRAME_END, len(frames) & 0xFF))
        start = time.monotonic()
        due = 0.0
        for frame in frames:
            if closed:
                break
            if pace:
                wait = start + due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                due += frame_interval((len(frame) - 8) // 2, len(frame), baud)
            try:
                conn.write(frame)
                conn.flush()
            except Exception as exc:  # the port went away between two reads
                on_closed(exc)
        if not ended.wait(end_timeout):
            echo(f"no end-of-stream answer from the board within {end_timeout:g} s")
    finally:
        stop.set()
        thread.join(timeout=1.0)
        conn.close()
    if closed:
        raise _port_closed(name, closed[0])
    return lines
