"""The sandbox test clock: the shared "now" of the web processes, the worker and the CLI.

Reading it is always allowed. Moving it is refused (403) unless the platform runs
in sandbox mode (`SIMRENEW_SANDBOX=1`); in sandbox mode a key with the `write`
scope may move it (not only `admin`), so that partners can test renewals and
expiries end to end with the key they already use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import AwareDatetime, ConfigDict, field_validator

from simrenew.api.idempotency import idempotent
from simrenew.api.schemas import InputSchema
from simrenew.kit import clock
from simrenew.kit.durations import parse_duration

router = Router(tags=["test clock"])

MAX_ADVANCE = timedelta(days=3660)


class TestClockOut(Schema):
    __test__ = False  # not a pytest test class

    now: datetime = Field(..., description="The platform's current time.")
    frozen: bool = Field(..., description="True when the test clock holds time still (sandbox only).")
    sandbox: bool = Field(..., description="Whether the platform runs in sandbox mode.")


class TestClockSet(InputSchema):
    __test__ = False

    model_config = ConfigDict(json_schema_extra={"examples": [{"now": "2026-01-31T09:00:00+00:00"}]})
    now: AwareDatetime = Field(..., description="ISO 8601 with a UTC offset, e.g. 2026-01-31T09:00:00+00:00.")


class TestClockAdvance(InputSchema):
    __test__ = False

    model_config = ConfigDict(json_schema_extra={"examples": [{"by": "1d12h"}]})
    by: timedelta = Field(
        ...,
        description="How far forward: 3d, 36h, 90m, 1d12h, an ISO 8601 duration (P1DT12H) or seconds.",
    )

    @field_validator("by", mode="before")
    @classmethod
    def compact_duration(cls, value: object) -> object:
        if isinstance(value, str) and value and not value.upper().startswith(("P", "-P")):
            return parse_duration(value)
        return value

    @field_validator("by")
    @classmethod
    def forward_and_bounded(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("The test clock only moves forward; give a positive duration.")
        if value > MAX_ADVANCE:
            raise ValueError("Move the clock at most 3660 days at a time.")
        return value


def _state() -> TestClockOut:
    return TestClockOut(now=clock.now(), frozen=clock.is_frozen(), sandbox=bool(settings.SIMRENEW_SANDBOX))


@router.get("", response=TestClockOut, summary="Read the platform's clock")
def get_test_clock(request: HttpRequest) -> TestClockOut:
    """The time every process of the platform uses now, and whether the sandbox test clock holds it still."""
    return _state()


@router.put("", response=TestClockOut, summary="Freeze the test clock at a time (sandbox only)")
@idempotent()
def set_test_clock(request: HttpRequest, payload: TestClockSet) -> TestClockOut:
    """Freezes the shared clock at `now` (forward or back). Refused (403) unless the platform runs in sandbox
    mode."""
    with transaction.atomic():
        clock.set_now(payload.now)
    return _state()


@router.post("/advance", response=TestClockOut, summary="Move the test clock forward (sandbox only)")
@idempotent()
def advance_test_clock(request: HttpRequest, payload: TestClockAdvance) -> TestClockOut:
    """Moves the frozen clock forward by `by` (at most 3660 days), so renewals and expiries can be tested
    end to end. Refused (403) outside sandbox mode."""
    with transaction.atomic():
        clock.advance(payload.by)
    return _state()


@router.delete("", response=TestClockOut, summary="Return to the real time (sandbox only)")
@idempotent()
def reset_test_clock(request: HttpRequest) -> TestClockOut:
    """The clock follows real time again. Refused (403) outside sandbox mode."""
    with transaction.atomic():
        clock.reset()
    return _state()
