"""Every event the outbox carries: which kind of notice it is for the customer
(their channel choices are per kind) and what its payload holds.

Payload timestamps are ISO 8601 strings with an offset (the outbox stores JSON);
amounts are minor units with their currency. Events without a kind reach
partners' webhooks only, never a customer's inbox.
"""

from __future__ import annotations

from simrenew.customers.models import NotificationKind

# event type -> the customer's notice kind (None: webhooks only)
EVENT_KINDS: dict[str, NotificationKind | None] = {
    "customer.created": None,
    "esim.assigned": None,
    "esim.installed": None,
    # {subscription_id, period: {number, starts_at, ends_at}, plan_id, invoice, amount_minor, currency}
    "subscription.created": NotificationKind.RECEIPT,
    # the same, plus auto_renewed: bool
    "subscription.renewed": NotificationKind.RECEIPT,
    # {subscription_id, failure_code, failure_message, amount_minor, currency,
    #  next_retry_at: ISO | null, action: "wait_for_retry" | "update_payment_method" | "renew_by_hand"}
    "subscription.renewal_failed": NotificationKind.PAYMENT_FAILED,
    # {subscription_id, period_number, expires_at, days_left: 7 | 3 | 1}
    "subscription.expiring": NotificationKind.EXPIRY_REMINDER,
    # {subscription_id, period_number, charge_at, expires_at, amount_minor, currency, payment_method}
    "subscription.auto_renew_upcoming": NotificationKind.AUTO_RENEW_NOTICE,
    # {subscription_id, period_number, payment_method_id, payment_method, exp_month, exp_year, renews_at}
    "payment_method.expiring": NotificationKind.AUTO_RENEW_NOTICE,
    # {subscription_id, period_number, suspended_at}
    "subscription.suspended": NotificationKind.SERVICE_SUSPENDED,
    # {subscription_id, terminates_at}
    "subscription.termination_warning": NotificationKind.SERVICE_SUSPENDED,
    # {subscription_id, terminated_at}
    "subscription.terminated": NotificationKind.SERVICE_SUSPENDED,
    # {subscription_id, period_number, percent: 80 | 95, data_total_mb, data_left_mb}
    "usage.threshold_reached": NotificationKind.LOW_DATA,
    # {subscription_id, when, service_ends_at}
    "subscription.cancelled": NotificationKind.RECEIPT,
    "subscription.resumed": None,
    # {subscription_id, period_number, days, previous_ends_at, ends_at, reason}: an operator's goodwill
    "subscription.extended": None,
    # {subscription_id, data_mb, invoice}
    "subscription.topped_up": NotificationKind.RECEIPT,
    # {invoice, refund_id, amount_minor, currency, to_wallet}
    "payment.refunded": NotificationKind.RECEIPT,
}


def notice_kind(event_type: str) -> NotificationKind | None:
    return EVENT_KINDS.get(event_type)
