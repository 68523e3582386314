"""Appending a paid period (DESIGN.md §4), defined once for both write paths.

A payment for a period records what it buys (`PeriodPurchase`, the attempt's purpose
data) when its attempt is written; once paid, `append_paid_period` says which period
that is (stacked after the last one if it is still running, else from now; a calendar
plan keeps its anchor) and what the subscription becomes. `renewals.on_period_paid`
writes one such period with the ORM; `autorenew_settle.apply_paid_periods` writes a
batch of them in bulk. Both take every value they write from here, so the two cannot
drift (tests/subscriptions/test_write_path_equivalence.py runs them side by side).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simrenew.catalog.services import PriceQuote
from simrenew.subscriptions.models import SubscriptionState
from simrenew.subscriptions.periods import PeriodSpan, PreviousPeriod, next_period
from simrenew.subscriptions.queries import LastPeriod
from simrenew.subscriptions.schedule import first_try_at


@dataclass(frozen=True, slots=True)
class PeriodPurchase:
    """What a payment for one period buys, priced: kept in the attempt's purpose data."""

    plan_id: int
    subtotal_minor: int
    discount_minor: int
    bonus_data_mb: int
    promo_code: str | None
    currency: str
    # "Also renew with this plan from now on": the renewal plan the subscription had when the customer
    # asked (step 1). The change is made once paid, and only if that plan is still the renewal plan:
    # a choice made meanwhile (PATCH, manage page) is the later one and stays.
    renew_with_plan_instead_of: int | None = None

    @classmethod
    def of(cls, plan_id: int, price: PriceQuote, *, renew_with_plan_instead_of: int | None = None) -> PeriodPurchase:
        return cls(
            plan_id,
            price.subtotal.amount_minor,
            price.discount.amount_minor,
            price.bonus_data_mb,
            price.promotion.code if price.promotion else None,
            price.subtotal.currency,
            renew_with_plan_instead_of,
        )

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor - self.discount_minor

    def purpose_data(self) -> dict[str, object]:
        """The attempt's `purpose_data` (its keys are read by refunds, receipts and the API)."""
        data: dict[str, object] = {
            "plan_id": self.plan_id,
            "subtotal_minor": self.subtotal_minor,
            "discount_minor": self.discount_minor,
            "bonus_data_mb": self.bonus_data_mb,
            "promo_code": self.promo_code,
        }
        if self.renew_with_plan_instead_of is not None:
            data[RENEW_WITH_PLAN_INSTEAD_OF] = self.renew_with_plan_instead_of
        return data

    @classmethod
    def from_purpose_data(cls, data: Mapping[str, Any], *, currency: str) -> PeriodPurchase:
        return cls(
            int(data["plan_id"]),
            int(data["subtotal_minor"]),
            int(data["discount_minor"]),
            int(data.get("bonus_data_mb") or 0),
            data.get("promo_code"),
            currency,
            None if data.get(RENEW_WITH_PLAN_INSTEAD_OF) is None else int(data[RENEW_WITH_PLAN_INSTEAD_OF]),
        )


# In a renewal's purpose data: the customer asked to renew with the plan bought from now on,
# instead of this renewal plan (the subscription's at step 1).
RENEW_WITH_PLAN_INSTEAD_OF = "renew_with_plan_instead_of"


def previous_period(last: LastPeriod | None, ended_at: datetime | None) -> PreviousPeriod | None:
    """The last period as the next one continues from it: cut short where a cancellation
    "now" stopped service, so a renewal after it starts now rather than at the old end."""
    if last is None:
        return None
    ends_at = last.ends_at if ended_at is None else min(last.ends_at, ended_at)
    return PreviousPeriod(
        ends_at=ends_at,
        anchor_at=last.anchor_at,
        anchor_offset=last.anchor_offset,
        period_unit=last.period_unit,
        period_count=last.period_count,
        time_zone=last.time_zone,
    )


@dataclass(frozen=True, slots=True)
class PaidPeriod:
    """The period a payment appends, and the subscription's fields after it."""

    number: int
    plan_id: int
    span: PeriodSpan
    data_mb: int
    renewal_plan_id: int  # the subscription's renewal plan after the payment

    @property
    def renewal_due_at(self) -> datetime:
        return first_try_at(self.span.ends_at)

    def period_values(self) -> tuple[object, ...]:
        """The new `Period` row's values for `PERIOD_FIELDS` (the bulk path writes these)."""
        span = self.span
        return (
            self.number,
            self.plan_id,
            span.starts_at,
            span.ends_at,
            span.anchor_at,
            span.anchor_offset,
            span.time_zone,
            self.data_mb,
        )

    def subscription_values(self) -> tuple[object, ...]:
        """The subscription after the payment, for `SUBSCRIPTION_FIELDS`: live, paid through
        the new end (a cancellation "now" is over), the next auto-renew try counted from that
        end. Its renewal plan stays, unless the payment asked for it to change (renewals.py)."""
        return (SubscriptionState.LIVE.value, self.span.ends_at, None, self.renewal_due_at, self.renewal_plan_id)

    def period_fields(self) -> dict[str, object]:
        return dict(zip(PERIOD_FIELDS, self.period_values(), strict=True))

    def subscription_fields(self) -> dict[str, object]:
        return dict(zip(SUBSCRIPTION_FIELDS, self.subscription_values(), strict=True))


# A period's columns but its subscription, invoice, usage and creation time.
PERIOD_FIELDS = ("number", "plan_id", "starts_at", "ends_at", "anchor_at", "anchor_offset", "time_zone", "data_mb")
SUBSCRIPTION_FIELDS = ("state", "paid_through", "ended_at", "renewal_due_at", "plan_id")


def append_paid_period(
    *,
    last: LastPeriod | None,
    ended_at: datetime | None,
    renewal_plan_id: int,
    purchase: PeriodPurchase,
    plan_data_mb: int,
    period_unit: str,
    period_count: int,
    time_zone: str,
    now: datetime,
) -> PaidPeriod:
    """The period `purchase`, paid at `now`, appends after `last` (None before the first), to a
    subscription whose renewal plan is now `renewal_plan_id`."""
    span = next_period(
        previous=previous_period(last, ended_at),
        period_unit=period_unit,
        period_count=period_count,
        time_zone=time_zone,
        now=now,
    )
    number = (last.number + 1) if last else 1
    asked = purchase.renew_with_plan_instead_of
    renews_with = purchase.plan_id if asked is not None and asked == renewal_plan_id else renewal_plan_id
    return PaidPeriod(number, purchase.plan_id, span, plan_data_mb + purchase.bonus_data_mb, renews_with)
