"""The exceptions tinyslm raises on bad input or a failed stage.

The CLI turns every ``TinySlmError`` into one line on stderr and exit code 1
(after its ``detail`` lines, when it has any); anything else is a bug and keeps
its traceback. :func:`output_tail` is how a failed program's output is quoted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tinyslm.terminal import printable

# A quoted tail stays readable on one line even when a tool prints one huge line.
TAIL_MAX_CHARS = 300


class TinySlmError(Exception):
    """A problem the user can fix: the message is shown as one line.

    Args:
        message: the one ``error:`` line.
        detail: lines that explain it (e.g. the end of a tool's output the user has
            not seen); the CLI prints them, indented, before the error line.
    """

    def __init__(self, message: str, *, detail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.detail = tuple(detail)


class DatasetError(TinySlmError):
    """The dataset is missing, malformed, empty or unusable for training."""


class ModelError(TinySlmError):
    """A model file or manifest is missing, corrupt or unsupported."""


class BoardError(TinySlmError):
    """An unknown board, a board file that fails its schema, or a budget overrun."""


class BudgetError(BoardError):
    """The model and arena do not fit the board's flash or RAM budget."""


class OutputError(TinySlmError):
    """The output folder cannot be written."""


class OutputExistsError(OutputError):
    """The output folder is in use: not empty without --force, or not tinyslm's to replace."""


class ToolchainError(TinySlmError):
    """An external tool (pio, a compiler, TFLM sources, the network) is missing or failed."""


class ProjectError(TinySlmError):
    """A generated project folder is missing, incomplete or not a tinyslm project."""


# What splits a line or moves the cursor when printed: control characters (a tab
# excepted: it stays on the line), lone surrogates (a path's undecodable bytes) and
# the Unicode line and paragraph separators.
_UNPRINTED = frozenset(("Cc", "Cs", "Zl", "Zp"))


def one_line(text: str) -> str:
    """``text`` with what would break its line written as Python writes it in a repr
    (``\\n``, ``\\r``, ``\\x1b``, ``\\u2028``; a path's undecodable byte as ``\\xff``):
    an error naming a path that holds a line break (``tinyslm train $'no\\nsuch.csv'``)
    is still one line."""
    import unicodedata

    if text.isprintable():  # the usual message: nothing to look at character by character
        return text
    return "".join(
        _shown(ch) if ch != "\t" and unicodedata.category(ch) in _UNPRINTED else ch for ch in text
    )


def utf8_text(text: str) -> str:
    """``text`` with each lone surrogate (a path's undecodable byte) written as
    :func:`one_line` writes it (``\\xff``), the rest as it is: text any UTF-8 file can
    hold, for a name read from where a lone surrogate may sit (JSON can escape one,
    ``"\\udcff"``, as an older tinyslm recorded such a file name)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_shown(ch) if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text


def shell_word(text: str) -> str:
    """``text`` as one shell word a user can paste into bash or zsh, for a command an
    error suggests: :func:`shlex.quote` where that is plain printable text; else an
    ANSI-C quoted word (``$'/tmp/t\\xff'``) that names the very bytes. ``shlex.quote``
    of a path with an undecodable byte or a line break gave ``'/tmp/t\\udcff'``, which
    the error line shows as ``'/tmp/t\\xff'``: single quotes keep those four characters,
    so the pasted command named another folder."""
    import shlex

    if text.isprintable():
        return shlex.quote(text)
    import os

    word = []
    for ch in text:
        if ch in "\\'":
            word.append("\\" + ch)
        elif ch.isprintable():
            word.append(ch)
        else:
            # The bytes the path holds (an undecodable one is its lone surrogate), each
            # as \xHH: bash 5.2 in a C/POSIX locale reads \u00a0 as the text '\u00A0'
            # (and \U000e0001 as nothing), but \xHH as that byte in any locale. Always
            # two digits: bash reads at most two, so a hex digit after stays text.
            try:
                data = os.fsencode(ch)
            except UnicodeEncodeError:  # no path holds it (a surrogate not from a byte)
                data = b""
            if data:
                word.append("".join(f"\\x{byte:02x}" for byte in data))
            else:
                code = ord(ch)
                word.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "$'" + "".join(word) + "'"


def _shown(ch: str) -> str:
    """One unprinted character as an escape. A path's undecodable byte (Python holds
    0xff as the lone surrogate U+DCFF) is shown as the byte, ``\\xff``, as the shell
    shows it: ``\\udcff`` named a character the path does not hold."""
    if 0xDC80 <= ord(ch) <= 0xDCFF:
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")


def tail_lines(output: str | bytes, lines: int) -> list[str]:
    """The last ``lines`` non-blank lines of a program's output (right-stripped)."""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()][-lines:]


def output_tail(output: str | bytes, lines: int = 4) -> str:
    """The end of a program's output for a one-line error: the last ``lines`` non-blank
    lines joined with `` | ``, at most :data:`TAIL_MAX_CHARS` (its end); ``""`` if none."""
    text = " | ".join(ln.strip() for ln in tail_lines(output, lines))
    return text if len(text) <= TAIL_MAX_CHARS else "..." + text[-TAIL_MAX_CHARS:]


def json_reason(exc: Exception) -> str:
    """Why ``json.loads`` refused a text, for a one-line error: a syntax error, an integer
    of more digits than Python converts (a ValueError), or brackets nested past its depth
    (RecursionError). Every data loader catches all three."""
    import json

    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def for_terminal(text: str) -> str:
    """``text`` as one terminal line, for every line tinyslm writes on stderr: as ``info``
    shows label names (a newline, an ESC or C1 control, a line separator or a bidi
    override in a label would break the line, reprogram the terminal or reorder what
    follows), a path's undecodable byte as the shell shows it (``\\xff``): :func:`one_line`,
    and :func:`tinyslm.terminal.printable`'s bidi controls. Printed as it is, the byte
    reached stderr as ``\\udcff`` (Python's stderr writes what it cannot encode with
    ``backslashreplace``), a character the path does not hold."""
    return printable(one_line(text))


def quoted(text: str) -> str:
    """``text`` as its ``repr`` writes it, but a path's undecodable byte as the shell shows
    it (``\\xff``, not ``\\udcff``): how a message quotes a name it must set apart (click's
    ``{value!r}``, a typed keyword, a WAV path holding a line break). Every other character
    is written as ``repr`` writes it, so a message quoting an ordinary word is unchanged and
    what a terminal would not show (a tab, a no-break or zero-width space, a backslash
    against an escape) stays visible."""
    shown = repr(text)
    if text.isprintable():  # no surrogate: the usual word
        return shown
    quote = shown[0]
    body = (
        _shown(ch) if 0xDC80 <= ord(ch) <= 0xDCFF else "\\" + ch if ch == quote else repr(ch)[1:-1]
        for ch in text
    )
    return quote + "".join(body) + quote


def tell(message: str, kind: str = "warning") -> None:
    """One ``warning:`` (or ``note:``) line on stderr, as the CLI writes its own
    (:func:`for_terminal`: the message may name the user's files): for the library steps
    that must tell the user something mid-run with no caller's log to hand it to (a cache
    entry rebuilt, a folder another run is writing, a leftover named)."""
    print(f"{kind}: {for_terminal(message)}", file=sys.stderr, flush=True)
