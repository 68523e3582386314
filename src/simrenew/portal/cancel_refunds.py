"""What cancelling now refunds, in the customer's words: the cancel page says it before the
customer confirms, and the confirmation repeats it. The figures come from
`subscriptions.cancellation.cancel_now_refund`, the same rule that makes the refunds.

The page carries the moment it showed (signed, so it cannot be moved back): confirming soon
after refunds exactly what was shown, even under the pro rata policy, whose amount shrinks
with every minute (`QUOTE_HONOURED_FOR`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
