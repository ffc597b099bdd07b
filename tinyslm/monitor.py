"""Serial monitor for a flashed board: pretty-print its JSON lines, forward typed lines.

The device speaks the line protocol in docs/architecture.md: one JSON object
per line out, one phrase or ``:info`` per line in. ``tinyslm monitor`` shows
each answer as one readable row and sends every line typed on stdin (or piped
in; ended by ``\\n``, ``\\r`` or ``\\r\\n``, as the device ends one) to the board,
terminated with ``\\n``, each after the answer to the one before. Lines that are
not JSON (boot logs) are shown as they are. After a text board's
``{"error":"rx_overflow"}`` it resends the lines the board dropped by itself
(:class:`_Resync`). pyserial is a declared dependency.

``tinyslm monitor --wav FILE`` plays a recording into a keyword board instead
(:func:`monitor_wav`): START, AUDIO frames, END of the framed PCM protocol
(:mod:`tinyslm.audio.frames`, docs/audio.md), paced at real time or, when the baud
rate cannot carry real time, as fast as the line does; the board's detection lines
are printed as they come and the run ends at the board's ``{"end":...}`` answer.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import json
import math
import os
import queue
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, BinaryIO

from tinyslm.errors import ToolchainError
from tinyslm.terminal import printable
from tinyslm.text.dataset import DO_PREFIX, MAX_LINE_LIMIT

if TYPE_CHECKING:
    from tinyslm.escalate import Escalated, Escalation

DEFAULT_BAUD = 115200

# The most bytes the firmware writes for one byte of a phrase it echoes in an escalation's
# "text": "\ufffd" for a byte that is not UTF-8, "\u00XX" for a control byte.
MAX_ESCAPED_BYTE = len("\\ufffd")
# The most for one byte of an intent's name: 2, a quote or backslash escaped with a
# backslash (a label holds no control character, text.dataset refuses one; U+2028's 3
# bytes become the 6 of its escape).
MAX_ESCAPED_LABEL_BYTE = len('\\"')
# The longest intent name a board can have: its ':do' line fits the largest line limit
# (text.dataset.line_limit accepts any longer name up to that).
MAX_LABEL_BYTES = MAX_LINE_LIMIT - len(DO_PREFIX)
# The widest number the firmware writes for a uint32 ("us") and for a score (a uint32 of
# thousandths, tinyslm_json_milli).
_UINT32_MAX = 2**32 - 1
_WIDEST_US = str(_UINT32_MAX)
_WIDEST_SCORE = f"{_UINT32_MAX // 1000}.{_UINT32_MAX % 1000:03d}"
# An escalation line's bytes besides its "text" (handle_text in firmware/text/
# tinyslm_core.c, without the newline): its keys, route, the widest score and "us", and
# the longest intent name, escaped at its worst. At 1024 ("room to spare") a 4,000-byte
# name made a 28,649-byte line: cut, it was never forwarded and mis-paired the answers.
LINE_OVERHEAD_BYTES = (
    len('{"intent":"","score":,"route":"escalate","us":,"text":""}')
    + len(_WIDEST_SCORE)
    + len(_WIDEST_US)
    + MAX_LABEL_BYTES * MAX_ESCAPED_LABEL_BYTE
)
# The longest device line shown as one row: the longest escalation the firmware can
# write, of a full TINYSLM_MAX_LINE phrase (at most MAX_LINE_LIMIT bytes) with every byte
# escaped under the longest intent name, so that it reaches the host worker whole (at
# 4096 bytes such a line was cut and never forwarded). A board that never sends a
# newline (an ESP32 ROM booting at 74880 baud read at 115200 is a stream of garbage) is
# cut into rows of this size, with a note, instead of growing without bound in the
# monitor's memory. (An ':info' answer naming many long intents with thresholds of their
# own can be longer: it is cut too.)
MAX_LINE_BYTES = MAX_LINE_LIMIT * MAX_ESCAPED_BYTE + LINE_OVERHEAD_BYTES
# Escalated phrases waiting for the host's answer; beyond this a phrase is skipped (and
# said so) rather than queued without bound behind a slow --host-cmd.
MAX_PENDING_ESCALATIONS = 16


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


def _mhz(hz: int) -> str:
    """Hz in MHz, exact (integers only: any count the firmware's writer can send)."""
    whole, rest = divmod(hz, 1_000_000)
    return f"{whole}.{rest:06d}".rstrip("0") if rest else str(whole)


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
    # The running CPU clock, where the board's glue read it (a fallback clock shows here).
    clock = ""
    if "cpu_hz" in info:  # left out where the clock is unknown (the host emulators)
        if not _is_count(info["cpu_hz"]):
            return None
        clock = f" at {_mhz(info['cpu_hz'])} MHz"
    return (
        f"info: tinyslm {info['version']} on {info['board']}{clock}, model "
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
        f"(the line above is longer than {MAX_LINE_BYTES} bytes, more than the longest "
        "escalation the firmware writes: it goes on in the next rows)"
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


# --- Resync after an rx_overflow ------------------------------------------------------
#
# A text board that loses bytes on the way in prints {"error":"rx_overflow"} and drops
# every line it has not answered yet with them (an ESP32 flushes its receive buffer; an
# STM32 drops the lines whose bytes were lost), up to a line end the host sends. The
# monitor does what the generated README tells a host to do: it stops sending, sends an
# empty line (no answer; it ends the drop with a line end of the host's) and ':info'
# (RESYNC_MARKER). The board answers lines in order, so when the ':info' answer comes
# every line sent before it has been answered or was dropped: those without an answer
# are resent, in the order they first went, each after the answer to the one before
# (the gate held meanwhile: lines sent in one burst overran the board's receive ring
# again, as the burst that was lost had), and the board's info answer is not shown
# (nobody asked for it, nor for one that comes late). An unknown_intent names no ':do':
# when it could answer more than one in flight, none is taken for answered and all are
# resent (harmless: the board acts on none of those it has no intent for). A typed line
# the monitor stopped waiting for (ANSWER_WAIT_S) is one in flight too while no answer
# to a typed line came since (_TypedFlight): the board reports a gap where its loop
# reaches it, so that report may cover it. A late answer is paired with the line it
# answers, by what it says and the board's order, and lets no other line go: one that
# the line sent after it could take too (two phrases: a local answer does not say
# which phrase it answers; an escalated one echoes its phrase, which rules out the
# lines it is not, see _answers) is the late one's, and that line stays in flight until a
# second answer, or ANSWER_WAIT_S without a byte, which counts the first as its own.

# The marker's answer must come within this long without a byte from the board (which
# may still be answering lines sent before it) ...
RESYNC_WAIT_S = 3.0
# ... and within this long in all, however chatty the board is.
RESYNC_CAP_S = 15.0
# This many losses in a row with no line answered in between and the monitor gives up
# resending, with a note: when the marker is lost in each (it sends no more), or the
# lines resent are lost again each time. A loss is a resync round: the loss lines a
# resync sees before the marker's answer (an STM32H7's rx_error right after its
# rx_overflow, the same gap said twice, or gaps of one burst) are one loss of the lines
# in flight, not a repeat: those are resent.
MAX_OVERFLOW_STRIKES = 3
# The empty line and the marker, sent in one write.
RESYNC_MARKER = b"\n:info\n"
# A give-up note names at most this many lines, each cut to this many characters.
NOTE_LINES = 5
NOTE_LINE_CHARS = 60
# The most typed lines in flight at once (each is answered, or given up on after
# ANSWER_WAIT_S): a text board answers each one it does not drop, so a resync must know
# them all. Board lines that answer none (a boot log, action output) let the next line
# go while the one before is in flight; with this many in flight the next one waits
# (_TypedFlight.wait): a deque of this length dropped the oldest without a word, and its
# answer, when it came, was taken for the next line's, the last one's for none.
MAX_TYPED_IN_FLIGHT = 8
# A typed line given up on stays one a later loss report may cover, and one an answer
# may be taken for (late), for this long at most (until the board answers a typed line
# again): the longest the monitor waits on a board that says other lines meanwhile
# (RESYNC_CAP_S), so that a report much later, of a gap in lines typed since, does not
# resend lines from long before, nor does an answer to a line typed by hand a minute
# later keep that line waiting for a second answer.
GIVEN_UP_KEEP_S = RESYNC_CAP_S
# The answer wait doubles for each typed line given up on that the board has not
# answered since (late or not, kept GIVEN_UP_KEEP_S at most), up to this many answer
# waits: each such line may still be queued in a text board busy longer than the
# answer wait (it answers in order, late), and the next one only joins it there. With
# one line per answer wait whatever the board said, a board whose action took 4 answer
# waits held 4 to 7 lines at once (a real board's receive buffer overflows); now a text
# board that stops answering gets the next line after 2, 4, 8, 8 ... s, and a board that
# answers, late or not, settles those lines and gets the plain wait again, so a slow
# board that answers still gets every line. Only once the board has answered a phrase
# (_TypedFlight.answer_wait): a keyword board or a wrong port keeps the plain wait.
# Bounded below GIVEN_UP_KEEP_S: the lines given up on are still known when the next
# one is.
ANSWER_BACKOFF_MAX = 4


class _Gate:
    """Every line the monitor sends goes out through here, one at a time, numbered in
    send order; a resync holds it shut, so that nothing new goes out while it finds the
    lines the board dropped. The lock is reentrant: the resync writes while holding it."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.shut = False
        self.sent = 0
        self.stop = stop if stop is not None else threading.Event()

    @contextlib.contextmanager
    def turn(self) -> Iterator[int | None]:
        """Wait for the gate to be open, then hold it while the block sends one line; the
        line's number, or None when the session ended while the gate was shut."""
        with self.cond:
            while self.shut and not self.stop.is_set():
                self.cond.wait(0.05)
            yield None if self.shut else self.number()

    def number(self) -> int:
        """The next line's number (with ``cond`` held)."""
        self.sent += 1
        return self.sent


def _is_command(line: bytes) -> int:
    """1 for a ':' command (a ':' first, as both firmwares read it), which every tinyslm
    board answers, a keyword board too, save one whose line end it takes for a broken
    audio frame's bytes (within 520 bytes after a byte below 0x08 or a refused frame,
    unless spelt as a typed command: ':', a lowercase letter, printable ASCII, as
    ``:info`` is; docs/audio.md "Keyword app protocol"); 0 for a phrase,
    which a keyword board does not answer (its bytes go to the audio frame parser,
    skipped in silence)."""
    return int(line.startswith(b":"))


@dataclass(frozen=True)
class _Tally:
    """The typed lines of a piped session (since the last resync settled them, where
    ``since_resync``), and how many got no answer; ``commands``: the ':' ones."""

    sent: int
    commands: int
    missed: int
    missed_commands: int
    since_resync: bool

    @property
    def phrases(self) -> int:
        return self.sent - self.commands


@dataclass(frozen=True, eq=False)
class _Sent:
    """A line sent to the board (as written, ``\\n`` ended), its number in send order,
    whether the user typed it, the host worker's entry for it (a ``:do`` line), whether
    the monitor stopped waiting for its answer (:data:`ANSWER_WAIT_S`), whether an
    answer that may be its own came, taken for a late one (:class:`_TypedFlight`), and
    whether that answer was an escalated one, echoing its phrase (``echoed``)."""

    line: bytes
    seq: int
    typed: bool
    act: _Act | None = None
    given_up: bool = False
    unsure: bool = False
    echoed: bool = False


def _resent_what(lost: list[_Sent], unknown: int) -> str:
    """What a loss report's note says of the ``lost`` lines it resends, ``unknown`` of
    them perhaps answered with an unknown_intent: counts that add up to the lines
    resent (it said "those it dropped and 1 it may have answered" of 1 line, read as 2)."""
    doubts = []
    maybe_lines = [sent for sent in lost if sent.unsure]
    maybe = len(maybe_lines)
    # A line counted in both is one line: the counts must add up to the lines resent.
    unknown = min(unknown, len(lost) - maybe)
    if unknown:
        # It does not name the ':do' it answers; resending one is harmless (the board
        # acts on none).
        doubts.append(
            f"{unknown} it may have answered with an unknown_intent, "
            "which does not say which ':do' it answers"
        )
    if maybe:
        # Resent rather than lost unsaid (see _TypedFlight). The common cause is not a
        # reset but action code that prints after each answer: its output came while the
        # line before was in flight, so that line's answer may have been this one's.
        # An escalated answer names its phrase: it fits a line before only when that
        # was the same phrase (the note blamed a local answer for it).
        if any(_is_command(sent.line) for sent in maybe_lines) or (
            len({sent.echoed for sent in maybe_lines}) > 1
        ):
            taken = "an answer that fits more than one of the lines,"
        elif maybe_lines[0].echoed:
            taken = "an escalated answer echoing its phrase, also an earlier line's,"
        else:
            taken = "a local answer, which does not say which phrase it answers,"
        doubts.append(
            f"{maybe} it may have answered before the loss ({taken} "
            "was taken for the line before it, which may "
            "have got none: that line was given up on, or a board line that answers none, "
            "such as your code's output or a reset's boot log, came while it was in flight)"
        )
    resent = f"resent {_counted(len(lost), 'lines')}"
    if not doubts:
        return f"{resent} it dropped, in order"
    dropped = len(lost) - min(len(lost), unknown + maybe)
    parts = [f"{dropped} it dropped"] if dropped else []
    return f"{resent}, in order: " + " and ".join(parts + doubts)


class _TypedFlight:
    """The typed lines the board has not answered yet, oldest first: typed lines go one
    at a time, each after the answer to the one before (or :data:`ANSWER_WAIT_S` without
    a byte, which lets the next one go and gives up on those waiting: see :meth:`wait`),
    so more than one only when a board line that answers none lets the next one go while
    the one before is in flight (:meth:`release`), or a resync resends several; at most
    :data:`MAX_TYPED_IN_FLIGHT`, as :meth:`wait` then holds the next one.

    A line given up on is kept apart (:data:`GIVEN_UP_KEEP_S` at most, see there) until
    the board answers a typed line again: the board reports a gap where its loop reaches
    it, after answering the lines before it, so a loss report that comes before any
    answer after a line given up on may cover it (its bytes lost while the board was
    busy), and the resync that follows takes it for one in flight (:meth:`pending`).

    An answer that both a line given up on and the oldest line in flight can take (two
    phrases: a local answer does not say which phrase it answers, while an escalated one
    echoes its phrase, which two different lines of valid UTF-8 cannot both be) is the
    one given up on's, late, as the board answers in order, unless no second answer
    follows: the line in flight then stays in flight, waited for (the next line does not
    go, a board line that answers none notwithstanding: see :meth:`release`) and one a
    loss report covers, until the next answer, which is its own, or until twice the
    board's silence before the first (:meth:`_doubt`), which settles it as answered (the
    first answer was its own: the line given up on got none), so no line the board
    answered is ever resent. An answer to a line given up on that it cannot take clears
    the doubt: the first answer was not its own either (the board answers in order).

    A line let go by a board line that answers none while the line before it was still
    in flight (see :meth:`release`) is :attr:`maybe` answered once an answer is taken
    for that one: the board may have lost that one at a reset (the line its boot log),
    so the answer may be this one's. It waits on and is settled as an :attr:`unsure`
    one is, except by a line that answers none: action code that prints after each
    answer says one each time, and settled by those, each line would be taken for
    answered one answer early, and the lines would outrun the board."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        # At most MAX_TYPED_IN_FLIGHT: wait() lets no more go (sent() drops none).
        self.lines: deque[_Sent] = deque()
        # Lines given up on, for GIVEN_UP_KEEP_S at most (:meth:`_expire`, at each give-up
        # too): each give-up comes ANSWER_WAIT_S after a line went at least, with at most
        # MAX_TYPED_IN_FLIGHT in flight, so that bounds them. A deque of that length
        # dropped a line given up on unsaid when the lines in flight were given up after
        # it: the late answers were each taken for the line after their own.
        self.given_up: deque[tuple[float, _Sent]] = deque()
        self.waiting = False  # the last line sent: not answered, not given up on
        self.since = 0.0  # when it went out
        # When the board last answered a typed line, or when the oldest line it owes an
        # answer went, if later: where its silence before the next answer began
        # (:meth:`_doubt`).
        self.heard_at = 0.0
        # Whether the board has answered a phrase (a text board): the answer wait grows
        # only then (:meth:`answer_wait`).
        self.phrase_answered = False
        # Typed lines sent, and answers taken for one of them (in flight or given up on),
        # for the end of a piped session (:func:`_unanswered_end`); ':' commands apart,
        # as every tinyslm board answers them (a keyword board answers no phrase, nor a
        # command it takes for a broken audio frame's bytes: see :func:`_is_command`).
        self.count = 0
        self.credited = 0
        self.commands = 0
        self.credited_commands = 0
        # The same four when a resync last settled the lines in flight (:meth:`clear`):
        # its notes said what became of the lines before, the end counts those after.
        self.base = (0, 0, 0, 0)
        # The oldest line in flight may have been answered already: an answer either it
        # or a line given up on before it could take was taken for that one's (above).
        self.unsure = False
        # The same, the answer taken for a line in flight before it that a board line
        # answering none came during (:meth:`release`); ``released``: the numbers of the
        # lines in flight when such a line last came (at most MAX_TYPED_IN_FLIGHT).
        self.maybe = False
        self.released: set[int] = set()
        # Whether the answer that made the oldest line unsure (or maybe answered) was an
        # escalated one (it echoes the phrase, the same as the line's), for the notes.
        self.echoed = False
        # Until when an unsure line is waited for (:meth:`_doubt`, :meth:`wait`).
        self.unsure_until = 0.0
        # The unsure (or maybe answered) line :meth:`give_up` last settled uncredited,
        # until the next line goes: its own answer, coming with no other line waiting
        # (the end of input, its deadline cut short by the end's cap), is credited to it.
        self.settled: _Sent | None = None

    def sent(self, line: _Sent) -> None:
        """``line`` went out: the next one waits for its answer."""
        with self.cond:
            self.count += 1
            self.commands += _is_command(line.line)
            self.waiting, self.since = True, time.monotonic()
            if not self.lines and not self.given_up:
                self.heard_at = self.since  # the board owed no answer until now
            self.lines.append(line)
            # From now on such an answer is taken for this line's (see give_up).
            self.settled = None
            self.cond.notify_all()

    def answered(self, kind: tuple[str, str | None] | None = None) -> None:
        """An answer (of ``kind``, :func:`_answer_kind`) to a typed line came; answers
        come in order. One that a line given up on can be for is that line's, late (the
        first such: the board answers in order), and the line in flight waits on; when
        the oldest line in flight could take it too, that line is :attr:`unsure` (see
        the class). Any other is the oldest line in flight's, or, escalated, the line in
        flight it echoes (those before it got none: :meth:`_skip_unechoed`). Either way
        the lines given up on before it can no longer be in a gap reported later
        (answered, or the board answered a line after them, which it does after
        reporting a gap before it)."""
        with self.cond:
            # The board's silence ended here, whatever the answer is taken for.
            heard, self.heard_at = self.heard_at, time.monotonic()
            if kind is None or kind[0] in ("phrase", "long"):
                self.phrase_answered = True  # a text board (kind None: any answer)
            self._expire()
            late = self._late(kind)
            if late is not None:
                self._credit(self.given_up[late][1])
                for _ in range(late + 1):
                    self.given_up.popleft()
                if kind is not None and _answers(kind, self.lines[0].line):
                    self.echoed = _is_echo(kind)
                    self._doubt(heard)
                else:
                    # The board answers in order: an answer to a line given up on that
                    # the oldest line in flight cannot take says that an answer before
                    # it, which that line could take, was not its own either. Kept, the
                    # line was counted answered at the wait and a loss note said the
                    # board may have answered it.
                    self.unsure = self.maybe = False
            else:
                # The oldest line in flight's; with none, a line given up on (a late
                # answer that only it can be for, the board answering in order).
                released = False
                if self.lines:
                    self._skip_unechoed(kind)
                    self._credit(self.lines[0])
                    released = self.lines[0].seq in self.released
                elif self.given_up:
                    # Only those given up on before it are settled with it (they got no
                    # answer): those after it may be answered late too. Clearing them all
                    # counted a second late answer (an action longer than the answer
                    # wait, two lines given up on) as none at the end of the session.
                    taken = self._taking(kind) or 0
                    self._credit(self.given_up[taken][1])
                    for _ in range(taken + 1):
                        self.given_up.popleft()
                    self.unsure = self.maybe = self.waiting = False
                    self.cond.notify_all()
                    return
                elif (
                    self.settled is not None
                    and kind is not None
                    and _answers(kind, self.settled.line)
                ):
                    # The board answers in order and no other line waits: the answer of
                    # the unsure line give_up settled (uncredited, as its first answer
                    # was taken for the line before it). Dropped, the end note counted a
                    # line the board answered, its row shown, as one that got no answer.
                    self._credit(self.settled)
                    self.settled = None
                self._settle_oldest()
                # Released, the line credited may have been lost at a reset whose boot
                # log that was, and this answer the next one's: kept waiting for a second
                # answer, that line was given up on and resent by a loss report, answered.
                self.maybe = (
                    released
                    and bool(self.lines)
                    and kind is not None
                    and _answers(kind, self.lines[0].line)
                )
                self.echoed = self.maybe and kind is not None and _is_echo(kind)
            self.cond.notify_all()

    def _doubt(self, heard: float) -> None:
        """The oldest line in flight is :attr:`unsure` from now (``cond`` held): it is
        waited for twice as long as the board was just silent (since ``heard``: its
        answer before, or when the oldest line it owed one went), times the lines given
        up on still before it and itself, as its own answer, if the one just taken was
        not, comes after the board's next such spell for each (an action longer than the
        answer wait). Settled as answered after only the answer wait, the line's own
        answer was taken for the next line's, and at each such spell the lines got one
        further ahead of the board, overrunning its receive buffer. The silence was
        taken to be the answer wait and the time since this line went: with the answer
        wait grown (:data:`ANSWER_BACKOFF_MAX`) or two lines given up on before this
        one, that fell short (a 2 s action against a 0.5 s wait: the answer still due
        to the line given up on before it was taken for the next line's)."""
        now = time.monotonic()
        # Never shorter than round 53's (the answer wait and since this line went): two
        # late answers read in one chunk (a USB serial bridge's packet) put the second
        # one's silence near 0, and the line was settled before its own answer came.
        spell = max(now - heard, ANSWER_WAIT_S + now - self.since)
        self.unsure = True
        self.unsure_until = now + min(GIVEN_UP_KEEP_S, 2 * spell * (1 + len(self.given_up)))

    def _skip_unechoed(self, kind: tuple[str, str | None] | None) -> None:
        """Drop the lines in flight before the first one an answer of ``kind`` can be for
        (an escalated one's echo, a ':do' answer's intent, ':info'; a local answer fits
        any phrase, so the first; ``cond`` held; none when it fits none of them): the
        board answers in order, so they got
        no answer (a line lost at a reset whose boot log let the next one go, see
        :meth:`release`). Kept, the answer was taken for the first, and the line it
        echoes stayed in flight, given up on and resent by a loss report, answered."""
        if kind is None:
            return
        at = next((i for i, sent in enumerate(self.lines) if _answers(kind, sent.line)), 0)
        for _ in range(at):
            self.lines.popleft()

    def _credit(self, sent: _Sent) -> None:
        """An answer is taken for ``sent`` (``cond`` held)."""
        self.credited += 1
        self.credited_commands += _is_command(sent.line)

    def _taking(self, kind: tuple[str, str | None] | None) -> int | None:
        """Where in ``given_up`` the first line is that an answer of ``kind`` can be for,
        or None (none can, or ``kind`` is unknown)."""
        if kind is None:
            return None
        return next(
            (i for i, (_, sent) in enumerate(self.given_up) if _answers(kind, sent.line)), None
        )

    def _expire(self) -> None:
        """Forget the lines given up on longer than :data:`GIVEN_UP_KEEP_S` ago (``cond``
        held): no longer ones a loss report covers, nor ones an answer is taken for (an
        answer the line in flight could take would keep it waiting for nothing)."""
        kept = time.monotonic() - GIVEN_UP_KEEP_S
        while self.given_up and self.given_up[0][0] < kept:
            self.given_up.popleft()

    def _settle_oldest(self) -> None:
        """The oldest line in flight is answered (``cond`` held); the lines given up on
        before it are settled with it."""
        if self.lines:
            self.lines.popleft()
        self.given_up.clear()
        self.unsure = self.maybe = False
        self.waiting = self.waiting and bool(self.lines)

    def _late(self, kind: tuple[str, str | None] | None) -> int | None:
        """Where in ``given_up`` the line is that an answer of ``kind`` is for (the
        first one that can take it); None when none can (or no line is in flight)."""
        return self._taking(kind) if self.lines else None

    def late(self, seq: int | None, *, unsure: bool = False, echoed: bool = False) -> None:
        """The line numbered ``seq``, given up on, was answered late (a resync matched the
        answer to it; None: a line not typed): it and those given up on before it are
        settled. ``unsure``: the oldest line in flight could have taken that answer too
        (see the class); ``echoed``: that answer is an escalated one."""
        with self.cond:
            heard, self.heard_at = self.heard_at, time.monotonic()
            for _, sent in self.given_up:
                if seq is not None and sent.seq == seq:
                    self._credit(sent)
            while seq is not None and self.given_up and self.given_up[0][1].seq <= seq:
                self.given_up.popleft()
            if unsure and self.lines:
                self.echoed = echoed
                self._doubt(heard)
            elif not unsure:
                # An answer to a line resent before it that the line in flight cannot
                # take: the answer before, which it could, was not its own (the board
                # answers in order), so it is no longer one the board may have answered.
                self.unsure = self.maybe = False
            self.cond.notify_all()

    def release(self) -> None:
        """A board line that answers no line came (other firmware's answer, a boot log):
        the next line may go, as before, and the lines in flight stay, marked released
        (see the class), unless the oldest is :attr:`unsure`: it holds the next line until
        its own answer or its deadline (see :meth:`wait`); a :attr:`maybe` one stays."""
        with self.cond:
            self.released = {sent.seq for sent in self.lines}
            # An unsure line holds the next one: it waits on for its own answer (the
            # user's action code prints after each answer, then may be busy longer than
            # the answer wait) until :attr:`unsure_until` (see :meth:`wait`). Settled as
            # answered here, its own answer, still to come, was taken for the next
            # line's, and each line went one answer further ahead of the board (20 piped
            # lines, a 0.7 s action against a 0.5 s wait: 17 answered, 10 queued in the
            # board; round 52's review saw 11 answered). Letting the next line go with it
            # in flight instead put every later line one answer behind, so a loss report
            # resent a ':do' the board had acted on.
            if not self.unsure:
                self.waiting = False
            self.cond.notify_all()

    def give_up(self) -> None:
        """Stop waiting for the lines in flight: the next line may go (see the class);
        an :attr:`unsure` one is counted as answered, the others are given up on."""
        with self.cond:
            now = time.monotonic()
            self._expire()
            if self.unsure or self.maybe:
                # Its answer came first, taken for a line given up on (or released) that
                # got none: the line counted as answered, given up on it would keep each
                # next line one answer behind (each an unsure one, waiting ANSWER_WAIT_S).
                self.settled = self.lines[0] if self.lines else None
                self._settle_oldest()
            self.given_up.extend((now, sent) for sent in self.lines)
            self.lines.clear()
            self.released.clear()
            self.waiting = False
            self.cond.notify_all()

    def clear(self) -> None:
        """A resync settled every typed line in flight (answered, resent or given up):
        its notes name those; the end of a piped session counts the lines sent from now
        on (:meth:`tally`), the lines it resends included."""
        with self.cond:
            self.base = (self.count, self.credited, self.commands, self.credited_commands)
            self.lines.clear()
            self.given_up.clear()
            self.released.clear()
            self.waiting = self.unsure = self.maybe = False
            self.settled = None
            self.cond.notify_all()

    def pending(self) -> list[_Sent]:
        """The lines not answered, in send order: those given up on (marked so) that a
        loss report can still cover, then those in flight."""
        with self.cond:
            self._expire()
            given = [replace(sent, given_up=True) for _, sent in self.given_up]
            lines = list(self.lines)
            if (self.unsure or self.maybe) and lines:
                lines[0] = replace(lines[0], unsure=True, echoed=self.echoed)
            return given + lines

    def tally(self) -> _Tally:
        """The typed lines sent since a resync last settled them (all, with none), and
        how many got no answer, ':' commands apart."""
        with self.cond:
            count, credited, commands, credited_commands = (
                now - then
                for now, then in zip(
                    (self.count, self.credited, self.commands, self.credited_commands),
                    self.base,
                    strict=True,
                )
            )
            missed_commands = max(0, commands - credited_commands)
            missed = max(missed_commands, count - credited)
            return _Tally(
                sent=count,
                commands=commands,
                missed=missed,
                missed_commands=missed_commands,
                since_resync=self.base != (0, 0, 0, 0),
            )

    def _full(self) -> bool:
        """Whether as many typed lines as are tracked are in flight (``cond`` held)."""
        return len(self.lines) >= MAX_TYPED_IN_FLIGHT

    def answer_wait(self) -> float:
        """How long the last line sent is waited for without a byte from the board
        before it is given up on: :data:`ANSWER_WAIT_S`, doubled for each line given up
        on that the board has not answered since (:data:`ANSWER_BACKOFF_MAX` times at
        most; see there), once the board has answered a phrase."""
        with self.cond:
            self._expire()
            if not self.phrase_answered:
                # A board that has answered no phrase is not busy on phrases it queued (a
                # text board writes its answer before it acts: firmware/text's core):
                # a wrong port, or a keyword board, which answers ':info' and reports
                # detections but never answers a phrase. Grown, the wait only delayed
                # the end: 100 piped phrases took 800 s instead of 200 s.
                return ANSWER_WAIT_S
            return ANSWER_WAIT_S * min(float(2 ** len(self.given_up)), ANSWER_BACKOFF_MAX)

    def has_info(self) -> bool:
        """Whether a typed ':info' waits for its answer."""
        with self.cond:
            return any(s.line.rstrip(b"\r\n") == b":info" for s in self.lines)

    def wait(
        self,
        stop: threading.Event,
        last_rx: Callable[[], float],
        held: Callable[[], bool],
        until: float = math.inf,
        every: bool = False,
        on_hold: Callable[[float], None] | None = None,
    ) -> None:
        """Until the last typed line is answered, or the board has said nothing for
        :meth:`answer_wait` (it is busy, or ignores this kind of line), or ``stop``;
        while ``held`` (a resync) it waits on, the resync deciding what was answered.
        ``until``: a time past which it stops waiting, outside a resync, as for
        :data:`ANSWER_WAIT_S` (for a board that keeps sending bytes but no line).
        ``every``: until every line in flight is answered, not only the last one sent
        (the end of input: a board line that answers none, the user's action code
        printing after an answer, let the last line go while the one before was in
        flight, and the session ended before its answer came). With
        :data:`MAX_TYPED_IN_FLIGHT` lines in flight it waits too, for an answer, or for
        :data:`ANSWER_WAIT_S` since the last line went (then they are given up on).
        ``on_hold``: called once, with the seconds it may still wait, when it waits longer
        than :data:`ANSWER_WAIT_S` from its start for an :attr:`unsure` line or with the
        answer wait grown (a terminal's user is told why the typed line does not go)."""
        start = time.monotonic()
        with self.cond:
            while (
                self.waiting or (every and self.lines) or self._full() or held()
            ) and not stop.is_set():
                now = time.monotonic()
                idle = now - max(self.since, last_rx())
                # With MAX_TYPED_IN_FLIGHT in flight, let go only by lines that answer
                # none, the next line waits for an answer; a board that goes on saying
                # such lines and answers none of them is given up on ANSWER_WAIT_S after
                # the last line went, as one that says nothing is (else it held the next
                # line for good).
                full = self._full() and now - self.since >= ANSWER_WAIT_S
                # An unsure line is waited for until its own deadline (see _doubt), the
                # board's lines meanwhile or not (they hold the next line: see release).
                wait_s = self.answer_wait()
                done = now >= self.unsure_until if self.unsure else (idle >= wait_s or full)
                if on_hold is not None and not held():
                    # Only the holds longer than the plain answer wait, which the user
                    # cannot tell from a board that never answers (an unsure line's is up
                    # to GIVEN_UP_KEEP_S): a board still sending its answer's bytes only
                    # moves the plain wait on, and is left unsaid.
                    due = (
                        self.unsure_until
                        if self.unsure
                        else max(self.since, last_rx()) + wait_s
                        if self.waiting and wait_s > ANSWER_WAIT_S
                        else start
                    )
                    if due - start > ANSWER_WAIT_S:
                        note, on_hold = on_hold, None  # once per hold, not per tick
                        # Written with the lock let go: a stderr that blocks (a terminal
                        # paused with Ctrl-S, the board's lines going to a file) held the
                        # reader thread's answers meanwhile. The state is read again after.
                        self.cond.release()
                        try:
                            note(due - now)
                        finally:
                            self.cond.acquire()
                        continue
                if (
                    (self.waiting or (every and self.lines) or self._full())
                    and not held()
                    and (done or now >= until)
                ):
                    # Not answered: the next line goes, and the lines waiting are given up
                    # on. Kept in flight, a line the board never answers (lost at its boot,
                    # the line of a fault's reset, a phrase to a keyword board) put the
                    # queue one answer behind the board for good: every later line waited
                    # its 2 s, and a resync resent a typed ':do' the board had answered.
                    # Kept apart, a loss report that comes before any answer still finds
                    # it (see the class). An unsure line is counted as answered instead.
                    self.give_up()  # the condition's lock is reentrant
                    return
                self.cond.wait(timeout=0.05)


def _answer_kind(line: str) -> tuple[str, str | None] | None:
    """What a board line answers, as the firmware writes them: ``("overflow", None)``
    for rx_overflow, ``("do", intent)`` an acted ':do' (intent None: unknown_intent, any
    ':do'), ``("info", None)`` ':info', ``("phrase", text)`` a phrase or another command
    (its intent line, no_tokens, inference_failed, unknown_command; ``text`` the phrase
    an escalated answer echoes, None for any other: see :func:`_answers`), ``("long", max)``
    line_too_long (a line longer than its ``max`` bytes, kept as text; None: any line
    when it names none); None for a line that answers none (a boot log, a start-up
    error repeated)."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("intent"), str):
        route = obj.get("route")
        if route == "host":
            return ("do", obj["intent"])
        if route == "escalate" and isinstance(obj.get("text"), str):
            return ("phrase", obj["text"])  # the phrase, as the board received it
        return ("phrase", None) if route in ("local", "escalate") else None
    if "info" in obj:
        return ("info", None)
    kinds = {
        "rx_overflow": "overflow",
        "rx_error": "overflow",  # a byte received wrong: lost as the overflow's are
        "unknown_intent": "do",
        "no_tokens": "phrase",
        "inference_failed": "phrase",
        "unknown_command": "phrase",
        "line_too_long": "long",
    }
    error = obj.get("error")
    if not isinstance(error, str) or error not in kinds:
        return None
    if error == "line_too_long":
        cap = obj.get("max")
        ok = isinstance(cap, int) and not isinstance(cap, bool) and cap >= 0
        return ("long", str(cap) if ok else None)
    # An rx_overflow or rx_error keeps its name, for the notes.
    return (kinds[error], error if kinds[error] == "overflow" else None)


def _answers(kind: tuple[str, str | None], line: bytes) -> bool:
    """Whether an answer of ``kind`` (:func:`_answer_kind`) can be the one to ``line``."""
    text = line.rstrip(b"\r\n")
    what, intent = kind
    if what == "do":
        if intent is None:
            return text.startswith(b":do ")
        return text == b":do " + intent.encode("utf-8", "surrogatepass")
    if what == "info":
        return text == b":info"
    if what == "phrase":
        return not text.startswith(b":do ") and text != b":info" and _echoes(intent, text)
    # line_too_long: the board says it as the bytes pass its buffer, for a longer line.
    return what == "long" and (intent is None or len(text) > int(intent))


def _is_echo(kind: tuple[str, str | None]) -> bool:
    """Whether an answer of ``kind`` is an escalated one, which echoes its phrase."""
    return kind[0] == "phrase" and kind[1] is not None


def _firmware_replacement(exc: UnicodeError) -> tuple[str, int]:
    """A codecs error handler: one U+FFFD for the byte where decoding failed, going on at
    the next byte, as the firmware's ``tinyslm_json_escaped`` (firmware/common/
    tinyslm_json.c) writes each byte that does not start a valid UTF-8 sequence.
    Python's own ``"replace"`` makes one U+FFFD of a cut sequence (``E2 80``) where the
    firmware writes two."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return ("\ufffd", exc.start + 1)


# The name the decoding below uses for it (codecs' registry is process-wide: a name of
# tinyslm's own).
_AS_THE_FIRMWARE_ECHOES = "tinyslm-firmware-echo"
codecs.register_error(_AS_THE_FIRMWARE_ECHOES, _firmware_replacement)


def _echoes(echoed: str | None, text: bytes) -> bool:
    """Whether an answer that echoes the phrase ``echoed`` (an escalated one's ``text``;
    None: a local answer, which names no phrase) can be the one to the line ``text``.
    The firmware echoes the line's bytes as JSON, each byte that starts no valid UTF-8
    sequence as one U+FFFD: decoded the same way, a line that is not valid UTF-8 takes
    only an echo it could have (before, it took any echo, even "lights on" for a
    cp1252 "caf\\xe9", leaving the line that echo was for unsure)."""
    if echoed is None:
        return True
    return text.decode("utf-8", _AS_THE_FIRMWARE_ECHOES) == echoed


def _do_intent(line: bytes) -> str | None:
    """The intent a ``:do`` line names (as the board's label would be spelled), or None."""
    text = line.rstrip(b"\r\n")
    if not text.startswith(b":do "):
        return None
    return text[len(b":do ") :].decode("utf-8", "replace")


def _quoted_lines(lines: Sequence[_Sent]) -> str:
    """The lines named in a note: quoted, cut, at most :data:`NOTE_LINES` of them."""

    def quoted(sent: _Sent) -> str:
        text = sent.line.rstrip(b"\r\n").decode("utf-8", "replace")
        if len(text) > NOTE_LINE_CHARS:
            text = text[:NOTE_LINE_CHARS] + "..."
        return printable(json.dumps(text, ensure_ascii=False), json_escapes=True)

    named = ", ".join(quoted(s) for s in lines[:NOTE_LINES])
    more = len(lines) - NOTE_LINES
    return named + (f" and {more} more" if more > 0 else "")


class _Resync:
    """After an rx_overflow: hold every send, send :data:`RESYNC_MARKER`, note which of
    the lines in flight the board answers before the marker's answer, then resend the
    others in their order (see above). Called by the reader thread for every line
    (:meth:`observe`); a watcher thread gives up when the marker's answer does not come.
    The state is guarded by the gate's lock (``active`` is only set by the reader),
    which the reader does not wait for outside a resync (see :meth:`observe`)."""

    def __init__(
        self,
        gate: _Gate,
        write: Callable[[bytes], None],
        typed: _TypedFlight,
        host: _HostWorker | None,
        note: Callable[[str], None],
        last_rx: Callable[[], float],
        on_closed: Callable[[Exception], None],
        on_failed: Callable[[Exception], None],
    ) -> None:
        self.gate, self.write, self.typed, self.host = gate, write, typed, host
        self.note, self.last_rx = note, last_rx
        self.on_closed, self.on_failed = on_closed, on_failed
        self.active = False
        self.episode = 0  # one per resync: a watcher watches only its own
        self.cause = "rx_overflow"  # the last loss's name (rx_error: a byte came wrong)
        self.markers = 0  # markers sent in this resync (a lost one is sent again)
        # Resyncs started since a line was last answered: each but the first lost lines
        # resent (loss lines before the marker's answer, an STM32H7's rx_overflow and
        # rx_error pair or gaps of one burst, are one loss of those lines, not a resend
        # overrunning the board again, and start no round: see _overflow).
        self.rounds = 0
        self.flight: list[_Sent] = []  # the lines in flight at the rx_overflow, in order
        self.answered: set[int] = set()  # their indexes, answered since
        # The answers taken for lines in flight, in the order they came: where the lines
        # answered are is decided at the marker's answer (_answered_lines).
        self.taken: list[tuple[str, str | None]] = []
        # Lines given up on that an answer passed over for a later line that could take
        # it too (see _match): a second such answer shows the first was theirs.
        self.passed: list[int] = []
        self.cursor = 0  # answers come in order: none can be for a line before this one
        self.started = 0.0
        self.marker_at = 0.0
        # An rx_overflow came after the marker went out (``gap_after``), and no line
        # sent before the marker has been answered since (``marker_lost``): the marker
        # may be lost in that gap, and another is sent when the answer does not come.
        self.gap_after = False
        self.marker_lost = False
        # Markers sent and not answered yet, over every resync: one answered late (after
        # a give-up, or a second one sent for one taken for lost) is not shown either.
        self.owed = 0
        # unknown_intent answers that could be for more than one ':do' in flight (it does
        # not name its intent): none is taken for answered, so all of them are resent.
        self.unsure = 0
        self.info_shown = False  # an info answer was taken for a typed ':info' in flight
        # The lines still to resend, oldest first: one goes when the board answers the
        # one before (or ANSWER_WAIT_S passes without a byte, as for typed lines); the
        # gate stays shut meanwhile, and the note is said when the last one goes.
        self.queue: deque[_Sent] = deque()
        self.resent_at = 0.0  # when the last line resent went out
        # The lines resent and not answered yet, in order: the last one resent, after
        # those given up on (ANSWER_WAIT_S), whose answers may still come, late.
        self.out: list[_Sent] = []
        # The last of them may have been answered: an answer it could take was taken for
        # a late one's (see _after_resend), so the answer wait counts it as answered.
        self.out_unsure = False
        self.told = ""  # the note said when the last line is resent
        # The lines a new rx_overflow found still in ``queue`` (never resent): resent
        # after those the new resync finds lost, or named when it gives up.
        self.unsent: list[_Sent] = []
        # The intents the board acted on this session (only the reader adds to it): an
        # unknown_intent answers none of their ':do' lines.
        self.known: set[str] = set()

    def observe(self, line: str) -> str:
        """Take note of a board line: ``"marker"`` for the marker's answer (not shown),
        ``"resync"`` for a line that came during a resync (the resync decides whether
        the typed line was answered), ``"late"`` for the late answer to a line resent
        and given up on (no typed line's), else ``""``."""
        kind = _answer_kind(line)
        overflow = kind is not None and kind[0] == "overflow"
        acted = kind[1] if kind is not None and kind[0] == "do" else None
        if acted is not None and len(self.known) < MAX_ACTED_INTENTS:
            self.known.add(acted)  # never the intent of an unknown_intent
        # Only this thread (the reader's) starts a resync, so a resync it does not see is
        # none: the gate is then not waited for (a send may hold it while it writes, and
        # a reader held meanwhile leaves last_rx behind, so that a line whose answer sits
        # unread is given up on). Outside a resync only this thread touches the state
        # read here (``owed``, ``out``: the resync's writes to them end before it ends).
        if not self.active and not overflow:
            if kind is not None:
                self._answering()  # the board answers lines again
            if kind is not None and kind[0] == "info" and self.owed:
                return self._late_marker()
            if kind is not None and len(self.out) > 1:
                return self._after_resend(kind)  # the last line resent may be in flight
            return ""
        with self.gate.cond:
            if overflow:
                self.cause = kind[1] if kind is not None and kind[1] else "rx_overflow"
                self._overflow()
                return "resync"
            if not self.active:  # the watcher ended it meanwhile
                if kind is None:
                    return ""
                self._answering()
                if kind[0] == "info" and self._late_marker() == "marker":
                    return "marker"
                return self._after_resend(kind)
            if self.queue:
                return self._paced(kind)
            if kind is None:
                return "resync"
            if kind == ("do", None) and self._unsure():
                self.unsure += 1  # an answer to some line: the board answers lines again
                self._answering()
                self.marker_lost = False  # see below
                return "resync"
            found = self._match(kind)
            if found is not None or self._realign(kind):
                self.taken.append(kind)
                if found is not None:
                    self.answered.add(found)
                    self.cursor = found + 1
                self._answering()
                # The board answers in order and reports a gap where its loop reaches
                # it (the STM32 after the lines before it, the ESP32 having flushed
                # them): a line sent before the marker answered after an rx_overflow
                # came after that gap, so the marker, sent later, was not in it. (An
                # info answer may be the marker's own: it says nothing.)
                if kind[0] != "info":
                    self.marker_lost = False
                # A typed ':info' lost and the marker's answer are alike: this row is the
                # typed one's if another info answer (the marker's) follows, else the
                # marker's, shown in its place (the same board, the same info).
                self.info_shown = self.info_shown or kind[0] == "info"
                return "resync"
            if kind[0] == "info":
                self._finish()
                return "marker"
            return "resync"

    def _paced(self, kind: tuple[str, str | None] | None) -> str:
        """A board line while the lines lost are resent one at a time (gate held): an
        answer is the last resent line's (answers come in order, and every line sent
        before the marker was settled at its answer), so the next one goes, unless it
        is the late answer to one resent before it and given up on (``"late"``). Its row
        and its pairing are as outside a resync (``""``); a line that answers none is
        the resync's (``"resync"``: the resent line stays in flight, see below)."""
        if kind is None:
            # Answers no line (a boot log): the resent line waits on, paced by the resync
            # (its answer or the answer wait). Taken as a release of the typed lines, it
            # made the next line resent one that may have been answered (see
            # _TypedFlight.release), counted answered at the answer wait if it was lost.
            return "resync"
        if kind[0] == "info" and self._late_marker() == "marker":
            return "marker"  # a second marker's answer: it came before the resent lines'
        self._answering()
        if self._after_resend(kind) == "late":
            return "late"  # the line resent last is still in flight: nothing more goes
        self._resend_next()
        return ""

    def _after_resend(self, kind: tuple[str, str | None]) -> str:
        """An answer since lines were resent (gate held, or the reader's outside a
        resync, when no other thread touches them: see observe): ``"late"`` when it is
        the one to a line resent and given up on (no typed line's answer but that one's:
        the line resent after it is still in flight, and the one after that, or a typed
        line, waits for its answer), else ``""``: the line resent last is answered."""
        late = self._late_resent(kind)
        if late is None:
            self.out.clear()
            self.out_unsure = False
            return ""
        last = self.out[-1]  # still in flight: this answer may have been its own
        # Only this answer can be the last line's: one before it, which the last line
        # could take, was not its own if this one, to a line resent before it, cannot
        # be (the board answers in order).
        self.out_unsure = _answers(kind, last.line)
        self.typed.late(
            late.seq if late.typed else None,
            unsure=self.out_unsure and last.typed,
            echoed=_is_echo(kind),
        )
        return "late"

    def _late_resent(self, kind: tuple[str, str | None]) -> _Sent | None:
        """The line resent and given up on that an answer is for (the first it can be
        for: the board answers in order), or None when it can be for none of them (the
        last line resent's). One that either can be for is the line given up on's: its
        answer comes first, and the last line's then lets the next one go (or the
        answer wait does), never both."""
        for index, sent in enumerate(self.out[:-1]):
            if _answers(kind, sent.line):
                del self.out[: index + 1]
                return sent
        return None

    def _resend_next(self) -> None:
        """Resend the next line lost (gate held); the last one ends the resync, with the
        note (its answer is then waited for as any line's)."""
        sent = self.queue.popleft()
        try:
            self._resend(sent)
        except Exception as exc:  # the port went away between two reads
            self.queue.clear()
            self._release()
            self.on_closed(exc)
            return
        self.resent_at = time.monotonic()
        if not self.queue:
            self._release()
            self.note(self.told)

    def _answering(self) -> None:
        """A line was answered: the losses counted so far were not in a row."""
        self.rounds = 0

    def _late_marker(self) -> str:
        """An info answer outside a resync (gate held, or the reader's: see observe): a
        marker's owed, hidden, unless a typed ':info' waits for it (then it is that
        one's row: the same board's info)."""
        if self.owed and not self.typed.has_info():
            self.owed -= 1
            return "marker"
        return ""

    def _unsure(self) -> bool:
        """Whether an unknown_intent could answer more than one ':do' in flight (from the
        cursor on, not answered, naming no intent the board acted on)."""
        candidates = [
            index
            for index in range(self.cursor, len(self.flight))
            if index not in self.answered
            and _answers(("do", None), self.flight[index].line)
            and _do_intent(self.flight[index].line) not in self.known
        ]
        return len(candidates) > 1

    def _match(self, kind: tuple[str, str | None]) -> int | None:
        """The first line in flight, from the cursor on, that this answer can be for; a
        typed line given up on only when no line in flight after it can take it, and
        then the last such one. A line given up on had no answer while later lines went
        and none came before the loss report, so it is in the gap, or ignored, or after
        the gap: then so are the lines after it, which the board answers too, and the
        answers after the gap are for the last lines (a second answer, which no line
        left can take, says so: :meth:`_realign`). Paired as they come; at the marker's
        answer the lines answered are placed from the last (:meth:`_answered_lines`)."""
        passed: list[int] = []
        for index in range(self.cursor, len(self.flight)):
            sent = self.flight[index]
            if kind == ("do", None) and _do_intent(sent.line) in self.known:
                continue
            if not _answers(kind, sent.line):
                continue
            if not sent.given_up:
                self.passed.extend(passed)
                return index
            passed.append(index)
        if not passed:
            return None
        self.passed.extend(passed[:-1])
        return passed[-1]

    def _realign(self, kind: tuple[str, str | None]) -> bool:
        """An answer that no line from the cursor on can be for, after one paired with a
        line past others given up on: the answers were one line earlier (the board
        answers in order), so the nearest line passed over was answered too."""
        if kind[0] == "info" or not self.passed:
            return False  # an info answer unpaired is the marker's
        if not _answers(kind, self.flight[self.cursor - 1].line):
            return False
        self.answered.add(self.passed.pop())
        return True

    def _overflow(self) -> None:
        if self.active and not self.queue:
            # Before the marker's answer: the same loss of the lines in flight (an
            # STM32H7's rx_error after its rx_overflow), or a gap of its own that may
            # have swallowed the marker, which is sent again if its answer does not come.
            self.marker_lost = self.gap_after = True
            return
        # A new resync; one cut short while resending keeps the lines it had not resent
        # yet (the line resent last is in flight, so found again).
        self.unsent.extend(self.queue)
        self.queue.clear()
        self.rounds += 1
        self.episode += 1
        self.active, self.gate.shut = True, True
        self.flight, self.answered, self.cursor = self._in_flight(), set(), 0
        self.taken = []
        self.passed, self.out, self.out_unsure = [], [], False
        self.started, self.info_shown = time.monotonic(), False
        self.unsure = 0
        self.markers = 0
        self._send_marker()
        episode = self.episode
        threading.Thread(target=self._watch, args=(episode,), daemon=True).start()

    def _in_flight(self) -> list[_Sent]:
        """The lines sent and not answered yet (the typed one and the ':do' lines), in
        send order; a typed ':do' line is both, once."""
        lines: dict[int, _Sent] = {typed.seq: typed for typed in self.typed.pending()}
        for act in self.host.in_flight() if self.host is not None else []:
            was = lines.get(act.seq)
            typed = was is not None or act.typed
            given_up, unsure = (was.given_up, was.unsure) if was is not None else (False, False)
            echoed = was is not None and was.echoed
            lines[act.seq] = _Sent(act.line, act.seq, typed, act, given_up, unsure, echoed)
        return [lines[seq] for seq in sorted(lines)]

    def _send_marker(self) -> None:
        self.markers += 1
        self.marker_at = time.monotonic()
        self.marker_lost = self.gap_after = False
        self.owed += 1
        try:
            self.write(RESYNC_MARKER)
        except Exception as exc:  # the port went away between two reads
            self.on_closed(exc)

    def _watch(self, episode: int) -> None:
        """Give up (or send the marker again) when its answer does not come in time."""
        try:
            while not self.gate.stop.is_set():
                with self.gate.cond:
                    if not self.active or self.episode != episode:
                        return
                    now = time.monotonic()
                    if self.queue:
                        # Resending: a line not answered (the board busy, or one that
                        # never answers it) lets the next one go, as for typed lines;
                        # a board that chatters on without answering, after the cap.
                        quiet = now - max(self.resent_at, self.last_rx())
                        if quiet >= ANSWER_WAIT_S or now - self.resent_at >= RESYNC_CAP_S:
                            if self.out_unsure:  # answered (_after_resend): not late
                                self.out.clear()
                                self.out_unsure = False
                            self.typed.give_up()  # as a typed line is; see _late_resent
                            self._resend_next()
                        self.gate.cond.wait(0.05)
                        continue
                    quiet = now - max(self.marker_at, self.last_rx())
                    if now - self.started >= RESYNC_CAP_S:
                        self._give_up(self._late(RESYNC_CAP_S))
                        return
                    if quiet >= RESYNC_WAIT_S:
                        if self.info_shown:  # that info answer was the marker's
                            self._finish(marker_shown=True)
                            continue  # the lines lost are resent, watched as above
                        if self.marker_lost:
                            # Markers lost, not loss lines: several gaps reported before
                            # one marker's answer are one burst (a board that loses every
                            # line, at a wrong baud rate, loses every marker too).
                            if self.markers >= MAX_OVERFLOW_STRIKES:
                                self._give_up(
                                    f"lost the ':info' sent to find the lines it dropped"
                                    f" {self.markers} times with no line answered in between"
                                )
                                return
                            self._send_marker()  # lost with the bytes of a later overflow
                        elif self.gap_after:
                            # The marker was not in that gap (see observe): it is waited
                            # for once more, as a second marker would have made it, but
                            # without one (whose answer would come after the first's).
                            self.gap_after = False
                            self.marker_at = now
                        else:
                            self._give_up(self._late(RESYNC_WAIT_S))
                            return
                    self.gate.cond.wait(0.05)
        except Exception as exc:
            self._release()
            self.on_failed(exc)

    @staticmethod
    def _late(seconds: float) -> str:
        return f"did not answer the ':info' sent to find the lines it dropped within {seconds:g} s"

    def _again(self) -> str:
        return f"lost bytes {self.rounds} times in a row with no line answered in between"

    def _lost(self) -> list[_Sent]:
        """The lines in flight at the rx_overflow not answered since, then those a resync
        cut short had not resent yet (in send order: they went after all of those)."""
        answered = self._answered_lines()
        return [s for i, s in enumerate(self.flight) if i not in answered] + self.unsent

    def _answered_lines(self) -> set[int]:
        """The indexes in ``flight`` of the lines answered since the loss report: the
        last ones that can take the answers taken, in their order (else, when they
        cannot, those :meth:`_match` paired as they came). The board answers in order,
        and answers the lines before a gap before reporting it (the STM32; the ESP32
        flushes them): the lines still in flight at the report were in the gap, or sent
        after it, so the answers after it are the last lines'. Paired as they came, a
        local answer, which fits any phrase, was taken for the first: with two phrases
        in flight (action output let the second go), the one lost was taken for
        answered and never resent, and the one answered was resent and acted on twice."""
        at = len(self.flight)
        lines: set[int] = set()
        for kind in reversed(self.taken):
            at = next((i for i in range(at - 1, -1, -1) if self._takes(kind, i)), -1)
            if at < 0:
                return self.answered
            lines.add(at)
        return lines

    def _takes(self, kind: tuple[str, str | None], index: int) -> bool:
        """Whether the line in flight at ``index`` can take an answer of ``kind`` (an
        unknown_intent answers no ':do' of an intent the board acted on)."""
        line = self.flight[index].line
        if kind == ("do", None) and _do_intent(line) in self.known:
            return False
        return _answers(kind, line)

    def _finish(self, *, marker_shown: bool = False) -> None:
        """The marker's answer came (``marker_shown``: as the row of a typed ':info'):
        resend the lines without an answer, in order."""
        self.owed = max(0, self.owed - 1)  # this marker's answer came
        if self.rounds >= MAX_OVERFLOW_STRIKES:
            self._give_up(self._again())
            return
        lost = self._lost()
        self._settle()
        what = (
            _resent_what(lost, min(self.unsure, len(lost))) if lost else "no line needed resending"
        )
        marker = (
            "whose answer is the info row shown for the ':info' typed"
            if marker_shown
            else "whose answer is not shown"
        )
        told = (
            f"  monitor: the board lost bytes ({self.cause}): {what} (found with an empty "
            f"line and ':info', {marker})"
        )
        if not lost:
            self._release()
            self.note(told)
            return
        self.told = told
        self.queue.extend(lost)
        self._resend_next()

    def _resend(self, sent: _Sent) -> None:
        resent = _Sent(sent.line, self.gate.number(), sent.typed)
        self.out.append(resent)
        if sent.typed:  # counted before it goes: the answer can be quick
            self.typed.sent(resent)
        if sent.act is not None and self.host is not None:
            self.host.put(sent.line, self.write, typed=sent.typed, seq=resent.seq)
        else:
            self.write(sent.line)

    def _settle(self) -> None:
        """Every line in flight is answered, or lost and resent as a new one (or given
        up): none stays in flight (an answer the host worker could not pair with its
        ':do', a line_too_long, would leave that line to be resent at the next resync)."""
        if self.host is not None:
            self.host.forget([s.act for s in self.flight if s.act is not None])
        self.typed.clear()
        self.unsent = []  # in the list resent or named now

    def _give_up(self, why: str) -> None:
        lost = self._lost()
        self._settle()
        self.rounds = 0  # counted afresh
        self._release()
        said = (
            f"gave up resending; not answered: {_quoted_lines(lost)}"
            if lost
            else "no line needed resending"
        )
        self.note(f"  monitor: the board lost bytes ({self.cause}) and {why}: {said}")

    def abandon(self) -> bool:
        """The session ends during a resync: say which lines got no answer; whether it
        was in one."""
        with self.gate.cond:
            was = self.active
            if self.active:
                # Resending: those resent whose answer did not come (out: the last one
                # resent and those given up on before it; the last not when an answer it
                # could take came, out_unsure: that may be its own), then those not resent.
                resending = bool(self.queue)
                lost = list(self.queue) if resending else self._lost()
                resent = self.out[:-1] if self.out_unsure else list(self.out)
                self.queue.clear()
                self._release()
                said = [f"resent, no answer came: {_quoted_lines(resent)}"] if resent else []
                if lost:
                    what = "not resent" if resending else "not answered"
                    said.append(f"{what}: {_quoted_lines(lost)}")
                if said:
                    doing = "resending" if resending else "finding"
                    self.note(
                        f"  monitor: the session ended while {doing} the lines the board "
                        f"dropped ({self.cause}); " + "; ".join(said)
                    )
            return was

    def _release(self) -> None:
        with self.gate.cond:
            self.active, self.gate.shut = False, False
            self.gate.cond.notify_all()


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

    After an ``{"error":"rx_overflow"}`` every send (typed or the host's) is held while
    an empty line and ``:info`` find the lines the board dropped; those are resent in
    their order, each after the answer to the one before, with one note
    (:class:`_Resync`; it gives up, with a note naming them, when ``:info`` is not
    answered in time or the overflows repeat).

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
    heard = [False]  # whether any byte at all came from the board
    typed_flight = _TypedFlight()  # the typed lines waiting for their answers

    failed: list[ToolchainError] = []  # why the session must end, if it must

    def fail(error: ToolchainError) -> None:
        failed.append(error)
        stop.set()

    def on_closed(exc: Exception) -> None:
        closed.append(exc)
        stop.set()

    # Rows from the reader and the host worker never interleave, and never kill them.
    show = _Output(echo, fail)
    # With --raw, stdout holds only the board's lines and {"host":...} JSON lines: the
    # monitor's own notes go with the status line (the CLI: stderr).
    notes = _Output(status, fail) if raw and status is not None else show
    # Typed lines and the host's :do lines go out whole, one at a time, through the gate,
    # which a resync after an rx_overflow holds shut.
    gate = _Gate(stop)

    def write(line: bytes) -> None:
        # Called with the gate held (a send's turn, or a resync's).
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
            gate=gate,
        )
        if escalation is not None
        else None
    )
    resync = _Resync(
        gate,
        write,
        typed_flight,
        host,
        notes,
        lambda: last_rx[0],
        on_closed,
        lambda exc: fail(_unexpected_error("the resync after an rx_overflow", exc)),
    )

    def send(line: bytes) -> None:
        with gate.turn() as seq:
            if seq is None:
                return  # the session ended during a resync
            if line.strip(_BLANK):  # counted before it goes: the answer can be quick
                typed_flight.sent(_Sent(line, seq, True))
            if host is not None:
                # A typed ':do' line is counted with the host's, in send order.
                host.put(line, write, typed=True, seq=seq)
            else:
                write(line)

    def on_line(text: str) -> None:
        seen = resync.observe(text)
        if seen == "marker":
            return  # the resync's ':info' answer: nobody asked for it
        show(shown_line(text) if raw else format_device_line(text))
        if host is not None and host.offer(text):
            return  # the board's answer to the host's ':do', not to the typed line
        if seen in ("resync", "late"):
            # The resync decides whether the typed line was answered; a late answer is
            # the one of a line resent and given up on (the typed flight knows it).
            return
        kind = _answer_kind(text)
        if kind is None:
            typed_flight.release()  # answers no line of tinyslm's: other firmware's
        else:
            typed_flight.answered(kind)

    def on_bytes() -> None:
        last_rx[0] = time.monotonic()
        heard[0] = True

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
    # A line typed at a terminal that is held longer than the answer wait is said so, once
    # (behind an unsure line it waited up to 15 s and the prompt looked dead); on stderr,
    # with the status line, so that output redirected to a file holds only the session.
    # Piped lines are not typed by someone waiting for them: their pace is the end's
    # note's business.
    hold_note = (
        (notes if raw or status is None else _Output(status, fail))
        if _is_terminal(source)
        else None
    )

    def on_hold(left_s: float) -> None:
        if hold_note is not None:  # only passed on when there is one
            hold_note(
                "  monitor: holding your line until the board answers the last one "
                f"(up to {math.ceil(left_s)} s)"
            )

    try:
        while not stop.is_set():
            try:
                line = typed.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                break
            typed_flight.wait(
                stop,
                lambda: last_rx[0],
                lambda: resync.active,
                on_hold=on_hold if hold_note is not None else None,
            )
            if stop.is_set():
                break
            try:
                send(line.rstrip(b"\r\n") + b"\n")
            except Exception as exc:  # the port went away between two reads
                on_closed(exc)
        # The last line's answer is waited for as every other line's (ANSWER_WAIT_S
        # without a byte), not only the `linger` of quiet below: a board busy after
        # answering the line before (a servo, a blink) answers it later, and the end
        # must not count it unanswered. Capped as the settling is.
        cap_s = max(5.0, 5 * linger)  # the end's waits, each (a board that never stops)
        typed_flight.wait(
            stop,
            lambda: last_rx[0],
            lambda: resync.active,
            until=time.monotonic() + cap_s,
            every=True,
        )

        def settle(busy: Callable[[], bool] = lambda: False) -> None:
            # Answers still in flight: wait until the line has been quiet for `linger`
            # seconds and nothing is left unread (capped, for a board that never stops),
            # or until `busy` (a new escalation to answer: the next round waits again).
            # A resync after an rx_overflow is waited for (it ends by itself, bounded by
            # RESYNC_CAP_S per marker), then the answers to the lines it resent.
            since = time.monotonic()
            cap = since + cap_s
            while not stop.is_set() and not busy():
                if time.monotonic() >= cap and not resync.active:
                    break
                quiet = time.monotonic() - max(last_rx[0], since)
                if quiet >= linger and not _unread(conn) and not resync.active:
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
        # Lines it had not resent yet are said, not dropped unsaid.
        abandoned = resync.abandon()
        conn.close()
        # A phrase still waiting gets its row, also when Ctrl-C or SIGTERM ends the wait
        # at the end of input: none is dropped unsaid (rows only, nothing is waited for).
        if host is not None and not failed:
            host.close()
    if failed:
        raise failed[0]
    if closed:
        raise _port_closed(name, closed[0])
    # Typed at a terminal, the user sees what the board answered; piped in, nothing said
    # that a board answered no line (exit 0, silent). A resync's notes said what became
    # of the lines before it settled them, so the lines sent since are counted (none
    # when the session ended during one: its note named those).
    if not abandoned and not _is_terminal(source):
        end = _unanswered_end(typed_flight.tally(), heard[0], name, baud)
        if isinstance(end, ToolchainError):
            raise end
        if end:
            notes(end)


def _is_terminal(source: BinaryIO) -> bool:
    """Whether the typed lines come from a terminal (someone reading the answers)."""
    try:
        return source.isatty()
    except (AttributeError, OSError, ValueError):  # closed, or not a file
        return False


def _unanswered_end(tally: _Tally, heard: bool, name: str, baud: int) -> ToolchainError | str:
    """What the end of a piped session says of the lines the board did not answer: an
    error when lines with a ':' command among them went out and not one byte came back,
    a note when some (or all) got no answer, else nothing (``""``).

    Every tinyslm board answers a ':' command, a text board every line too; a keyword
    board answers no phrase (its bytes go to the audio frame parser, skipped in
    silence). So only a ':' command met with total silence fails the session (exit 1):
    it is no board running a tinyslm project, or none at this baud rate, or a wrong
    port, and a script must tell it from a clean run, as ``monitor --wav`` does. Phrases
    alone met with silence get a note saying both boards' rules. A board that sent
    lines but answered some of ours not is alive: it may be busy, restarting (its boot
    log), or running firmware of the user's whose lines answer none of tinyslm's (the
    monitor serves it too), so that is said and the session ends as it did. After a
    resync only the lines sent since it settled them are counted (its notes said the
    rest).
    """
    if not tally.sent or not tally.missed:
        return ""
    since = " since the last resync (its resends included)" if tally.since_resync else ""
    command = tally.missed_commands > 0  # a ':' command among the lines unanswered
    words = _line_words(tally, baud) if command else _phrase_words(tally, baud)
    if not heard:
        said = (
            f"no byte came back from the board on {name} for the {words.what} sent ({words.silent})"
        )
        # Only a ':' command met with silence fails the session (see above).
        return ToolchainError(said) if command else f"  monitor: {said}"
    if tally.missed == tally.sent:
        return (
            f"  monitor: the board did not answer {words.all} sent{since}, though it sent "
            f"other lines ({words.ignored})"
        )
    return (
        f"  monitor: {words.some} sent{since} got no answer from the board{words.which} "
        f"({words.partly})"
    )


@dataclass(frozen=True)
class _EndWords:
    """The parts of the end's note that differ between phrases alone unanswered and
    lines with a ':' command among them (:func:`_unanswered_end`): what went, ``all``
    of it and ``some`` of it as the note names them, ``which`` of those were commands,
    and why, in brackets, when no byte came (``silent``), when none was answered
    (``ignored``) and when some were not (``partly``)."""

    what: str
    all: str
    some: str
    which: str
    silent: str
    ignored: str
    partly: str


def _phrase_words(tally: _Tally, baud: int) -> _EndWords:
    """The end note's words when only phrases went unanswered: a keyword board answers
    none, so both boards' rules are said."""
    phrases = _counted(tally.phrases, "phrases")
    keyword = "a keyword board answers only ':' commands such as ':info'"
    return _EndWords(
        what=phrases,
        all="the phrase" if tally.sent == 1 else f"any of the {phrases}",
        some=(
            f"{tally.missed} of the {phrases}"
            if tally.missed < tally.phrases
            else "the phrase"
            if tally.phrases == 1
            else f"the {phrases}"
        ),
        which="",
        silent=(
            f"{keyword}, so pipe ':info' first to check the board; a text board answers "
            f"every line: is it running a tinyslm project's firmware at {baud} baud, not "
            "held in its bootloader?"
        ),
        ignored=(
            f"{keyword}; a text board answers every line: is it running a tinyslm "
            f"project's firmware at {baud} baud?"
        ),
        partly=(
            f"{keyword}; a text board answers every line: it may have restarted, or been "
            "busy and dropped them"
        ),
    )


def _line_words(tally: _Tally, baud: int) -> _EndWords:
    """The end note's words when a ':' command went unanswered, which every tinyslm
    board answers."""
    lines = _counted(tally.sent, "lines")
    commands = (
        "a ':' command"
        if tally.missed == 1
        else "all ':' commands"
        if tally.missed == tally.missed_commands
        else f"{tally.missed_commands} of them ':' command"
        + ("" if tally.missed_commands == 1 else "s")
    )
    return _EndWords(
        what=lines,
        all="the line" if tally.sent == 1 else f"any of the {tally.sent} lines",
        some=f"{tally.missed} of the {lines}",
        which=f", {commands}",
        silent=(
            "every tinyslm project's firmware answers a ':' command: is it running one at "
            f"{baud} baud, not held in its bootloader?"
        ),
        ignored=f"is it running a tinyslm project's firmware at {baud} baud?",
        partly=(
            "a tinyslm project's firmware answers every ':' command, a text board's every "
            "line: it may have restarted, or been busy and dropped them; a keyword board "
            "answers within a frame's length of a broken audio frame's bytes only a command "
            "spelt as typed (':', a lowercase letter, printable ASCII), ':info' among them"
        ),
    )


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
    (else it is the host's), the intent it names, and the line as sent and its place in
    the send order (:class:`_Gate`), for a resync to resend it."""

    typed: bool
    intent: str
    line: bytes = b""
    seq: int = 0


def _act_answer(line: str) -> tuple[str, str | None] | None:
    """What the board's answer to a ``:do`` line says: ``("acted", intent)`` (its
    ``{"intent":...,"route":"host"}``), ``("unknown_intent", None)``, or None for any
    other line (an ``{"error":"rx_overflow"}`` too): :func:`_answer_kind`'s ``do``."""
    kind = _answer_kind(line)
    if kind is None or kind[0] != "do":
        return None
    return ("acted", kind[1]) if kind[1] is not None else ("unknown_intent", None)


def _is_rx_overflow(line: str) -> bool:
    """Whether ``line`` is the board's report of lines it lost (its receive buffer ran
    over, or a byte came in wrong: ``rx_error``): the ``:do`` lines in flight may never
    be answered."""
    kind = _answer_kind(line)
    return kind is not None and kind[0] == "overflow"


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
        gate: _Gate | None = None,
    ) -> None:
        self.escalation, self.show, self.raw, self.send = escalation, show, raw, send
        # Every line goes out through the gate, numbered in send order; the monitor's gate
        # is held shut while it resyncs after an rx_overflow (:class:`_Resync`), which
        # then decides which ':do' lines the board lost (they stay in flight till then).
        self.resyncs = gate is not None
        self.gate = gate if gate is not None else _Gate()
        # Where the worker's notes go (not answers): with --raw, away from the JSON lines.
        self.note = note if note is not None else show
        # Gets an exception the worker did not expect; it ends the worker, whose phrases
        # would otherwise wait for an answer that never comes (None: raised in the thread).
        self.on_failed = on_failed
        self.dead = threading.Event()
        self.pending: queue.Queue[Escalated] = queue.Queue(MAX_PENDING_ESCALATIONS)
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
        # The lines numbered up to this one (the gate's count) went out before the board
        # last said it lost bytes: an unknown_intent may not be for the first of them.
        self.lost_through = 0
        self.unsure = False  # the last unknown_intent paired may answer another :do line
        threading.Thread(target=self._run, daemon=True).start()

    def transmit(self, line: bytes, write: Callable[[bytes], None], *, typed: bool) -> None:
        """``write(line)`` when the gate is open (not while a resync holds it), a ``:do``
        line counted first (the answer can be quick), in the order the lines go out,
        typed or the host's: the board answers in that order. Nothing is sent once the
        session ends during a resync."""
        with self.gate.turn() as seq:
            if seq is not None:
                self.put(line, write, typed=typed, seq=seq)

    def put(self, line: bytes, write: Callable[[bytes], None], *, typed: bool, seq: int) -> None:
        """:meth:`transmit` with the gate's turn taken already (``seq``, its number)."""
        act = self.sending(line, typed=typed, seq=seq)
        try:
            write(line)
        except BaseException:
            if act is not None:
                self.unsent(act)  # never went out: no answer will come
            raise

    def sending(self, line: bytes, *, typed: bool, seq: int = 0) -> _Act | None:
        """Count ``line`` as sent if it is a ``:do`` line (called in send order, before
        it goes); the entry, for :meth:`unsent`."""
        intent = _do_intent(line)
        if intent is None:
            return None
        act = _Act(typed, intent, line, seq)
        with self.lock:
            self.acts.append(act)
        return act

    def unsent(self, act: _Act) -> None:
        """``act``'s line never went out (the port failed): no answer will come for it."""
        self.forget([act])

    def forget(self, acts: Sequence[_Act]) -> None:
        """No answer will come for ``acts`` (never sent, or lost and resent as new ones)."""
        with self.lock:
            kept = [a for a in self.acts if all(a is not gone for gone in acts)]
            self.acts.clear()
            self.acts.extend(kept)

    def in_flight(self) -> list[_Act]:
        """The ``:do`` lines sent and not answered yet, oldest first."""
        with self.lock:
            return list(self.acts)

    def _answered_act(self, line: str) -> _Act | None:
        """The ``:do`` line that ``line`` answers, if it is such an answer (a
        line_too_long: the first one in flight longer than its ``max``); an
        ``rx_overflow`` forgets those in flight (the board may have lost them), unless
        the monitor resyncs (then the resync forgets those it had in flight when it
        ends, and resends those lost). ``unsure``: an unknown_intent paired after a loss
        that may be another ``:do`` line's answer (no note names its intent)."""
        said = _act_answer(line)
        with self.lock:
            self.unsure = False
            if said is None:
                if _is_rx_overflow(line):
                    if not self.resyncs:
                        self.acts.clear()
                    self.lost_through = self.gate.sent
                return self._too_long(line)
            kind, intent = said
            if kind != "acted" or intent is None:
                # Never the answer to a line naming an intent the board acted on: such
                # lines before the one it answers were lost on the way (resync).
                while self.acts and self.acts[0].intent in self.acted:
                    self.acts.popleft()
                if not self.acts:
                    return None
                # After a loss, any of the lines naming an intent not acted on may be the
                # one it answers (the others lost): paired with the first, not said.
                others = sum(1 for a in self.acts if a.intent not in self.acted) > 1
                self.unsure = self.acts[0].seq <= self.lost_through and others
                return self.acts.popleft()
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

    def _too_long(self, line: str) -> _Act | None:
        """The ``:do`` line a line_too_long answers (with ``lock`` held): the first one in
        flight longer than its ``max`` (those are never acted on, nor resent)."""
        kind = _answer_kind(line)
        if kind is None or kind[0] != "long" or kind[1] is None:
            return None  # one naming no max could be a typed line's: left to the resync
        for act in self.acts:
            if _answers(kind, act.line):
                self.acts.remove(act)
                return act
        return None

    def offer(self, line: str) -> bool:
        """Queue ``line`` for an answer if it is an escalation (decoded, as the board sent
        it); True when it is the board's answer to one of the host's ``:do`` lines."""
        from tinyslm.escalate import parse_escalation

        act = self._answered_act(line)
        unknown = act is not None and _act_answer(line) == ("unknown_intent", None)
        # Never an intent the board acted on: _answered_act pairs an unknown_intent with no
        # ':do' line naming one (those before it were lost on the way).
        unknown = unknown and not self.unsure  # perhaps the answer to another :do line
        if unknown and act is not None and not act.typed and not self.told_unknown:
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
