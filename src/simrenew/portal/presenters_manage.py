"""What the manage, add-an-eSIM, install, usage and connection pages show,
formatted for the customer (locale, zone). Rules stay in the services; this
module only reads and words things."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal
from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from simrenew.catalog.models import PeriodUnit, Plan, TopUpPack
from simrenew.catalog.services import quote
from simrenew.customers.models import Customer
from simrenew.esims.identifiers import ActivationCode, ios_install_url, parse_activation_code
from simrenew.esims.services import NoProfileAvailable
from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError
from simrenew.kit.money import format_gigabytes, format_money
from simrenew.payments.failures import OTHER_FAILURE, customer_message
from simrenew.payments.labels import method_label
from simrenew.payments.models import OPEN_ATTEMPT_STATUSES, AttemptPurpose, AttemptStatus, PaymentAttempt, PaymentMethod
from simrenew.portal.presenters import (
    babel_locale,
    local_datetime,
    local_datetime_with_zone,
    plan_title,
    service_message,
)
from simrenew.provisioning.connection_checks import ConnectionCheckLimited
from simrenew.provisioning.models import PortStatus
from simrenew.provisioning.porting import PortNotAllowed, latest_port_for
from simrenew.subscriptions.errors import CancellationNotAllowed, RenewalNotAllowed, TopUpNotAllowed
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.queries import MB, SubscriptionView, data_left_bytes, view
from simrenew.subscriptions.schedule import first_try_at
from simrenew.subscriptions.status import due_for_auto_renew, running_to_period_end, service_ends_at
from simrenew.usage.services import usage_by_day

# ---------------------------------------------------------------------------
# Words for what the services and the gateway say, in the customer's language

PAYMENT_PENDING = _(
    "We are still waiting for the payment provider's answer. Nothing will be charged twice; "
    "check back in a few minutes."
)


def payment_failure(attempt: PaymentAttempt) -> str:
    """Why the payment failed, in the customer's language: the catalogue's words for its code."""
    return customer_message(attempt.failure_code)


def service_error(exc: SimrenewError) -> str:
    """A service's refusal in the customer's language (the services speak English)."""
    if isinstance(exc, NoProfileAvailable):
        return gettext(
            "No eSIM of this carrier is available right now. Please try again later or choose another carrier."
        )
    if isinstance(exc, TopUpNotAllowed):
        return gettext("Data can only be added while a plan period is running. Renew the plan first.")
    if isinstance(exc, CancellationNotAllowed):
        return gettext(
            "This plan cannot be changed that way now: it may have ended already, or its eSIM has another plan."
        )
    if isinstance(exc, RenewalNotAllowed):
        return gettext("This eSIM already has a plan; renew it instead.")
    if isinstance(exc, PortNotAllowed):
        return gettext(exc.detail)  # marked in provisioning.porting
    return exc.detail


def connection_check_refused(exc: ConnectionCheckLimited, customer: Customer) -> str:
    """Why no test SMS was sent, and when one can be, in the customer's language and time zone."""
    when = local_datetime(exc.retry_at, customer)
    if exc.per_esim:
        return gettext(
            "No test message was sent: this eSIM has had %(count)d in the last hour, the most it can get. "
            "You can send another after %(when)s."
        ) % {"count": exc.limit.checks, "when": when}
    return gettext(
        "No test message was sent: you have sent %(count)d in the last 24 hours, the most allowed. "
        "You can send another after %(when)s."
    ) % {"count": exc.limit.checks, "when": when}


def connection_check_not_sent() -> str:
    """The carrier did not take the test SMS; the check did not count against the limits."""
    return gettext(
        "No test message was sent: the mobile network could not take it just now. "
        "This did not count towards your limit. Please try again in a few minutes."
    )


# ---------------------------------------------------------------------------
# Small formatters


def money(amount_minor: int, currency: str, customer: Customer) -> str:
    return format_money(amount_minor, currency, customer.locale)


def data_amount(num_bytes: int, customer: Customer) -> str:
    """MB below 1 GB, GB with one decimal above (carriers count 1 GB = 1024 MB)."""
    mb = num_bytes / MB
    if mb < 1024:
        return gettext("%(amount)s MB") % {
            "amount": format_decimal(round(mb), format="#,##0", locale=babel_locale(customer))
        }
    return gettext("%(amount)s GB") % {"amount": format_gigabytes(mb, babel_locale(customer))}


def local_date(moment: datetime, customer: Customer) -> str:
    return format_date(moment.astimezone(ZoneInfo(customer.time_zone)).date(), "medium", locale=babel_locale(customer))


def pack_label(pack: TopUpPack, customer: Customer) -> str:
    return gettext("%(data)s for %(price)s") % {
        "data": data_amount(pack.data_mb * MB, customer),
        "price": money(pack.price_minor, pack.currency, customer),
    }


# ---------------------------------------------------------------------------
# The manage page


@dataclass(frozen=True)
class ManageView:
    subscription: Subscription
    status: str
    plan_name: str
    carrier_name: str
    msisdn: str
    data_left: str
    data_total: str
    service_ends_at: str  # local date and time; empty if never paid
    auto_renew_on: bool
    charge_amount: str
    can_turn_auto_renew_on: bool
    can_cancel: bool
    can_resume: bool
    cancelled_at_period_end: bool
    has_running_period: bool
    # What auto-renew and "Renew" buy (the renewal plan), and the sentence that says so.
    renewal_plan_id: int = 0
    renewal_plan_name: str = ""
    renewal_terms: str = ""  # "Auto-renew buys AT&T 1 month · 20 GB every month for $25.00."

    @property
    def plan_with_carrier(self) -> str:
        """The running plan's name with its carrier, once: catalogue names usually start with it
        ("AT&T 1 month · 20 GB"), so it is added only when the name does not say it."""
        if self.carrier_name in self.plan_name:
            return self.plan_name
        return f"{self.carrier_name} · {self.plan_name}"


def every_period(unit: str, count: int) -> str:
    """ "every month", "every 2 weeks": how often a plan renews. A count of one has words of its
    own: Chinese has one plural form, so "every %(count)d months" would read "每 1 个月"."""
    weeks = count // 7 if unit == PeriodUnit.DAY and count % 7 == 0 else 0
    if weeks == 1:
        return pgettext("renewal frequency", "every week")
    if weeks:
        return ngettext("every %(count)d week", "every %(count)d weeks", weeks) % {"count": weeks}
    if count == 1:
        if unit == PeriodUnit.DAY:
            return pgettext("renewal frequency", "every day")
        if unit == PeriodUnit.MONTH:
            return pgettext("renewal frequency", "every month")
        return pgettext("renewal frequency", "every year")
    if unit == PeriodUnit.DAY:
        return ngettext("every %(count)d day", "every %(count)d days", count) % {"count": count}
    if unit == PeriodUnit.MONTH:
        return ngettext("every %(count)d month", "every %(count)d months", count) % {"count": count}
    return ngettext("every %(count)d year", "every %(count)d years", count) % {"count": count}


def renewal_terms(plan: Plan, customer: Customer) -> str:
    """ "Auto-renew buys AT&T 1 month · 20 GB every month for $25.00." (the renewal plan's list price)."""
    price = quote(plan=plan, customer=customer, promo_code=None).total
    return gettext("Auto-renew buys %(plan)s %(every)s for %(price)s.") % {
        "plan": plan_title(plan, customer),
        "every": every_period(plan.period_unit, plan.period_count),
        "price": money(price.amount_minor, price.currency, customer),
    }


def manage_view(subscription: Subscription, customer: Customer) -> ManageView:
    shown: SubscriptionView = view(subscription)
    now = shown.now
    service_ends = service_ends_at(subscription)
    state = subscription.state
    running = shown.current_period is not None
    cancelled_at_period_end = running_to_period_end(subscription, now)
    price = quote(plan=subscription.plan, customer=customer, promo_code=None).total
    return ManageView(
        subscription=subscription,
        status=shown.status,
        # The plan shown is the one running now (else the one that ran last), not the renewal plan.
        plan_name=plan_title(shown.plan, customer),
        carrier_name=subscription.esim.carrier.name,
        msisdn=subscription.esim.msisdn,
        data_left=data_amount(shown.data_left_mb * MB, customer),
        data_total=data_amount(shown.data_total_mb * MB, customer),
        service_ends_at=local_datetime(service_ends, customer) if service_ends else "",
        auto_renew_on=subscription.auto_renew and state == SubscriptionState.LIVE,
        charge_amount=money(price.amount_minor, price.currency, customer),
        can_turn_auto_renew_on=state == SubscriptionState.LIVE,
        can_cancel=state == SubscriptionState.LIVE or cancelled_at_period_end,
        can_resume=cancelled_at_period_end,
        cancelled_at_period_end=cancelled_at_period_end,
        has_running_period=running and state in (SubscriptionState.LIVE, SubscriptionState.CANCELLED),
        renewal_plan_id=subscription.plan_id,
        renewal_plan_name=plan_title(subscription.plan, customer),
        renewal_terms=renewal_terms(subscription.plan, customer),
    )


@dataclass(frozen=True)
class PortNotice:
    """Keeping a number (porting) as the manage page of the new eSIM's plan tells it."""

    state: str  # "moving" (requested or ordered), "completed" or "failed"
    heading: str
    text: str


def port_requested_message(number: str) -> str:
    """Said right after paying, when the customer chose to keep their number."""
    return gettext(
        "We are moving your number %(number)s to your new eSIM. We will tell you when it is done; until then "
        "it keeps working on your old eSIM. Your old plan will not renew and ends once the number has moved."
    ) % {"number": number}


def port_notice(esim_id: int, customer: Customer) -> PortNotice | None:
    """The eSIM's latest port, if it ever had one: in progress, done, or why it failed."""
    port = latest_port_for(esim_id)
    if port is None:
        return None
    if port.status == PortStatus.COMPLETED:
        when = local_datetime(port.completed_at, customer) if port.completed_at else ""
        return PortNotice(
            "completed",
            gettext("Your number has moved"),
            gettext("Your number %(number)s works on this eSIM since %(when)s.")
            % {"number": port.msisdn, "when": when},
        )
    if port.status == PortStatus.FAILED:
        text = gettext("We could not move your number %(number)s to this eSIM.") % {"number": port.msisdn}
        if port.failure_reason:  # the carrier's words, as given
            text += " " + gettext("The carrier said: %(reason)s") % {"reason": port.failure_reason}
        return PortNotice("failed", gettext("Your number was not moved"), text)
    return PortNotice(
        "moving",
        gettext("Moving your number"),
        gettext(
            "We are moving your number %(number)s to this eSIM. This usually takes a few hours; "
            "until then it keeps working on your old eSIM."
        )
        % {"number": port.msisdn},
    )


@dataclass(frozen=True)
class PayPageRenewalNote:
    """The pay page's sentence on what auto-renew buys after this payment, and whether to offer
    the "also renew with this plan from now on" box (only when another plan is being bought)."""

    text: str
    offer_switch: bool
    switch_label: str


def pay_page_renewal_note(subscription: Subscription, plan: Plan, customer: Customer) -> PayPageRenewalNote:
    """Said before paying: a purchase of another plan is one-off; auto-renew keeps its plan unless
    the box is ticked (subscriptions.renewals)."""
    renews = subscription.auto_renew and subscription.state == SubscriptionState.LIVE
    other = plan.pk != subscription.plan_id
    if renews:
        text = renewal_terms(subscription.plan, customer)
        if other:
            text = gettext("This purchase is one-off. %(terms)s") % {"terms": text}
    else:
        text = gettext("Auto-renew is off: nothing is charged automatically.")
    label = gettext("Also renew with %(plan)s from now on") % {"plan": plan_title(plan, customer)}
    return PayPageRenewalNote(text=text, offer_switch=other, switch_label=label)


# ---------------------------------------------------------------------------
# Auto-renew on the manage page: what the worker will do next, or why it stopped


class RenewalState(StrEnum):
    SCHEDULED = "scheduled"  # the next automatic charge is ahead, nothing failed yet
    CHARGING = "charging"  # due now, or a charge is waiting for the gateway's answer
    RETRYING = "retrying"  # the last try failed; another is scheduled
    FAILED = "failed"  # the last try failed and none is scheduled: the customer must act
    IDLE = "idle"  # nothing scheduled and nothing failed (no method was found, or the plan ran out)


@dataclass(frozen=True)
class AutoRenewView:
    state: RenewalState
    next_try_at: str  # local, with the zone's name; empty unless scheduled or retrying
    method: str  # what the next try charges first; empty when no usable method is saved
    failed_method: str  # what the last failed try charged
    failed_method_id: int | None
    failure: str  # why it failed, in the customer's language
    plan_ended: bool  # paid time has run out: a new method no longer starts a charge, renewing by hand does


def _renewal_method(subscription: Subscription) -> PaymentMethod | None:
    """The method a try starts with: the subscription's, else the customer's default (as the worker does)."""
    method = subscription.payment_method
    if method is not None and method.removed_at is None:
        return method
    return PaymentMethod.objects.filter(
        customer_id=subscription.customer_id, is_default=True, removed_at__isnull=True
    ).first()


def last_automatic_attempt(subscription: Subscription) -> PaymentAttempt | None:
    """The latest automatic charge for the period after `paid_through`: one made
    before a renewal moved `paid_through` on is about an earlier period."""
    if subscription.paid_through is None:
        return None
    return (
        PaymentAttempt.objects.filter(
            subscription=subscription,
            purpose=AttemptPurpose.AUTO_RENEWAL,
            created_at__gte=first_try_at(subscription.paid_through),
        )
        .select_related("payment_method")
        .order_by("-created_at", "-id")
        .first()
    )


def auto_renew_view(subscription: Subscription, customer: Customer) -> AutoRenewView | None:
    """None when auto-renew is off (or the plan is not live). Two queries at most."""
    paid_through = subscription.paid_through
    if not (subscription.auto_renew and subscription.state == SubscriptionState.LIVE and paid_through is not None):
        return None
    now = clock.now()
    due = subscription.renewal_due_at
    last = last_automatic_attempt(subscription)
    failed = last is not None and last.status == AttemptStatus.FAILED
    if last is not None and last.status in OPEN_ATTEMPT_STATUSES:
        state = RenewalState.CHARGING
    elif due is not None and due > now:
        state = RenewalState.RETRYING if failed else RenewalState.SCHEDULED
    elif due is not None and paid_through > now:
        state = RenewalState.CHARGING
    else:
        state = RenewalState.FAILED if failed else RenewalState.IDLE
    method = _renewal_method(subscription)
    return AutoRenewView(
        state=state,
        next_try_at=local_datetime_with_zone(due, customer)
        if due is not None and state in (RenewalState.SCHEDULED, RenewalState.RETRYING)
        else "",
        method=method_label(method) if method is not None else "",
        failed_method=method_label(last.payment_method) if failed and last is not None else "",
        failed_method_id=last.payment_method_id if failed and last is not None else None,
        failure=_failure_reason(last) if failed and last is not None else "",
        plan_ended=paid_through <= now,
    )


def _failure_reason(attempt: PaymentAttempt) -> str:
    # The gateway stores its message in English, marked with gettext_noop so the catalogs carry it.
    return service_message(attempt.failure_message) if attempt.failure_message else gettext(OTHER_FAILURE)


def auto_renew_saved(subscription: Subscription, *, was_on: bool) -> str:
    """What the page says after the auto-renew form is saved."""
    if not subscription.auto_renew:
        return gettext("Auto-renew is off.")
    if not was_on or subscription.payment_method is None:
        return gettext("Auto-renew is on.")
    method = method_label(subscription.payment_method)
    if due_for_auto_renew(subscription, clock.now()):
        return gettext("Renewals are now paid with your %(method)s. We are trying it now.") % {"method": method}
    return gettext("Renewals are now paid with your %(method)s.") % {"method": method}


# ---------------------------------------------------------------------------
# The install page


@dataclass(frozen=True)
class InstallView:
    code: ActivationCode
    ios_url: str


def install_view(activation_code: str) -> InstallView:
    code = parse_activation_code(activation_code)
    return InstallView(code=code, ios_url=ios_install_url(code))


# ---------------------------------------------------------------------------
# The usage chart

CHART_WIDTH = 600
CHART_HEIGHT = 220
CHART_TOP = 24  # room for the scale label
CHART_BOTTOM = 28  # room for the first and last day labels
MIN_FORECAST_BASIS = timedelta(days=1)


@dataclass(frozen=True)
class UsageBar:
    day: str  # long local date, for the table and the bar's title
    short_day: str
    used: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class UsageChart:
    bars: list[UsageBar]
    width: int
    height: int
    baseline_y: int
    scale_label: str  # the biggest day, labelled at the top
    first_day: str
    last_day: str
    used: str
    left: str
    total: str
    period_starts: str
    period_ends: str
    runs_out_on: str  # empty when the data lasts past the period end
    runs_out_already: bool
    average_per_day: str


def _local_days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def usage_chart(subscription: Subscription, customer: Customer) -> UsageChart | None:
    """Daily use over the current period (local days), and a linear forecast of
    when the data runs out from the average daily use so far."""
    shown = view(subscription)
    period: Period | None = shown.current_period
    if period is None:
        return None
    now = shown.now
    zone = ZoneInfo(customer.time_zone)
    # usage_by_day groups by the active time zone's date: make that the customer's.
    with timezone.override(zone):
        per_day = {row["day"]: int(row["bytes"] or 0) for row in usage_by_day(period)}
    locale = babel_locale(customer)
    days = _local_days(period.starts_at.astimezone(zone).date(), min(now, period.ends_at).astimezone(zone).date())
    biggest = max(per_day.values(), default=0)
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    step = CHART_WIDTH / max(len(days), 7)
    bars = []
    for index, day in enumerate(days):
        used = per_day.get(day, 0)
        height = (used / biggest) * plot_height if biggest else 0.0
        if used and height < 1:
            height = 1.0  # a day with any use stays visible
        bars.append(
            UsageBar(
                day=format_date(day, "medium", locale=locale),
                short_day=format_skeleton("MMMd", day, locale=locale),
                used=data_amount(used, customer),
                x=round(index * step + step * 0.15, 2),
                y=round(CHART_TOP + plot_height - height, 2),
                width=round(step * 0.7, 2),
                height=round(height, 2),
            )
        )
    used_bytes = period.used_bytes
    left_bytes = data_left_bytes(period)
    elapsed = max(now - period.starts_at, MIN_FORECAST_BASIS)
    per_second = used_bytes / elapsed.total_seconds()
    service_ends = min(period.ends_at, subscription.ended_at or period.ends_at)
    runs_out_on = ""
    runs_out_already = left_bytes == 0
    if not runs_out_already and per_second > 0:
        runs_out_at = now + timedelta(seconds=math.ceil(left_bytes / per_second))
        if runs_out_at < service_ends:
            runs_out_on = local_date(runs_out_at, customer)
    return UsageChart(
        bars=bars,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        baseline_y=CHART_HEIGHT - CHART_BOTTOM,
        scale_label=data_amount(biggest, customer),
        first_day=bars[0].short_day if bars else "",
        last_day=bars[-1].short_day if bars else "",
        used=data_amount(used_bytes, customer),
        left=data_amount(left_bytes, customer),
        total=data_amount((period.data_mb + period.top_up_mb) * MB, customer),
        period_starts=local_datetime(period.starts_at, customer),
        period_ends=local_datetime(service_ends, customer),
        runs_out_on=runs_out_on,
        runs_out_already=runs_out_already,
        average_per_day=data_amount(round(per_second * 86400), customer),
    )
