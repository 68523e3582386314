"""What cancelling now refunds, in the customer's words: the cancel page says it before the
customer confirms, and the confirmation repeats it. The figures come from
`subscriptions.cancellation.cancel_now_refund`, the same rule that makes the refunds.

The page carries the moment it showed (signed, so it cannot be moved back): confirming soon
after refunds exactly what was shown, even under the pro rata policy, whose amount shrinks
with every minute (`QUOTE_HONOURED_FOR`).

After the cancellation the manage page lists the subscription's refunds (`refund_rows`), and a
refund the payment provider refused can be asked for again from there (`refused_refund`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core import signing
from django.utils.translation import gettext

from simrenew.billing.models import Refund, RefundStatus
from simrenew.customers.models import Customer
from simrenew.portal.presenters import local_datetime, method_label, money, plan_title
from simrenew.subscriptions.cancellation import (
    QUOTE_HONOURED_FOR,
    CancelNowRefund,
    PeriodRefund,
    RefundPart,
    RefundPolicy,
    cancel_now_refund,
    cancellation_refunds,
)
from simrenew.subscriptions.models import Subscription

_QUOTE_SALT = "portal-cancel-refund-quote"


@dataclass(frozen=True)
class CancelRefundView:
    policy: str  # the operator's rule, in a sentence
    lines: list[str]  # one sentence per period cancelling now cuts short
    total: str  # what is refunded in all ("" when nothing is)
    quote: str  # the signed moment the page showed, sent back with the confirmation


def _line(line: PeriodRefund, customer: Customer) -> str:
    period = line.period
    values = {
        "plan": plan_title(period.plan, customer),
        "start": local_datetime(period.starts_at, customer),
        "end": local_datetime(period.ends_at, customer),
        "amount": money(line.amount_minor, line.currency, customer),
        "method": method_label(line.invoice.payment_attempt.payment_method, customer),
    }
    if line.part == RefundPart.UNSTARTED:
        if not line.amount_minor:
            return gettext("%(plan)s, paid ahead for %(start)s to %(end)s: not refunded.") % values
        if line.to_wallet:
            return (
                gettext(
                    "%(plan)s, paid ahead for %(start)s to %(end)s and not started: %(amount)s back to your wallet."
                )
                % values
            )
        return (
            gettext(
                "%(plan)s, paid ahead for %(start)s to %(end)s and not started: %(amount)s back to your %(method)s."
            )
            % values
        )
    if not line.amount_minor:
        return gettext("%(plan)s, running until %(end)s: not refunded.") % values
    if line.to_wallet:
        return gettext("%(plan)s, running until %(end)s: %(amount)s for the unused time back to your wallet.") % values
    return gettext("%(plan)s, running until %(end)s: %(amount)s for the unused time back to your %(method)s.") % values


def policy_sentence(policy: RefundPolicy) -> str:
    if policy == RefundPolicy.NONE:
        return gettext("Cancelling now does not refund any payment.")
    if policy == RefundPolicy.PRORATA:
        return gettext(
            "Periods paid ahead that have not started are refunded in full, and the unused part of the period "
            "running now pro rata (rounded up in your favour), each to the way it was paid."
        )
    return gettext(
        "Periods paid ahead that have not started are refunded in full, to the way they were paid; "
        "the period running now is not refunded."
    )


def cancel_refund_view(subscription: Subscription, customer: Customer) -> CancelRefundView:
    refund: CancelNowRefund = cancel_now_refund(subscription)
    currency = refund.currency
    return CancelRefundView(
        policy=policy_sentence(refund.policy),
        lines=[_line(line, customer) for line in refund.periods],
        total=money(refund.total_minor, currency, customer) if refund.total_minor and currency else "",
        quote=signing.dumps([subscription.pk, refund.as_of.isoformat()], salt=_QUOTE_SALT),
    )


def quoted_at(token: str, subscription_id: int) -> datetime | None:
    """The moment the cancel page of this subscription showed its refund, if the token is genuine,
    recent and was given for this subscription (else None: the refund is worked out at confirmation)."""
    try:
        signed_for, shown = signing.loads(token, salt=_QUOTE_SALT, max_age=QUOTE_HONOURED_FOR)
        if signed_for != subscription_id:
            return None
        return datetime.fromisoformat(shown)
    except (signing.BadSignature, TypeError, ValueError):
        return None


def cancelled_now_message(refunds: list[Refund], customer: Customer) -> str:
    """The confirmation after cancelling now, with what goes back (a refund the gateway refused
    is not on its way, so it is not counted)."""
    stopped = gettext("Your plan is cancelled and its service has stopped.")
    refunds = [refund for refund in refunds if refund.status != RefundStatus.FAILED]
    total = sum(refund.amount_minor for refund in refunds)
    if not total:
        return stopped
    amount = money(total, refunds[0].currency, customer)
    return f"{stopped} " + gettext("We are refunding %(amount)s to the way you paid.") % {"amount": amount}


@dataclass(frozen=True)
class RefundRow:
    """One refund of the subscription on the manage page."""

    refund_id: int
    amount: str
    destination: str  # "to your wallet", "to your Visa card ending 4242"
    state: str  # pending / succeeded / failed (the row's style)
    status: str  # the state in the customer's words
    can_retry: bool  # a cancellation refund the payment provider refused, not asked for again yet


def _status_words(status: str) -> str:
    if status == RefundStatus.SUCCEEDED:
        return gettext("Refunded.")
    if status == RefundStatus.FAILED:
        return gettext("Refused by the payment provider: nothing was paid back.")
    return gettext("In progress: the payment provider is paying it back.")


def _still_refused(cancelling: list[Refund]) -> set[int]:
    """Of a cancellation's refunds, those the payment provider refused and nobody has asked for
    again: for each invoice, the latest try under the cancellation's key (billing.refunds.request_refund)."""
    latest: dict[int, Refund] = {}
    for refund in cancelling:
        latest[refund.invoice_id] = refund
    return {refund.pk for refund in latest.values() if refund.status == RefundStatus.FAILED}


def refund_rows(subscription: Subscription, customer: Customer) -> list[RefundRow]:
    """Every refund on the subscription's invoices, oldest first, except the refused tries that
    were asked for again (the new try stands in their place)."""
    refunds = list(
        Refund.objects.filter(invoice__subscription_id=subscription.pk)
        .select_related("invoice__payment_attempt__payment_method")
        .order_by("id")
    )
    if not refunds:
        return []
    cancelling = cancellation_refunds(subscription.pk)
    refused = _still_refused(cancelling)
    retried = {refund.pk for refund in cancelling if refund.status == RefundStatus.FAILED} - refused
    rows = []
    for refund in refunds:
        if refund.pk in retried:
            continue
        method = refund.invoice.payment_attempt.payment_method
        rows.append(
            RefundRow(
                refund_id=refund.pk,
                amount=money(refund.amount_minor, refund.currency, customer),
                destination=gettext("to your wallet")
                if refund.to_wallet
                else gettext("to your %(method)s") % {"method": method_label(method, customer)},
                state=refund.status,
                status=_status_words(refund.status),
                can_retry=refund.pk in refused,
            )
        )
    return rows


def refused_refund(subscription: Subscription, refund_id: str) -> bool:
    """Whether `refund_id` (from the manage page's form) is a cancellation refund of this
    subscription that is still refused: a second tap, or a form for another subscription, is not."""
    return refund_id.isdigit() and int(refund_id) in _still_refused(cancellation_refunds(subscription.pk))


def retried_message(refunds: list[Refund]) -> tuple[int, str]:
    """The message level and words after "Try the refund again", from the cancellation's refunds
    as the payment provider left them."""
    if _still_refused(refunds):
        return messages.ERROR, gettext(
            "The payment provider refused the refund again, so nothing was paid back. Please try again later."
        )
    if any(refund.status == RefundStatus.PENDING for refund in refunds):
        return messages.INFO, gettext("We asked for the refund again. It is in progress.")
    return messages.SUCCESS, gettext("We asked for the refund again, and it went through.")
