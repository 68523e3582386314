"""Compact durations as operators type them: `3d`, `36h`, `90m`, `1d12h`, `2w`, `45s`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """`1d12h` → 36 hours. Raises ValueError with a readable message."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or not _WHOLE.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration; write it like 3d, 36h, 90m or 1d12h.")
    amounts: dict[str, int] = {}
    for number, unit in _PART.findall(compact):
        name = _UNITS[unit]
        amounts[name] = amounts.get(name, 0) + int(number)
    try:
        return timedelta(**amounts)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration.") from None
