"""Signature timestamps in Unix seconds, parsed strictly.

`int()` accepts signs, underscores, spaces and non-ASCII digits, and a 400-digit value
overflows the float arithmetic of a tolerance check; a signed timestamp is 1 to 12 ASCII
digits or it is no timestamp at all.
"""

from __future__ import annotations

_MAX_DIGITS = 12


def unix_seconds(text: str) -> int | None:
    if not 0 < len(text) <= _MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def within_tolerance(text: str, *, now: float, tolerance: int) -> bool:
    seconds = unix_seconds(text)
    return seconds is not None and abs(now - seconds) <= tolerance
