"""Shared steps for the delivery stories."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from simrenew.billing.models import Invoice
from simrenew.customers.models import Customer
from simrenew.customers.services import Channels, set_notification_preferences, update_customer
from simrenew.kit import clock as kit_clock
from simrenew.notifications import payloads
from simrenew.notifications.delivery import DeliveryRun, deliver_due, dispatch_pending
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.failures import FailureCode, failure_message
from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer

WORKER = "worker-1"


def run_worker(*, worker_id: str = WORKER) -> DeliveryRun:
    """What one tick of `simrenew worker` does with the outbox: plan new events, send what is due."""
    while dispatch_pending() == 500:
        pass
    return deliver_due(worker_id=worker_id)


def texting_customer(
    *,
    phone: str = "+12125550100",
    locale: str = "en",
    time_zone: str = "America/New_York",
    email: bool = True,
    kinds: tuple[str, ...] = ("receipt",),
) -> Customer:
    """A customer with a phone number who asked for these kinds of notice by SMS too."""
    customer = update_customer(make_customer(locale=locale, time_zone=time_zone), phone=phone)
    set_notification_preferences(customer, {kind: Channels(email=email, sms=True) for kind in kinds})
    return customer


# --- events as the services emit them, and rows as they may be stored ----------------------------


def receipt_payload(*, invoice: str = "SR-404", amount_minor: int = 2500) -> payloads.SubscriptionRenewed:
    """A renewal's receipt, for stories about delivery rather than words (its invoice need not exist)."""
    now = kit_clock.now()
    return payloads.subscription_renewed(
        subscription_id=1,
        period_number=2,
        starts_at=now,
        ends_at=now + timedelta(days=31),
        plan_id=1,
        invoice=invoice,
        amount_minor=amount_minor,
        currency="USD",
        auto_renewed=True,
    )


def sample_payload(event_type: str, subscription: Subscription) -> Mapping[str, object]:
    """A payload of `event_type` about `subscription`, made by its builder as the services do."""
    now = kit_clock.now()
    invoice = Invoice.objects.filter(subscription=subscription).order_by("id").first()
    number = invoice.number if invoice else "INV-UNKNOWN"
    method = subscription.payment_method
    sid = subscription.pk
    paid = payloads.PeriodPaidArgs(
        subscription_id=sid,
        period_number=2,
        starts_at=now,
        ends_at=now + timedelta(days=31),
        plan_id=subscription.plan_id,
        invoice=number,
        amount_minor=2500,
        currency="USD",
    )
    builders: dict[str, Callable[[], Mapping[str, object]]] = {
        "subscription.created": lambda: payloads.subscription_created(**paid),
        "subscription.renewed": lambda: payloads.subscription_renewed(**paid, auto_renewed=True),
        "subscription.renewal_failed": lambda: payloads.renewal_failed(
            subscription_id=sid,
            failure_code=FailureCode.CARD_DECLINED,
            failure_message=failure_message(FailureCode.CARD_DECLINED),
            amount_minor=2500,
            currency="USD",
            expires_at=subscription.paid_through,
            next_retry_at=now + timedelta(hours=18),
            action="wait_for_retry",
        ),
        "subscription.expiring": lambda: payloads.subscription_expiring(
            subscription_id=sid, period_number=1, expires_at=now + timedelta(days=3), days_left=3
        ),
        "subscription.expiring_soon": lambda: payloads.subscription_expiring_soon(
            subscription_id=sid, period_number=1, expires_at=now + timedelta(hours=6), hours_left=6
        ),
        "subscription.auto_renew_upcoming": lambda: payloads.auto_renew_upcoming(
            subscription_id=sid,
            period_number=1,
            charge_at=now + timedelta(days=2),
            expires_at=now + timedelta(days=3),
            amount_minor=2500,
            currency="USD",
            payment_method="Visa •••• 4242",
        ),
        "payment_method.expiring": lambda: payloads.payment_method_expiring(
            subscription_id=sid,
            period_number=1,
            payment_method_id=method.pk if method else 0,
            payment_method="Visa",
            exp_month=2,
            exp_year=2026,
            renews_at=now + timedelta(days=30),
        ),
        "subscription.suspended": lambda: payloads.subscription_suspended(
            subscription_id=sid, period_number=1, suspended_at=now
        ),
        "subscription.termination_warning": lambda: payloads.termination_warning(
            subscription_id=sid, terminates_at=now + timedelta(days=7)
        ),
        "subscription.terminated": lambda: payloads.subscription_terminated(subscription_id=sid, terminated_at=now),
        "usage.threshold_reached": lambda: payloads.usage_threshold_reached(
            subscription_id=sid, period_number=1, percent=80, data_total_mb=10_240, data_left_mb=2048
        ),
        "subscription.cancelled": lambda: payloads.subscription_cancelled(
            subscription_id=sid, when="period_end", service_ends_at=now + timedelta(days=20)
        ),
        "subscription.topped_up": lambda: payloads.subscription_topped_up(
            subscription_id=sid, data_mb=1024, invoice=number
        ),
        "esim.download_failed": lambda: payloads.esim_download_failed(
            esim_id=subscription.esim_id,
            customer_id=subscription.customer_id,
            carrier="att",
            iccid="8901260000000000019",
            status="download_failed",
            point=3,
            reason="BPP download failed",
        ),
        "esim.port_completed": lambda: payloads.esim_port_completed(
            esim_id=subscription.esim_id,
            customer_id=subscription.customer_id,
            carrier="tmobile",
            msisdn="+12015550123",
            old_subscription_id=None,
            old_plan_ended=True,
            completed_at=subscription.created_at,
        ),
        "esim.port_failed": lambda: payloads.esim_port_failed(
            esim_id=subscription.esim_id,
            customer_id=subscription.customer_id,
            carrier="tmobile",
            msisdn="+12015550123",
            esim_msisdn="+12065550142",
            reason="The losing carrier refused the port-out PIN.",
        ),
        "payment.refunded": lambda: payloads.payment_refunded(
            invoice=number, refund_id=1, amount_minor=500, currency="USD", to_wallet=False
        ),
    }
    return builders[event_type]()


def stored_as_is(
    event_type: str, *, customer: Customer | None, subscription: Subscription | None = None, data: object
) -> OutboxMessage:
    """An outbox row written without its builder (`emit` refuses such payloads): an event stored
    by an older version, or edited by hand. Rendering and delivery must cope with what it lacks."""
    now = kit_clock.now()
    return OutboxMessage.objects.create(
        event_type=event_type,
        customer=customer,
        subscription=subscription,
        payload=data,
        next_attempt_at=now,
        created_at=now,
    )
