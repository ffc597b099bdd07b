"""Serial monitor for a flashed board: pretty-print its JSON lines, forward typed lines.

The device speaks the line protocol in docs/architecture.md: one JSON object
per line out, one phrase or ``:info`` per line in. ``tinyslm monitor`` shows
each answer as one readable row and sends every line typed on stdin (or piped
in; ended by ``\\n``, ``\\r`` or ``\\r\\n``, as the device ends one) to the board,
terminated with ``\\n``, each after the answer to the one before. Lines that are
not JSON (boot logs) are shown as they are. pyserial is a declared dependency.

``tinyslm monitor --wav FILE`` plays a recording into a keyword board instead
(:func:`monitor_wav`): START, AUDIO frames, END of the framed PCM protocol
(:mod:`tinyslm.audio.frames`, docs/audio.md), paced at real time or, when the baud
rate cannot carry real time, as fast as the line does; the board's detection lines
are printed as they come and the run ends at the board's ``{"end":...}`` answer.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import queue
import sys
import threading
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from tinyslm.errors import ToolchainError
from tinyslm.text.dataset import MAX_LINE_LIMIT

if TYPE_CHECKING:
    from tinyslm.escalate import Escalated, Escalation

DEFAULT_BAUD = 115200

# The most bytes the firmware writes for one byte of a phrase it echoes in an escalation's
# "text": "\ufffd" for a byte that is not UTF-8, "\u00XX" for a control byte.
MAX_ESCAPED_BYTE = len("\\ufffd")
# An escalation line's bytes besides its "text": its keys, score, route, a 10-digit "us"
# and the intent's name (a label, escaped too), with room to spare.
LINE_OVERHEAD_BYTES = 1024
# The longest device line shown as one row: the longest line the firmware can write, an
# escalation of a full TINYSLM_MAX_LINE phrase (at most MAX_LINE_LIMIT bytes) with every
# byte escaped, so that it reaches the host worker whole (at 4096 bytes such a line was
# cut and never forwarded). A board that never sends a newline (an ESP32 ROM booting at
# 74880 baud read at 115200 is a stream of garbage) is cut into rows of this size, with
# a note, instead of growing without bound in the monitor's memory.
MAX_LINE_BYTES = MAX_LINE_LIMIT * MAX_ESCAPED_BYTE + LINE_OVERHEAD_BYTES
# Escalated phrases waiting for the host's answer; beyond this a phrase is skipped (and
# said so) rather than queued without bound behind a slow --host-cmd.
MAX_PENDING_ESCALATIONS = 16


# Unicode's Bidi_Control characters (category Cf): marks, embeddings, overrides, isolates.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def printable(text: str, *, json_escapes: bool = False) -> str:
    """``text`` with control characters other than tab written as ``\\xNN`` escapes
    (``json_escapes``: as ``\\u00NN``, which is also a JSON string's escape, so a JSON
    line stays JSON), and lone surrogates (a JSON ``\\ud800`` decodes to one), line and
    paragraph separators (U+2028, U+2029) and bidi controls (U+202E...) as ``\\uNNNN``.

    Device bytes go to the user's terminal: an ESC sequence from a board's boot log,
    or garbage read at the wrong baud rate, would otherwise clear the screen or
    reprogram the terminal. The firmware's JSON lines escape the controls below 0x20
    but pass DEL and C1 controls (U+0080-U+009F) through: with ``json_escapes`` those
    become their JSON escapes, as a separator or bidi control does (the same string).
    A surrogate cannot be written as UTF-8 at all: printing one raised in the thread
    that shows the board's lines.
    """

    def shown(ch: str) -> str:
        kind = unicodedata.category(ch)
        if kind == "Cc" and ch != "\t":
            return f"\\u{ord(ch):04x}" if json_escapes else f"\\x{ord(ch):02x}"
        # A line or paragraph separator breaks a row in some terminals, and a bidi
        # control reorders what follows it on screen ('gnp.exe' shown as 'exe.png').
        if kind in ("Cs", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            return f"\\u{ord(ch):04x}"
        return ch

    return "".join(shown(ch) for ch in text)


def shown_line(line: str) -> str:
    """A device line (decoded, as the board sent it) as shown without formatting: made
    :func:`printable`, a line that is JSON with JSON's escapes, so it stays JSON (the
    firmware passes DEL and C1 controls such as U+0085 through unescaped, and ``\\x7f``
    is no JSON escape)."""
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return printable(line)
    # Parsed strictly, a JSON line holds a raw control character below 0x20 only as
    # whitespace between tokens: a tab stays, a carriage return becomes a space (as
    # \u000d it would no longer be JSON). DEL and C1 ones can only be inside strings.
    return printable(line.replace("\r", " "), json_escapes=True)


def format_device_line(line: str) -> str:
    """One device line (decoded, as the board sent it) as a readable row; non-JSON text
    and JSON of another shape than the firmware's (a board at the wrong baud rate,
    another program on the port) are shown as they came (:func:`shown_line`): a field the
    firmware always writes missing or of another type (a bool or NaN score, a string of
    ops) would otherwise show made-up values. Any bytes are shown, none ends the
    monitor."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return printable(line)
    if not isinstance(obj, dict):
        return shown_line(line)
    try:
        row = _device_row(obj)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return shown_line(line)
    if row is None:
        return shown_line(line)
    # JSON escapes (\u001b) decode to control characters: the row is made printable again.
    return printable(row)


def _is_count(value: object) -> bool:
    """An unsigned integer, as the firmware's ``tinyslm_json_uint`` writes (JSON ``true``
    is a bool, which Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_score(value: object) -> bool:
    """A finite number, as ``tinyslm_json_milli`` writes (never a bool, NaN or inf)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer of hundreds of digits
        return False


def _device_row(obj: dict[str, Any]) -> str | None:
    """The row for one of the firmware's line shapes, or None for any other JSON."""
    if "intent" in obj:
        intent, route = obj["intent"], obj.get("route")
        if not isinstance(intent, str) or not isinstance(route, str):
            return None
        if route == "host":
            return f"{intent:<24} host   (the host's answer, acted on)"
        score, us, text = obj.get("score"), obj.get("us"), obj.get("text")
        if not _is_score(score) or not _is_count(us):
            return None
        row = f"{intent:<24} {score:.3f}  {route:<8} {us:>7} us"
        if route == "escalate":
            if not isinstance(text, str):  # the firmware echoes every escalated phrase
                return None
            quoted = printable(json.dumps(text, ensure_ascii=False), json_escapes=True)
            row += f"  -> escalate: {quoted}"
        return row
    if "keyword" in obj:
        keyword, score, t_ms, us = obj["keyword"], obj.get("score"), obj.get("t_ms"), obj.get("us")
        if not (isinstance(keyword, str) and _is_score(score) and _is_count(t_ms)):
            return None
        if not _is_count(us):
            return None
        return f"{keyword:<24} {score:.3f}  at {obj['t_ms'] / 1000:.3f} s {us:>7} us"
    if "end" in obj:
        end = obj["end"]
        counts = ("frames", "inferences", "detections")
        if not isinstance(end, dict) or not all(_is_count(end.get(k)) for k in counts):
            return None
        return "end of stream: " + ", ".join(_counted(end[k], k) for k in counts)
    if "info" in obj:
        return _info_row(obj["info"])
    if "error" in obj:
        if not isinstance(obj["error"], str):
            return None
        extra = ", ".join(f"{k} {v}" for k, v in obj.items() if k != "error")
        return f"device error: {obj['error']}" + (f" ({extra})" if extra else "")
    return None


def _counted(n: int, plural: str) -> str:
    """``1 frame``, ``3 frames``: a count with its noun (given in the plural)."""
    return f"{n} {plural[:-1] if n == 1 else plural}"


def _info_row(info: object) -> str | None:
    """The ``:info`` answer's row, or None when it is not of the firmware's shape."""
    if not isinstance(info, dict):
        return None
    texts = [info.get(k) for k in ("version", "board", "model_sha256")]
    counts = [info.get(k) for k in ("model_bytes", "arena_bytes", "labels")]
    ops = info.get("ops")
    if not all(isinstance(t, str) for t in texts) or not all(_is_count(c) for c in counts):
        return None
    if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
        return None
    if not _is_score(info.get("threshold")):
        return None
    return (
        f"info: tinyslm {info['version']} on {info['board']}, model "
        f"{info['model_sha256'][:12]}... ({info['model_bytes']} B), arena "
        f"{info['arena_bytes']} B, {info['labels']} labels, threshold {info['threshold']}, "
        f"ops {','.join(ops)}"
    )


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
    for name in _spy_log_names(port):
        # A file or a link (to anything) would be emptied; /dev/null or a terminal
        # would not, so they may be named.
        if os.path.islink(name) or os.path.isfile(name):
            return (
                f"--port {port}: spy:// would overwrite {name} with its log; "
                "name a file that does not exist yet"
            )
    return None


def _spy_log_names(port: str) -> list[str]:
    """The ``file=`` log names of every ``spy://`` in ``port`` (URLs nest)."""
    from urllib.parse import parse_qs, urlsplit

    names: list[str] = []
    start = port.lower().find("spy://")
    while start >= 0:
        query = urlsplit(port[start:]).query
        names += parse_qs(query, keep_blank_values=True).get("file", [])
        start = port.lower().find("spy://", start + 1)
    return names


def _remove_new_empty(names: Sequence[str]) -> None:
    """Remove each of ``names`` that is now an empty regular file: called only with the
    names that did not exist before the port was opened, so each is a log pyserial made."""
    for name in names:
        try:
            if not os.path.islink(name) and os.path.isfile(name) and os.path.getsize(name) == 0:
                os.unlink(name)
        except OSError:
            pass  # the open error is the one to report


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
    # pyserial's spy:// creates its log before it opens the port: a port that fails to
    # open left an empty log behind. Only names not there now are removed then.
    new_logs = [name for name in _spy_log_names(port) if not os.path.lexists(name)]
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=0.1)
    except (serial.SerialException, ValueError) as exc:
        _remove_new_empty(new_logs)
        raise ToolchainError(f"cannot open serial port {port}: {exc}") from None
    except BaseException:
        _remove_new_empty(new_logs)
        raise


# What follows a last line the board sent without a line end, shown when the port
# closes or the session ends.
UNTERMINATED_MARK = "  (unterminated: no line end came after it)"


def _cut_note() -> str:
    return (
        f"(the line above is longer than {MAX_LINE_BYTES} bytes, more than any line the "
        "firmware writes: it goes on in the next rows)"
    )


def _reader_thread(
    conn: Any,
    stop: threading.Event,
    on_line: Callable[[str], None],
    on_closed: Callable[[Exception], None],
    on_bytes: Callable[[], None] = lambda: None,
    *,
    on_note: Callable[[str], None] | None = None,
    on_failed: Callable[[Exception], None] | None = None,
) -> threading.Thread:
    """A daemon thread (not started) handing the board's non-empty lines, ``\r\n`` or
    ``\n`` ended, decoded with replacement, to ``on_line`` until ``stop`` is set. They
    come as the board sent them (an escalated phrase holding DEL is forwarded as it
    is): ``on_line`` makes them printable to show them (:func:`shown_line`,
    :func:`format_device_line`). Notes are printable already.

    A line longer than :data:`MAX_LINE_BYTES` is handed on in pieces of that size, with
    one note (to ``on_note``, default ``on_line``) after the first; a last line without
    a line end, when the port closes or ``stop`` is set, goes to ``on_note`` marked
    :data:`UNTERMINATED_MARK`. ``on_closed`` gets the error of a port that went away (a
    board unplugged); ``on_failed`` any other exception, which ends the thread (without
    it the exception is raised in the thread, as before).
    """
    note = on_note if on_note is not None else on_line

    def decoded(raw_line: bytes) -> str:
        return raw_line.rstrip(b"\r").decode("utf-8", "replace")

    def text_of(raw_line: bytes) -> str:
        return printable(decoded(raw_line))

    def emit(raw_line: bytes) -> None:
        text = decoded(raw_line)
        if text:
            on_line(text)

    def read() -> None:
        pending = b""
        cut = False  # the line in `pending` began in a piece already handed on
        try:
            while not stop.is_set():
                try:
                    chunk = conn.read(256)
                except Exception as exc:  # a board unplugged mid-read
                    if text_of(pending):
                        note(text_of(pending) + UNTERMINATED_MARK)
                    on_closed(exc)
                    return
                if not chunk:
                    continue
                on_bytes()
                # Only the new bytes can hold the line's end: pending has none.
                at = len(pending)
                pending += chunk
                while True:
                    end = pending.find(b"\n", at, MAX_LINE_BYTES + 1)
                    at = 0
                    if end >= 0:
                        emit(pending[:end])
                        pending, cut = pending[end + 1 :], False
                    elif len(pending) > MAX_LINE_BYTES:
                        emit(pending[:MAX_LINE_BYTES])
                        if not cut:
                            note(_cut_note())
                        pending, cut = pending[MAX_LINE_BYTES:], True
                    else:
                        break
            # The session ended: what the board sent of a line it did not end yet.
            if text_of(pending):
                note(text_of(pending) + UNTERMINATED_MARK)
        except Exception as exc:
            if on_failed is None:
                raise
            on_failed(exc)

    return threading.Thread(target=read, daemon=True)


# A typed line waits for the board's answer to the one before (at most this long
# without a byte from the board): a file piped in at full speed outran the answers,
# which take longer to send than the phrases, and the board's receive buffer
# overflowed ({"error":"rx_overflow"}, lines dropped). A line the board never answers
# (a phrase typed at a keyword board) only holds the next one this long.
ANSWER_WAIT_S = 2.0
# What the firmware ignores without an answer (tinyslm_core.c is_blank, and line ends).
_BLANK = b" \t\x0b\x0c\r\n"


def _line_end(data: bytes, start: int) -> int:
    """Where the first line end at or after ``start`` is (its last byte), or -1: a
    ``\n``, or a ``\r`` not followed by ``\n`` (a ``\r`` last in ``data`` ends a line,
    and a ``\n`` coming next is then dropped by the caller)."""
    lf, cr = data.find(b"\n", start), data.find(b"\r", start)
    while cr >= 0 and (lf < 0 or cr < lf):
        if data[cr + 1 : cr + 2] != b"\n":
            return cr
        cr = data.find(b"\r", cr + 1)
    return lf


def _typed_lines(source: BinaryIO) -> Iterator[bytes]:
    """The lines of ``source`` as they are typed, each with its line end, the last one
    possibly without one.

    A line ends at ``\n``, at ``\r`` (the device ends one there too, as emulate's input
    does) or at ``\r\n`` (one end, not a line and an empty one): CR-only input went out
    as one burst, unpaced, and overflowed the board's receive buffer.

    A real file descriptor is read with ``os.read``: the reading thread then holds no
    lock of ``sys.stdin.buffer``, which the interpreter would need at exit (the monitor
    ends while that thread still waits for a line when the board goes away).
    """
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):  # BytesIO, click's test input
        fd = -1
    if fd >= 0:
        chunks: Iterator[bytes] = iter(lambda: os.read(fd, 4096), b"")
    else:
        read = getattr(source, "read1", None)
        chunks = iter(lambda: read(4096) if read is not None else source.readline(), b"")
    pending = b""
    after_cr = False  # the last line ended at "\r": a "\n" next is part of that end
    for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        # Only the new bytes can end a line: a "\r" ending pending would have ended one.
        start, at = 0, len(pending)
        pending += chunk
        while (at := _line_end(pending, at)) >= 0:
            yield pending[start : at + 1]
            start = at = at + 1
        after_cr = start == len(pending) and pending.endswith(b"\r")
        pending = pending[start:]
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


def _echo_encodable(echo: Callable[[str], None], row: str) -> None:
    """``echo(row)``; where the output's encoding cannot write a character (cp1252 has no
    U+FFFD, which every undecodable byte from the board becomes), written as its escape
    (``\\ufffd``) instead: a row that could not be printed killed the reader thread."""
    try:
        echo(row)
    except UnicodeEncodeError as exc:
        try:
            shown = row.encode(exc.encoding, "backslashreplace").decode(exc.encoding)
        except (LookupError, UnicodeError):
            shown = row.encode("ascii", "backslashreplace").decode("ascii")
        echo(shown)


class _Output:
    """Rows to ``echo`` from several threads, one at a time, none of them ever killed by
    a row: the first failure (the output closed, a full disk) goes to ``failed`` as the
    session's one error line and later rows are dropped. Each row is made
    :func:`printable` here too (which leaves a printable row as it is): a note quoting
    what a board or a host program wrote reached the terminal raw."""

    def __init__(
        self, echo: Callable[[str], None], failed: Callable[[ToolchainError], None]
    ) -> None:
        self.echo, self.failed = echo, failed
        self.lock = threading.Lock()
        self.broken = False

    def __call__(self, row: str) -> None:
        with self.lock:
            if self.broken:
                return
            try:
                _echo_encodable(self.echo, printable(row))
            except Exception as exc:
                self.broken = True
                self.failed(_output_error(exc))


def _output_error(exc: Exception) -> ToolchainError:
    """The one-line error for output that could not be written."""
    if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
        _drop_broken_stdout()
        # One line on stderr, not a quiet end: the monitor is a session, and a reader
        # that went away (`| head -1`) ended it; stdout, the data, stays clean.
        return ToolchainError("monitor stopped: its output was closed (the reader went away)")
    why = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    return ToolchainError(f"monitor stopped: cannot write the board's lines: {why}")


def _unexpected_error(where: str, exc: Exception) -> ToolchainError:
    """The one-line error for a bug in the ``where`` thread: the session ends, where it
    went on deaf."""
    why = " ".join(str(exc).split())
    return ToolchainError(
        f"monitor stopped: unexpected {type(exc).__name__} in {where}" + (f": {why}" if why else "")
    )


def _drop_broken_stdout() -> None:
    """Point a standard output whose reader went away at /dev/null (the Python docs'
    recipe for SIGPIPE): its unwritten rows are flushed again at exit, which printed
    a second error, "Exception ignored ... BrokenPipeError". Another output is left."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.flush()
        return  # standard output is fine: the row went elsewhere
    except BrokenPipeError:
        pass
    except (OSError, ValueError):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
    finally:
        os.close(devnull)


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
        raw: print device lines unformatted (:func:`shown_line`: a JSON line stays JSON)
            and the host's answers as ``{"host":...}`` lines; the monitor's notes then go
            to ``status``, so that ``echo`` gets nothing else.
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
    _echo_encodable(
        status or echo,
        f"monitor: {name} at {baud} baud" + ("" if port else " (the only USB serial port)"),
    )
    # A closed standard input (``<&-``: sys.stdin is None) types nothing, as /dev/null.
    source = stdin if stdin is not None else (sys.stdin.buffer if sys.stdin else io.BytesIO())
    stop = threading.Event()
    closed: list[Exception] = []  # why the port went away, if it did
    last_rx = [time.monotonic()]  # when the reader last got bytes
    answered = threading.Condition()
    awaiting = [0, 0.0]  # typed lines not yet answered, when the last one went out

    failed: list[ToolchainError] = []  # why the session must end, if it must

    def fail(error: ToolchainError) -> None:
        failed.append(error)
        stop.set()

    # Rows from the reader and the host worker never interleave, and never kill them.
    show = _Output(echo, fail)
    # With --raw, stdout holds only the board's lines and {"host":...} JSON lines: the
    # monitor's own notes go with the status line (the CLI: stderr).
    notes = _Output(status, fail) if raw and status is not None else show
    tx_lock = threading.Lock()  # typed lines and the host's :do lines go out whole

    def write(line: bytes) -> None:
        with tx_lock:
            conn.write(line)
            conn.flush()

    host = (
        _HostWorker(
            escalation,
            show,
            raw,
            write if host_act else None,
            on_failed=lambda exc: fail(_unexpected_error("the host worker", exc)),
            note=notes,
        )
        if escalation is not None
        else None
    )

    def send(line: bytes) -> None:
        # A typed ':do' line is counted with the host's, in send order (the worker's).
        if host is not None:
            host.transmit(line, write, typed=True)
        else:
            write(line)

    def on_line(text: str) -> None:
        show(shown_line(text) if raw else format_device_line(text))
        if host is not None and host.offer(text):
            return  # the board's answer to the host's ':do', not to the typed line
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

    thread = _reader_thread(
        conn,
        stop,
        on_line,
        on_closed,
        on_bytes,
        on_note=notes,
        on_failed=lambda exc: fail(_unexpected_error("the reader of the board's lines", exc)),
    )
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

        def settle(busy: Callable[[], bool] = lambda: False) -> None:
            # Answers still in flight: wait until the line has been quiet for `linger`
            # seconds and nothing is left unread (capped, for a board that never stops),
            # or until `busy` (a new escalation to answer: the next round waits again).
            since = time.monotonic()
            cap = since + max(5.0, 5 * linger)
            while not stop.is_set() and time.monotonic() < cap and not busy():
                quiet = time.monotonic() - max(last_rx[0], since)
                if quiet >= linger and not _unread(conn):
                    break
                time.sleep(0.05)

        if host is None:
            settle()
        else:  # an escalation queued meanwhile: its round below settles after it
            settle(lambda: not host.idle())
            _finish_host(host, settle, stop, lambda: bool(closed or failed))
    finally:
        stop.set()
        thread.join(timeout=1.0)
        conn.close()
        # A phrase still waiting gets its row, also when Ctrl-C or SIGTERM ends the wait
        # at the end of input: none is dropped unsaid (rows only, nothing is waited for).
        if host is not None and not failed:
            host.close()
    if failed:
        raise failed[0]
    if closed:
        raise _port_closed(name, closed[0])


def _finish_host(
    host: _HostWorker,
    settle: Callable[[Callable[[], bool]], None],
    stop: threading.Event,
    ended: Callable[[], bool],
) -> None:
    """At the end of input: answer the phrases queued, then wait for the line to go quiet
    (the board's answers to the host's ``:do`` lines) or for a new escalation, in rounds
    while escalations keep coming (at most :data:`END_ROUNDS`). A round answers only the
    phrases queued when it began: the first gives each one host timeout, each later one
    has one host timeout in all, so a board that escalates for ever holds the session
    for at most 3 more timeouts and settles (its last phrases get 'not answered' rows)."""
    for at in range(END_ROUNDS):
        if ended() or stop.is_set():
            return
        host.finish(stop, first=at == 0)
        settle(lambda: not host.idle())
        if host.idle():
            return


def _port_closed(name: str, exc: Exception) -> ToolchainError:
    """The one-line error for a port that went away mid-session."""
    why = " ".join(str(exc).split())
    return ToolchainError(f"serial port {name} closed" + (f": {why}" if why else ""))


# Rounds of "answer the queued phrases, then wait for the line to go quiet" at the end
# of input: escalations the board writes meanwhile are answered in the next round; a
# board that escalates for ever gets its last phrases reported unanswered, not a
# session that never ends.
END_ROUNDS = 4
# The ':do' lines whose answer from the board has not come yet; bounded for a board
# that never answers one (other firmware on the port).
MAX_OUTSTANDING_ACTS = 64
# The intents the board said it acted on, kept to never call one unknown; bounded for
# other firmware on the port (a board has far fewer intents).
MAX_ACTED_INTENTS = 4096


@dataclass(frozen=True, eq=False)
class _Act:
    """A ``:do`` line sent to the board, waiting for its answer: whether the user typed it
    (else it is the host's), and the intent it names."""

    typed: bool
    intent: str


def _act_answer(line: str) -> tuple[str, str | None] | None:
    """What the board's answer to a ``:do`` line says: ``("acted", intent)`` (its
    ``{"intent":...,"route":"host"}``), ``("unknown_intent", None)``, or None for any
    other line (an ``{"error":"rx_overflow"}`` too)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    if obj.get("route") == "host" and isinstance(obj.get("intent"), str):
        return ("acted", obj["intent"])
    if obj.get("error") == "unknown_intent":
        return ("unknown_intent", None)
    return None


def _is_rx_overflow(line: str) -> bool:
    """Whether ``line`` is the board's report of lines it lost (its receive buffer ran
    over): the ``:do`` lines in flight may never be answered."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and obj.get("error") == "rx_overflow"


class _HostWorker:
    """Answers escalated device lines one at a time in a daemon thread."""

    def __init__(
        self,
        escalation: Escalation,
        show: Callable[[str], None],
        raw: bool,
        send: Callable[[bytes], None] | None = None,
        *,
        on_failed: Callable[[Exception], None] | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.escalation, self.show, self.raw, self.send = escalation, show, raw, send
        # Where the worker's notes go (not answers): with --raw, away from the JSON lines.
        self.note = note if note is not None else show
        # Gets an exception the worker did not expect; it ends the worker, whose phrases
        # would otherwise wait for an answer that never comes (None: raised in the thread).
        self.on_failed = on_failed
        self.dead = threading.Event()
        self.pending: queue.Queue[Escalated] = queue.Queue(MAX_PENDING_ESCALATIONS)
        self.tx_lock = threading.Lock()  # counting a line and writing it, as one
        self.lock = threading.Lock()  # the fields below
        # Every ':do' line sent, the user's and the host's, oldest first, until the board
        # answers it (it answers lines in order): only the answers to the host's are the
        # host's, whatever other lines (local answers to typed phrases) come in between,
        # and an unknown_intent for a ':do foo' typed by the user is not.
        self.acts: deque[_Act] = deque(maxlen=MAX_OUTSTANDING_ACTS)
        self.acted: set[str] = set()  # the intents the board acted on
        self.answered = 0  # phrases answered so far (a round at the end counts them)
        self.current: Escalated | None = None  # the phrase being answered
        self.closed = False  # the session ended: no more rows from the worker
        self.told_unknown = False
        threading.Thread(target=self._run, daemon=True).start()

    def transmit(self, line: bytes, write: Callable[[bytes], None], *, typed: bool) -> None:
        """``write(line)``, a ``:do`` line counted first (the answer can be quick), in
        the order the lines go out, typed or the host's: the board answers in that order."""
        with self.tx_lock:
            act = self.sending(line, typed=typed)
            try:
                write(line)
            except BaseException:
                if act is not None:
                    self.unsent(act)  # never went out: no answer will come
                raise

    def sending(self, line: bytes, *, typed: bool) -> _Act | None:
        """Count ``line`` as sent if it is a ``:do`` line (called in send order, before
        it goes); the entry, for :meth:`unsent`."""
        if not line.startswith(b":do "):
            return None
        intent = line[len(b":do ") :].rstrip(b"\r\n").decode("utf-8", "replace")
        act = _Act(typed, intent)
        with self.lock:
            self.acts.append(act)
        return act

    def unsent(self, act: _Act) -> None:
        """``act``'s line never went out (the port failed): no answer will come for it."""
        with self.lock:
            kept = [a for a in self.acts if a is not act]
            self.acts.clear()
            self.acts.extend(kept)

    def _answered_act(self, line: str) -> _Act | None:
        """The ``:do`` line that ``line`` answers, if it is such an answer; an
        ``rx_overflow`` forgets those in flight (the board may have lost them)."""
        said = _act_answer(line)
        with self.lock:
            if said is None:
                if _is_rx_overflow(line):
                    self.acts.clear()
                return None
            kind, intent = said
            if kind != "acted" or intent is None:
                return self.acts.popleft() if self.acts else None
            if len(self.acted) < MAX_ACTED_INTENTS:
                self.acted.add(intent)
            # It names its line (the board's label is the ':do' line's text, matched
            # exactly): those before it were lost on the way (resync). None named so:
            # a line forgotten at an rx_overflow, and the others stay in flight.
            while any(a.intent == intent for a in self.acts):
                act = self.acts.popleft()
                if act.intent == intent:
                    return act
            return None

    def offer(self, line: str) -> bool:
        """Queue ``line`` for an answer if it is an escalation (decoded, as the board sent
        it); True when it is the board's answer to one of the host's ``:do`` lines."""
        from tinyslm.escalate import parse_escalation

        act = self._answered_act(line)
        unknown = act is not None and _act_answer(line) == ("unknown_intent", None)
        if unknown and act is not None and not act.typed and not self.told_unknown:
            with self.lock:  # an intent the board acted on is never called unknown
                known = act.intent in self.acted
            if not known:
                # The board has no such intent: the host's model (or program) answers with
                # intents the board was not generated with, which no board fault explains.
                self.told_unknown = True
                self.note(
                    printable(
                        "  host: the board has no intent "
                        f"{json.dumps(act.intent, ensure_ascii=False)}, which the host "
                        "answered (unknown_intent): the host knows intents the board's "
                        "model lacks, and the board takes no action for them"
                    )
                )
        esc = parse_escalation(line)
        if esc is not None:
            try:
                self.pending.put_nowait(esc)
            except queue.Full:
                waiting = f"{MAX_PENDING_ESCALATIONS} escalations already waiting for an answer"
                self._show_answer({"text": esc.text, "error": f"skipped: {waiting}"})
        return act is not None and not act.typed

    def _show_answer(self, answer: dict[str, Any]) -> None:
        """One answer's row: its JSON line with --raw (kept JSON: a control character in
        it as its ``\\u00NN`` escape), else the readable row naming its phrase."""
        from tinyslm.escalate import format_host_answer, host_line

        if self.raw:
            self.show(printable(host_line(answer), json_escapes=True))
        else:
            self.show(printable(format_host_answer(answer)))

    def _run(self) -> None:
        try:
            self._answer_all()
        except Exception as exc:
            self.dead.set()
            if self.on_failed is None:
                raise
            self.on_failed(exc)

    def _answer_all(self) -> None:
        from tinyslm.escalate import act_line, answer_of

        while True:
            esc = self.pending.get()
            with self.lock:
                if self.closed:  # taken after close() emptied the queue: said here
                    self._show_answer(_unanswered(esc))
                    return
                self.current = esc
            answer = answer_of(self.escalation, esc)
            act = act_line(answer) if self.send is not None else None
            with self.lock:
                self.current = None
                if self.closed:  # close() already gave this phrase its row
                    return
                self._show_answer(answer)
            if act is not None and self.send is not None:
                try:
                    self.transmit(act, self.send, typed=False)
                except Exception as exc:  # a board unplugged meanwhile
                    self.note(f"  host: could not send {act!r}: {exc}")
            with self.lock:
                self.answered += 1
            self.pending.task_done()

    def idle(self) -> bool:
        """Whether no phrase is queued or being answered."""
        return not self.pending.unfinished_tasks

    def finish(self, stop: threading.Event | None = None, *, first: bool = True) -> None:
        """Wait for the phrases queued now to be answered (not those queued meanwhile):
        each may take a program its whole timeout, so the wait is capped at that per
        phrase (``first``), else at one timeout in all (the phrases a board escalated by
        itself at the end); it ends sooner when the worker failed or ``stop`` is set
        (the session is ending)."""
        from tinyslm.escalate import DEFAULT_TIMEOUT_S

        per = float(getattr(self.escalation, "timeout_s", DEFAULT_TIMEOUT_S))
        with self.lock:
            until = self.answered + self.pending.unfinished_tasks
        budget = per * (self.pending.unfinished_tasks + 1) + 5.0 if first else per
        deadline = time.monotonic() + budget
        while self.pending.unfinished_tasks and time.monotonic() < deadline:
            if self.dead.is_set() or (stop is not None and stop.is_set()):
                return
            with self.lock:
                if self.answered >= until:
                    return
            time.sleep(0.05)

    def close(self) -> None:
        """End the session's answering: each phrase not answered yet (queued, or still
        with the host) gets an error row now, and the worker shows nothing more."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            left = [self.current] if self.current is not None else []
            while True:
                try:
                    left.append(self.pending.get_nowait())
                except queue.Empty:
                    break
            for esc in left:
                self._show_answer(_unanswered(esc))


def _unanswered(esc: Escalated) -> dict[str, Any]:
    """The error answer for a phrase the session ended before the host answered."""
    return {"text": esc.text, "error": "not answered: the session ended first"}


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
    _echo_encodable(status or echo, f"monitor: {wav} ({seconds:.1f} s) to {name} at {baud} baud")
    stop = threading.Event()
    ended = threading.Event()
    closed: list[Exception] = []  # why the port went away, if it did
    failed: list[ToolchainError] = []  # why the session must end, if it must
    lines: list[str] = []

    def fail(error: ToolchainError) -> None:
        failed.append(error)
        ended.set()

    show = _Output(echo, fail)
    # With --raw, stdout holds only the board's lines, as in monitor(): notes to status.
    notes = _Output(status, fail) if raw and status is not None else show

    def on_line(text: str) -> None:
        lines.append(text)
        show(shown_line(text) if raw else format_device_line(text))
        if text.startswith('{"end":'):
            ended.set()

    def on_closed(exc: Exception) -> None:
        closed.append(exc)
        ended.set()

    thread = _reader_thread(
        conn,
        stop,
        on_line,
        on_closed,
        on_note=notes,
        on_failed=lambda exc: fail(_unexpected_error("the reader of the board's lines", exc)),
    )
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
            if closed or failed:
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
        answered = ended.wait(end_timeout)
    finally:
        stop.set()
        thread.join(timeout=1.0)
        conn.close()
    if failed:
        raise failed[0]
    if closed:
        raise _port_closed(name, closed[0])
    if not answered:
        # A CI script must tell a dead board (or one running other firmware, or at another
        # baud rate) from a clean run: this was a line on stdout and exit 0.
        raise ToolchainError(
            f"no end-of-stream answer from the board on {name} within {end_timeout:g} s "
            f"(is it running a keyword project's firmware at {baud} baud?)"
        )
    from tinyslm.emit.audio import FIRMWARE_FRONTEND

    problems = wav_stream_problems(lines, FIRMWARE_FRONTEND.num_frames(len(samples)))
    for problem in problems:
        _echo_encodable(status or echo, f"warning: {problem}")
    if problems:
        raise ToolchainError(
            f"the board did not hear all of {wav}: its detections are not the whole "
            "recording's (warnings above)"
        )
    return lines


def wav_stream_problems(lines: Sequence[str], frames: int) -> list[str]:
    """What says that the board did not hear a played recording whole: its frame parser's
    ``bad_frame`` lines, and an END count of front-end frames other than the ``frames``
    the recording makes (audio lost on the line without a line about it). One line each."""
    dropped: Counter[str] = Counter()
    counted: Any = None  # the END line's frame count, checked below
    for line in lines:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(obj, dict):
            continue
        if obj.get("error") == "bad_frame":
            reason = obj.get("reason")
            dropped[printable(reason) if isinstance(reason, str) else "no reason given"] += 1
        elif "end" in obj:
            end = obj["end"]
            counted = end.get("frames") if isinstance(end, dict) else None
    problems = []
    if dropped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.items()))
        problems.append(
            f"the board dropped {_counted(sum(dropped.values()), 'serial frames')} of the "
            f"recording ({reasons})"
        )
    if not _is_count(counted):
        problems.append("the board's end-of-stream line has no frame count")
    elif counted != frames:
        problems.append(
            f"the board counted {_counted(counted, 'front-end frames')}; the recording makes "
            f"{frames} (audio was lost on the line)"
        )
    return problems
