"""Input types the routers share: text the database can store, instants it can compare.

PostgreSQL refuses text holding NUL (U+0000) and a timestamp that leaves the years 1
to 9999 once moved to UTC (0001-01-01T00:00+23:59); without these checks such input
would reach the database and fail there (a 500). Here it is a 422 naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def no_nul(value: str) -> str:
    # Never repeats the value: it may be a card number.
    if "\x00" in value:
        raise ValueError("Text may not contain the NUL character (\\u0000).")
    return value


def in_utc_range(value: datetime) -> datetime:
    """An instant with an offset that still exists in UTC. A time without an offset is left
    for the service to judge (it may be a per-record rejection rather than a refusal)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("This time lies outside the years 1 to 9999 once moved to UTC.") from None


Text = Annotated[str, AfterValidator(no_nul)]
StorableDatetime = Annotated[datetime, AfterValidator(in_utc_range)]
