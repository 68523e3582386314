"""All "now" comes from here.

Outside sandbox mode it is the system clock. In sandbox mode an operator may
freeze time at any instant and move it forward (the test clock); it is kept in
the database so every process sees the same time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings

from simrenew.kit.errors import Forbidden, ValidationFailed
from simrenew.kit.models import TestClock


class SandboxOnly(Forbidden):
    slug = "sandbox-only"
    title = "Only in sandbox mode"


def system_now() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    if settings.SIMRENEW_SANDBOX:
        frozen = TestClock.objects.filter(pk=1).values_list("frozen_at", flat=True).first()
        if frozen is not None:
            return frozen
    return system_now()


def is_frozen() -> bool:
    return bool(settings.SIMRENEW_SANDBOX) and TestClock.objects.filter(pk=1, frozen_at__isnull=False).exists()


def _require_sandbox() -> None:
    if not settings.SIMRENEW_SANDBOX:
        raise SandboxOnly("The test clock can only be used in sandbox mode (SIMRENEW_SANDBOX=1).")


def set_now(when: datetime) -> datetime:
    """Freeze the test clock at `when`. Time may move backwards only by resetting."""
    _require_sandbox()
    if when.tzinfo is None:
        raise ValidationFailed.on("now", "The time must carry a UTC offset, e.g. 2026-01-31T09:00:00+00:00.")
    when = when.astimezone(UTC)
    TestClock.objects.update_or_create(pk=1, defaults={"frozen_at": when})
    return when


def advance(by: timedelta) -> datetime:
    _require_sandbox()
    if by < timedelta(0):
        raise ValidationFailed.on("by", "The test clock only moves forward.")
    return set_now(now() + by)


def reset() -> None:
    """Return to the system clock."""
    _require_sandbox()
    TestClock.objects.filter(pk=1).update(frozen_at=None)
