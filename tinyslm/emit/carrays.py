"""C literals for generated sources: byte-array bodies, strings and float32 constants.

Everything here is pure and deterministic so that the same model gives the same
bytes on every run (the golden tests rely on it).
"""

from __future__ import annotations

import math
import struct

BYTES_PER_LINE = 12


def c_array_body(data: bytes, per_line: int = BYTES_PER_LINE, indent: str = "  ") -> str:
    """Comma-separated ``0x..`` bytes, ``per_line`` per line, without braces.

    The result has no trailing newline; an empty input gives an empty string.
    """
    lines = []
    for start in range(0, len(data), per_line):
        chunk = data[start : start + per_line]
        lines.append(indent + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
    return "\n".join(lines)


def c_string(value: str | bytes) -> str:
    """A C string literal (with quotes) for any text, UTF-8 bytes kept exact.

    Printable ASCII is copied; ``"``, ``\\`` and ``?`` (trigraphs) are escaped;
    every other byte becomes a 3-digit octal escape, which cannot run into the
    next character the way ``\\x`` escapes do.
    """
    data = value.encode("utf-8") if isinstance(value, str) else value
    out = []
    for b in data:
        ch = chr(b)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def c_float(value: float) -> str:
    """A C ``float`` literal that reads back as the same float32 as ``value``.

    Raises:
        ValueError: ``value`` is not finite.
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot emit non-finite float {value!r}")
    f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    text = f"{f32:.9g}"
    if not any(c in text for c in ".en"):
        text += ".0"
    return text + "f"
