"""Strings that came from files (class names, paths, metadata, labels) shown as plain text: control characters
escaped, long values cut, never interpreted as terminal escapes or console markup. Everything the CLI prints
that a file could have written passes through `plain`, and every error line through `one_line`."""
from __future__ import annotations

MAX_VALUE_CHARS = 200
MAX_LINE_CHARS = 2000

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or ch in "\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e":
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def plain(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """`value` as one printable line: control and bidi characters escaped, cut to `limit` characters (marked)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # do not escape megabytes only to throw them away
        text = text[: 4 * limit]
        cut = True
    else:
        cut = False
    out = "".join(_escape_char(ch) for ch in text)
    if len(out) > limit or cut:
        return out[: max(limit - 1, 1)] + "…"
    return out


def one_line(message: object) -> str:
    """An error or status message as a single printable line of bounded length."""
    return plain(message, MAX_LINE_CHARS)
