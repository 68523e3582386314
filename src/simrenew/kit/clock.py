"""All "now" comes from here.

Outside sandbox mode it is the system clock. In sandbox mode an operator may
freeze time at any instant and move it forward (the test clock); it is kept in
the database so every process sees the same time. Every move is audited here
(`kit.audit`), whoever makes it: the console, the API, the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils.dateparse import parse_datetime

from simrenew.kit import audit
from simrenew.kit.errors import Forbidden, ValidationFailed
from simrenew.kit.models import TestClock


class SandboxOnly(Forbidden):
    slug = "sandbox-only"
    title = "Only in sandbox mode"


# The test clock stays where the platform's calendar arithmetic (years of prepaid periods,
# retention windows, charts of the last 12 months) cannot leave the datetime range.
EARLIEST_TEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)


def system_now() -> datetime:
    return datetime.now(UTC)


def _frozen_at() -> datetime | None:
    # Plain SQL: "now" is asked for many times per use case, and this is its hot path.
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT frozen_at FROM kit_testclock WHERE id = 1")
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return None
    value = row[0]
    if isinstance(value, str):  # SQLite hands back text
        value = parse_datetime(value)
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_instant: ContextVar[datetime | None] = ContextVar("simrenew_instant", default=None)


@contextmanager
def one_instant() -> Iterator[datetime]:
    """Within the block every `now()` is the same instant: one unit of work
    (a transaction) stamps all its rows alike, and asks the clock once."""
    outer = _instant.get()
    if outer is not None:
        yield outer
        return
    token = _instant.set(now())
    try:
        yield _instant.get() or now()
    finally:
        _instant.reset(token)


def now() -> datetime:
    pinned = _instant.get()
    if pinned is not None:
        return pinned
    if settings.SIMRENEW_SANDBOX:
        frozen = _frozen_at()
        if frozen is not None:
            return frozen
    return system_now()


def is_frozen() -> bool:
    return bool(settings.SIMRENEW_SANDBOX) and TestClock.objects.filter(pk=1, frozen_at__isnull=False).exists()


def _require_sandbox() -> None:
    if not settings.SIMRENEW_SANDBOX:
        raise SandboxOnly("The test clock can only be used in sandbox mode (SIMRENEW_SANDBOX=1).")


def _state() -> dict[str, object] | None:
    """The clock as the audit trail shows it before and after a move (None when nobody acts,
    as in tests' fixtures: then the clock is not read twice more per move)."""
    if not audit.auditing():
        return None
    return {"now": now().isoformat(timespec="seconds"), "frozen": is_frozen()}


def _record_move(verb: str, before: dict[str, object] | None) -> None:
    if before is None:
        return
    audit.record_change(
        action=f"test_clock.{verb}",
        target_type="kit.testclock",
        target_id="1",
        target_label="sandbox test clock",
        before=before,
        after=_state(),
    )


def set_now(when: datetime) -> datetime:
    """Freeze the test clock at `when`. Time may move backwards only by resetting."""
    _require_sandbox()
    before = _state()
    when = _freeze(when)
    _record_move("set", before)
    return when


def _freeze(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValidationFailed.on("now", "The time must carry a UTC offset, e.g. 2026-01-31T09:00:00+00:00.")
    try:
        when = when.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed.on("now", "This time lies outside the years 1 to 9999 once moved to UTC.") from None
    if not EARLIEST_TEST_TIME <= when < LATEST_TEST_TIME:
        raise ValidationFailed.on(
            "now",
            f"The test clock can be set between {EARLIEST_TEST_TIME.year} and {LATEST_TEST_TIME.year - 1}.",
        )
    TestClock.objects.update_or_create(pk=1, defaults={"frozen_at": when})
    return when


def advance(by: timedelta) -> datetime:
    _require_sandbox()
    if by < timedelta(0):
        raise ValidationFailed.on("by", "The test clock only moves forward.")
    before = _state()
    try:
        later = now() + by
    except OverflowError:
        raise ValidationFailed.on("by", "That would move the test clock past the year 9999.") from None
    later = _freeze(later)
    _record_move("advance", before)
    return later


def reset() -> None:
    """Return to the system clock."""
    _require_sandbox()
    before = _state()
    TestClock.objects.filter(pk=1).update(frozen_at=None)
    _record_move("reset", before)
