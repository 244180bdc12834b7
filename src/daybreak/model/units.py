"""Sizes and durations as people write them on command lines (`8GiB`, `500ms`), and the one
definition of each unit the code counts in."""

from __future__ import annotations

import re

from daybreak.errors import InvalidParameterError

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
MIB = 1024**2


def is_number(text: str) -> bool:
    """Only the digits 0-9: `str.isdigit` also takes '³' and '²', which `int` refuses."""
    return text.isascii() and text.isdigit()


def parse_size_mb(text: str, what: str) -> int:
    """`8GiB`, `512MB`, `100g` or a bare number of bytes, in MiB."""
    match = _SIZE.match(text)
    if match is None:
        raise InvalidParameterError(f"{what}: cannot read {text!r} as a size; write e.g. 8GiB")
    return int(float(match[1]) * _UNITS[match[2].lower()] // MIB)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration_s(text: str, what: str) -> float:
    """`500ms`, `30s`, `10m`, `12h`, `7d` or a bare number of seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise InvalidParameterError(f"{what}: cannot read {text!r} as a duration; write e.g. 7d")
    return float(match[1]) * _DURATION_UNITS_S[match[2] or "s"]


def duration_text(seconds: int) -> str:
    """`1d2h`, `30m`, `45s`, as `--durations` takes them."""
    parts = []
    rest = seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"
