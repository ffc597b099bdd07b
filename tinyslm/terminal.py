"""What makes text safe to write on the user's terminal: :func:`printable`.

Its own small module (the standard library's ``unicodedata`` only) because both
:mod:`tinyslm.errors` (every ``error:``/``warning:`` line, :func:`~tinyslm.errors.for_terminal`)
and :mod:`tinyslm.monitor` (every device line) need it. It lived in monitor: the first
warning or error line of a run imported monitor's 2,700 lines, and numpy through them,
only for this function.
"""

from __future__ import annotations

import unicodedata

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
