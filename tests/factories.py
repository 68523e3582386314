"""Plain keyword-only factories: arrange a story in a line or two."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import TYPE_CHECKING

from stdnum import luhn

from simrenew.catalog.models import Carrier, Plan, Promotion, TopUpPack
from simrenew.catalog.services import create_plan
from simrenew.customers.models import Customer
from simrenew.customers.services import create_customer
from simrenew.esims.models import EsimProfile, ProfileStatus
from simrenew.kit import clock
from simrenew.payments.charging import run_charge
from simrenew.payments.models import PaymentAttempt, PaymentMethod
from simrenew.payments.services import NewMethod, add_payment_method
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import begin_renewal, begin_subscription

CARRIER_NAMES = {"att": "AT&T", "tmobile": "T-Mobile", "verizon": "Verizon"}
_serial = itertools.count(1)

if TYPE_CHECKING:
    from simrenew.worker.renewals import RenewalCounts


def make_carrier(*, code: str = "att") -> Carrier:
    carrier, _ = Carrier.objects.get_or_create(code=code, defaults={"name": CARRIER_NAMES.get(code, code)})
    return carrier


def make_plan(
    *,
    carrier: str = "att",
    code: str | None = None,
    period_unit: str = "month",
    period_count: int = 1,
    data_mb: int = 10_240,
    price_minor: int = 2500,
    name: str | None = None,
) -> Plan:
    code = code or f"{carrier}-{period_count}{period_unit[0]}-{next(_serial)}"
    return create_plan(
        carrier=make_carrier(code=carrier),
        code=code,
        name=name or f"{CARRIER_NAMES.get(carrier, carrier)} {period_count} {period_unit}",
        period_unit=period_unit,
        period_count=period_count,
        data_mb=data_mb,
        price_minor=price_minor,
    )


def make_top_up_pack(*, carrier: str = "att", data_mb: int = 1024, price_minor: int = 500) -> TopUpPack:
    return TopUpPack.objects.create(
        carrier=make_carrier(code=carrier), name=f"{data_mb} MB", data_mb=data_mb, price_minor=price_minor
    )


def make_customer(
    *,
    email: str | None = None,
    name: str = "Ada Lovelace",
    time_zone: str = "America/New_York",
    locale: str = "en",
) -> Customer:
    return create_customer(
        email=email or f"customer{next(_serial)}@example.com", name=name, locale=locale, time_zone=time_zone
    )


def valid_iccid(serial: int | None = None) -> str:
    body = f"89012600{(serial if serial is not None else next(_serial)):010d}"
    return body + luhn.calc_check_digit(body)


def make_esim(*, customer: Customer | None = None, carrier: str = "att") -> EsimProfile:
    serial = next(_serial)
    profile = EsimProfile.objects.create(
        carrier=make_carrier(code=carrier),
        iccid=valid_iccid(serial),
        msisdn=f"+1201555{serial % 10_000:04d}",
        activation_code=f"1$smdp.example.com$MATCH-{serial:06d}",
        created_at=clock.now(),
    )
    if customer is not None:
        profile.status = ProfileStatus.ASSIGNED
        profile.customer = customer
        profile.assigned_at = clock.now()
        profile.save()
    return profile


def make_card(*, customer: Customer, number: str = "4242424242424242", type: str = "card") -> PaymentMethod:
    return add_payment_method(
        customer=customer, method=NewMethod(type=type, number=number, exp_month=12, exp_year=2040, cvc="123")
    )


def make_promotion(
    *,
    code: str = "WELCOME10",
    percent_off: int = 10,
    amount_off_minor: int = 0,
    bonus_data_mb: int = 0,
    max_redemptions: int | None = None,
    max_per_customer: int | None = None,
    plan_codes: list[str] | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> Promotion:
    return Promotion.objects.create(
        code=code,
        discount_kind="fixed" if amount_off_minor else "percent",
        percent_off=percent_off if not amount_off_minor else 0,
        amount_off_minor=amount_off_minor,
        bonus_data_mb=bonus_data_mb,
        max_redemptions=max_redemptions,
        max_per_customer=max_per_customer,
        eligible_plan_codes=plan_codes or [],
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=clock.now(),
    )


def make_subscription(
    *,
    customer: Customer | None = None,
    plan: Plan | None = None,
    card: str = "4242424242424242",
    auto_renew: bool = True,
    promo_code: str | None = None,
    payment_method: PaymentMethod | None = None,
) -> Subscription:
    """A subscription whose first period is paid (the card must succeed): by a new sandbox card
    with `card`'s number, or by `payment_method` (then `customer` is its customer)."""
    customer = customer or make_customer()
    plan = plan or make_plan()
    esim = make_esim(customer=customer, carrier=plan.carrier.code)
    method = payment_method or make_card(customer=customer, number=card)
    attempt = run_charge(
        lambda: begin_subscription(
            esim=esim,
            plan=plan,
            payment_method=method,
            auto_renew=auto_renew,
            promo_code=promo_code,
            idempotency_key=f"test-first-{next(_serial)}",
        )
    )
    assert attempt.status == "succeeded", attempt.failure_message
    return Subscription.objects.get(pk=attempt.subscription_id)


def renew(subscription: Subscription, **kwargs: object) -> PaymentAttempt:
    key = str(kwargs.pop("idempotency_key", f"test-renewal-{next(_serial)}"))
    return run_charge(lambda: begin_renewal(subscription=subscription, idempotency_key=key, **kwargs))  # type: ignore[arg-type]


def make_paypal(*, customer: Customer, email: str = "buyer@example.com") -> PaymentMethod:
    return add_payment_method(customer=customer, method=NewMethod(type="paypal", paypal_email=email))


def make_wallet(*, customer: Customer, balance_minor: int = 0, card: str = "4242424242424242") -> PaymentMethod:
    """The customer's wallet as a payment method, first topped up by card when `balance_minor` is set."""
    from simrenew.billing.wallet_top_ups import begin_wallet_top_up
    from simrenew.payments.services import wallet_method

    if balance_minor:
        method = make_card(customer=customer, number=card)
        attempt = run_charge(
            lambda: begin_wallet_top_up(
                customer=customer,
                payment_method=method,
                amount_minor=balance_minor,
                idempotency_key=f"test-wallet-{next(_serial)}",
            )
        )
        assert attempt.status == "succeeded", attempt.failure_message
    return wallet_method(customer)


def buy_top_up(
    subscription: Subscription, *, pack: TopUpPack, payment_method: PaymentMethod | None = None
) -> PaymentAttempt:
    from simrenew.subscriptions.topups import begin_top_up

    key = f"test-top-up-{next(_serial)}"
    return run_charge(
        lambda: begin_top_up(
            subscription=subscription, pack_id=pack.pk, payment_method=payment_method, idempotency_key=key
        )
    )


def record_usage(
    *,
    iccid: str,
    mb: float = 0,
    bytes: int | None = None,
    occurred_at: datetime | None = None,
    source: str = "att-cdr",
    record_id: str | None = None,
) -> object:
    """Ingest one usage record (`mb` in MiB unless `bytes` is given); returns the ingest report."""
    from simrenew.usage.services import IncomingUsage, ingest

    amount = bytes if bytes is not None else int(mb * 1024 * 1024)
    record = IncomingUsage(
        source=source,
        record_id=record_id or f"rec-{next(_serial)}",
        iccid=iccid,
        bytes=amount,
        occurred_at=occurred_at or clock.now(),
    )
    return ingest([record])


def renew_due(*, batch_size: int = 50) -> RenewalCounts:
    """What the worker's auto-renew does when it wakes: every charge due now, in
    this thread (so a test inside one transaction sees it all)."""
    from threading import Event

    from simrenew.worker.renewals import RenewalPipeline

    pipeline = RenewalPipeline(worker_id="test-worker", batch_size=batch_size, batches_in_flight=1, stop=Event())
    try:
        return pipeline.run_until_idle()
    finally:
        pipeline.close()
