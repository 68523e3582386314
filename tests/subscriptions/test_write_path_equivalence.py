"""The two ways a paid period is written give the same rows and the same events.

The worker renews in bulk (`prepare_claimed_charges` … `begin_charges`, the gateway,
`settle_charges` → `apply_paid_periods`); everything else pays one period at a time
(`run_charge` → `charging.settle` → `renewals.on_period_paid`). Each story sets up two
customers alike, lets the worker claim and prepare both, then pays one through the bulk
path and the other through the single path, and compares what each left behind, with the
ids and numbers that must differ taken out.

Both paths, and a renewal by hand, price a period through `catalog.period_price`; a wallet
renewal (settled inside) writes what a card renewal in bulk writes; and a failed automatic
try tells the customer what a failed renewal by hand tells, but for when the next try is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simrenew.billing.models import Invoice
from simrenew.catalog import services as catalog_services
from simrenew.catalog.models import Promotion
from simrenew.catalog.services import PriceQuote, period_price, quote
from simrenew.customers.models import Customer
from simrenew.kit.money import Money
from simrenew.notifications.models import OutboxMessage
from simrenew.payments.charging import create_attempt, run_charge
from simrenew.payments.gateway import get_gateway
from simrenew.payments.models import AttemptPurpose, PaymentAttempt, PaymentMethod, Wallet
from simrenew.subscriptions import service_changes
from simrenew.subscriptions.autorenew import GatewayCharge, charge_internally, prepare_charges, prepare_claimed_charges
from simrenew.subscriptions.autorenew_claims import claim_batch, release_claims
from simrenew.subscriptions.autorenew_settle import begin_charges, charge_requests, settle_charges
from simrenew.subscriptions.models import Period, Subscription
from simrenew.subscriptions.paid_periods import PeriodPurchase
from simrenew.subscriptions.service_changes import ServiceChange
from tests.factories import (
    make_card,
    make_customer,
    make_plan,
    make_promotion,
    make_subscription,
    make_wallet,
    renew,
    renew_due,
)

WORKER = "equivalence"


def _renew_one_each_way(
    bulk: Subscription, single: Subscription, *, reprice: Callable[[GatewayCharge], PeriodPurchase] | None = None
) -> None:
    """Claim and prepare both as the worker does, then pay `bulk` in bulk and `single` alone.
    `reprice` stands for a pricing rule the worker would apply (the same to both)."""
    claimed = claim_batch(worker_id=WORKER, limit=10)
    assert sorted(due.subscription_id for due in claimed) == sorted([bulk.pk, single.pk])
    prepared = prepare_claimed_charges(claimed)
    assert (prepared.internal, prepared.spent, prepared.skipped) == ([], [], [])
    charges = {charge.subscription_id: charge for charge in prepared.gateway}
    if reprice is not None:
        charges = {sid: replace(charge, purchase=reprice(charge)) for sid, charge in charges.items()}

    written = begin_charges([charges[bulk.pk]])
    settled = settle_charges(written, get_gateway().charge_many(charge_requests(written)))
    assert (settled.succeeded, settled.released) == (1, (bulk.pk,))

    alone = charges[single.pk]
    attempt = run_charge(
        lambda: create_attempt(
            customer=Customer.objects.get(pk=alone.customer_id),
            payment_method=PaymentMethod.objects.get(pk=alone.method_id),
            purpose=AttemptPurpose.AUTO_RENEWAL,
            amount=Money(alone.amount_minor, alone.currency),
            idempotency_key=alone.key,
            purpose_data=alone.purchase.purpose_data(),
            subscription=Subscription.objects.get(pk=alone.subscription_id),
        )
    )
    assert attempt.status == "succeeded", attempt.failure_message
    release_claims(worker_id=WORKER, subscription_ids=[single.pk])


def _written_for(subscription: Subscription, *, since_message: int) -> dict[str, Any]:
    """What the renewal left behind for one subscription, without its own ids and numbers."""
    sid = subscription.pk

    def plain(text: str) -> str:
        return text.replace(f":{sid}:", ":SUBSCRIPTION:")

    row = (
        Subscription.objects.filter(pk=sid)
        .values(
            "state",
            "plan_id",
            "auto_renew",
            "paid_through",
            "cancelled_at",
            "ended_at",
            "renewal_due_at",
            "claimed_by",
            "claim_expires_at",
        )
        .get()
    )
    periods = list(Period.objects.filter(subscription_id=sid).order_by("number").values().iterator())
    for period in periods:
        for key in ("id", "subscription_id", "invoice_id"):
            period.pop(key)
    attempts = list(
        PaymentAttempt.objects.filter(subscription_id=sid, purpose=AttemptPurpose.AUTO_RENEWAL).values().iterator()
    )
    for attempt in attempts:
        for key in ("id", "customer_id", "subscription_id", "gateway_charge_id"):
            attempt.pop(key)
        attempt["payment_method_id"] = attempt["payment_method_id"] == subscription.payment_method_id
        attempt["idempotency_key"] = plain(attempt["idempotency_key"]).rsplit(":", 1)[0]
    invoices = list(
        Invoice.objects.filter(subscription_id=sid, payment_attempt__purpose=AttemptPurpose.AUTO_RENEWAL)
        .values()
        .iterator()
    )
    for invoice in invoices:
        for key in ("id", "number", "customer_id", "subscription_id", "payment_attempt_id"):
            invoice.pop(key)
    events = []
    for message in OutboxMessage.objects.filter(subscription_id=sid, pk__gt=since_message).order_by("id"):
        payload = dict(message.payload)
        assert payload.pop("subscription_id") == sid
        assert payload.pop("invoice").startswith("SR-")
        events.append((message.event_type, message.sequence, message.customer_id == subscription.customer_id, payload))
    return {"subscription": row, "periods": periods, "attempts": attempts, "invoices": invoices, "events": events}


def _last_message() -> int:
    last = OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def _assert_same_writes(bulk: Subscription, single: Subscription, since_message: int) -> dict[str, Any]:
    by_bulk = _written_for(bulk, since_message=since_message)
    by_single = _written_for(single, since_message=since_message)
    assert by_bulk == by_single
    assert [kind for kind, *_ in by_bulk["events"]] == ["subscription.renewed"]
    return by_bulk


def test_a_plain_monthly_renewal_writes_the_same_period_invoice_attempt_and_event_both_ways(clock):
    plan = make_plan(period_unit="month", price_minor=2500)
    bulk, single = make_subscription(plan=plan), make_subscription(plan=plan)
    clock.set(bulk.paid_through - timedelta(hours=72))
    since = _last_message()

    _renew_one_each_way(bulk, single)

    written = _assert_same_writes(bulk, single, since)
    [_, second] = written["periods"]
    assert (second["number"], second["starts_at"], second["data_mb"]) == (2, bulk.paid_through, plan.data_mb)
    [invoice] = written["invoices"]
    assert (invoice["subtotal_minor"], invoice["discount_minor"], invoice["total_minor"]) == (2500, 0, 2500)


def test_after_a_switch_to_a_weekly_plan_both_ways_renew_the_weekly_plan_from_the_same_boundary(clock):
    monthly = make_plan(period_unit="month", price_minor=2500)
    weekly = make_plan(code="att-week", period_unit="day", period_count=7, data_mb=2048, price_minor=900)
    bulk, single = make_subscription(plan=monthly), make_subscription(plan=monthly)
    for subscription in (bulk, single):
        # Bought from the month's end on, and chosen for the renewals after it.
        assert renew(subscription, plan=weekly, also_renew_with_plan=True).status == "succeeded"
        subscription.refresh_from_db()
    clock.set(bulk.paid_through - timedelta(hours=72))
    since = _last_message()

    _renew_one_each_way(bulk, single)

    written = _assert_same_writes(bulk, single, since)
    third = written["periods"][2]
    assert (third["plan_id"], third["starts_at"], third["ends_at"]) == (
        weekly.pk,
        bulk.paid_through,
        bulk.paid_through + timedelta(days=7),
    )
    assert written["attempts"][0]["amount_minor"] == 900


def test_an_auto_renewal_onto_another_plan_announces_the_same_plan_change_both_ways(clock, monkeypatch):
    monthly = make_plan(period_unit="month", price_minor=2500)
    weekly = make_plan(code="att-week", period_unit="day", period_count=7, data_mb=2048, price_minor=900)
    bulk, single = make_subscription(plan=monthly), make_subscription(plan=monthly)
    Subscription.objects.filter(pk__in=[bulk.pk, single.pk]).update(plan=weekly)  # renew with the weekly plan
    clock.set(bulk.paid_through - timedelta(hours=72))
    heard: list[ServiceChange] = []
    monkeypatch.setattr(service_changes, "_listeners", [heard.extend])

    _renew_one_each_way(bulk, single)

    said = {change.subscription_id: change for change in heard}
    assert len(heard) == 2
    for subscription in (bulk, single):
        change = said[subscription.pk]
        assert (change.kind, change.esim_id, change.plan_code, change.effective_at) == (
            "change_plan",
            subscription.esim_id,
            "att-week",
            subscription.paid_through,
        )


def test_a_plain_renewal_announces_nothing_either_way(clock, monkeypatch):
    plan = make_plan(period_unit="month", price_minor=2500)
    bulk, single = make_subscription(plan=plan), make_subscription(plan=plan)
    clock.set(bulk.paid_through - timedelta(hours=72))
    heard: list[ServiceChange] = []
    monkeypatch.setattr(service_changes, "_listeners", [heard.extend])

    _renew_one_each_way(bulk, single)

    assert heard == []


def test_a_priced_promotion_gives_the_same_discounted_invoice_and_bonus_data_both_ways(clock):
    plan = make_plan(period_unit="month", price_minor=2500, data_mb=10_240)
    promotion = make_promotion(code="LOYAL25", percent_off=25, bonus_data_mb=512)
    bulk, single = make_subscription(plan=plan), make_subscription(plan=plan)
    clock.set(bulk.paid_through - timedelta(hours=72))
    since = _last_message()

    def with_promotion(charge: GatewayCharge) -> PeriodPurchase:
        price = period_price(price_minor=charge.purchase.subtotal_minor, currency=charge.currency, promotion=promotion)
        return PeriodPurchase.of(charge.plan_id, price)

    _renew_one_each_way(bulk, single, reprice=with_promotion)

    written = _assert_same_writes(bulk, single, since)
    [invoice] = written["invoices"]
    assert (invoice["subtotal_minor"], invoice["discount_minor"], invoice["total_minor"]) == (2500, 625, 1875)
    assert written["periods"][1]["data_mb"] == 10_240 + 512
    assert written["attempts"][0]["purpose_data"]["promo_code"] == "LOYAL25"
    assert written["events"][0][3]["amount_minor"] == 1875


def test_a_month_bought_on_the_31st_renews_to_the_31st_again_both_ways(clock):
    clock.set(datetime(2026, 1, 31, 4, 0, tzinfo=UTC))  # noon on the 31st in Shanghai
    plan = make_plan(period_unit="month", price_minor=1200)
    customers = [make_customer(time_zone="Asia/Shanghai") for _ in range(2)]
    bulk, single = (make_subscription(customer=customer, plan=plan) for customer in customers)
    assert bulk.paid_through == datetime(2026, 2, 28, 4, 0, tzinfo=UTC)
    clock.set(bulk.paid_through - timedelta(hours=72))
    since = _last_message()

    _renew_one_each_way(bulk, single)

    written = _assert_same_writes(bulk, single, since)
    assert written["periods"][1]["ends_at"] == datetime(2026, 3, 31, 4, 0, tzinfo=UTC)
    assert written["subscription"]["paid_through"] == datetime(2026, 3, 31, 4, 0, tzinfo=UTC)


# --- one pricing rule for all three ways a renewal is priced ------------------------------------------------------


def _priced_three_ways(subscription: Subscription) -> list[PeriodPurchase]:
    """What the worker's row path (`prepare_claimed_charges`), its model path (`prepare_charges`)
    and a renewal by hand (`catalog.quote` without a code) would charge for the next period."""
    claimed = claim_batch(worker_id=WORKER, limit=10)
    assert [due.subscription_id for due in claimed] == [subscription.pk]
    assert not claimed[0].maybe_tried  # so the row path prices it itself, without the model path
    [by_row] = prepare_claimed_charges(claimed).gateway
    [by_model] = prepare_charges([subscription.pk]).gateway
    release_claims(worker_id=WORKER, subscription_ids=[subscription.pk])
    by_hand = quote(plan=subscription.plan, customer=subscription.customer, promo_code=None)
    return [by_row.purchase, by_model.purchase, PeriodPurchase.of(subscription.plan_id, by_hand)]


def _surcharge_everywhere(monkeypatch: pytest.MonkeyPatch, extra_minor: int) -> None:
    """A new pricing rule in `catalog.services.period_price`, seen by every module that took the
    function by name: what a change to the rule does in production."""
    original = catalog_services.period_price

    def with_surcharge(*, price_minor: int, currency: str, promotion: Promotion | None = None) -> PriceQuote:
        return original(price_minor=price_minor + extra_minor, currency=currency, promotion=promotion)

    for module in list(sys.modules.values()):
        if getattr(module, "period_price", None) is original:
            monkeypatch.setattr(module, "period_price", with_surcharge)


def test_the_worker_both_ways_and_a_renewal_by_hand_charge_the_same_for_a_period(clock):
    plan = make_plan(period_unit="month", price_minor=2500, data_mb=10_240)
    subscription = make_subscription(plan=plan)
    clock.set(subscription.paid_through - timedelta(hours=72))

    by_row, by_model, by_hand = _priced_three_ways(subscription)

    assert by_row == by_model == by_hand == PeriodPurchase(plan.pk, 2500, 0, 0, None, "USD")


def test_a_change_to_the_pricing_rule_reaches_all_three_alike(clock, monkeypatch):
    plan = make_plan(period_unit="month", price_minor=2500)
    subscription = make_subscription(plan=plan)
    clock.set(subscription.paid_through - timedelta(hours=72))
    _surcharge_everywhere(monkeypatch, extra_minor=99)

    by_row, by_model, by_hand = _priced_three_ways(subscription)

    assert by_row == by_model == by_hand
    assert (by_hand.subtotal_minor, by_hand.total_minor) == (2599, 2599)


# --- a renewal from the wallet, and a failed try ------------------------------------------------------------------


def test_a_renewal_from_the_wallet_writes_what_a_card_renewal_in_bulk_writes(clock):
    plan = make_plan(period_unit="month", price_minor=2500)
    by_card, by_wallet = make_subscription(plan=plan), make_subscription(plan=plan)
    wallet = make_wallet(customer=by_wallet.customer, balance_minor=4000)
    Subscription.objects.filter(pk=by_wallet.pk).update(payment_method=wallet)
    by_wallet.refresh_from_db()
    clock.set(by_card.paid_through - timedelta(hours=72))
    since = _last_message()

    prepared = prepare_claimed_charges(claim_batch(worker_id=WORKER, limit=10))
    [gateway_charge], [internal_charge] = prepared.gateway, prepared.internal
    assert (gateway_charge.subscription_id, internal_charge.subscription.pk) == (by_card.pk, by_wallet.pk)
    written = begin_charges([gateway_charge])
    assert settle_charges(written, get_gateway().charge_many(charge_requests(written))).succeeded == 1
    assert charge_internally(internal_charge).status == "succeeded"
    release_claims(worker_id=WORKER, subscription_ids=[by_wallet.pk])

    card_writes, wallet_writes = (
        _written_for(by_card, since_message=since),
        _written_for(by_wallet, since_message=since),
    )
    # The attempts differ in where the money came from; what they paid and for what does not.
    paid = ("purpose", "status", "amount_minor", "currency", "purpose_data", "idempotency_key", "failure_code")
    [card_attempt], [wallet_attempt] = card_writes.pop("attempts"), wallet_writes.pop("attempts")
    assert {k: card_attempt[k] for k in paid} == {k: wallet_attempt[k] for k in paid}
    assert card_writes == wallet_writes
    assert [kind for kind, *_ in wallet_writes["events"]] == ["subscription.renewed"]
    assert Wallet.objects.get(customer=by_wallet.customer).balance_minor == 4000 - 2500


def test_a_failed_try_tells_the_same_things_as_a_failed_renewal_by_hand(clock):
    plan = make_plan(period_unit="month", price_minor=2500)
    by_worker, by_hand = make_subscription(plan=plan), make_subscription(plan=plan)
    declining = {
        s.pk: make_card(customer=s.customer, number="4000000000009995") for s in (by_worker, by_hand)
    }  # insufficient funds: a soft decline, tried again later
    Subscription.objects.filter(pk=by_worker.pk).update(payment_method=declining[by_worker.pk])
    Subscription.objects.filter(pk=by_hand.pk).update(auto_renew=False)  # only the worker's try here
    clock.set(by_worker.paid_through - timedelta(hours=72))

    assert renew(by_hand, payment_method=declining[by_hand.pk]).status == "failed"
    renew_due()

    by_worker.refresh_from_db()
    worker_said, hand_said = (
        OutboxMessage.objects.get(event_type="subscription.renewal_failed", subscription=s).payload
        for s in (by_worker, by_hand)
    )
    agree = ("failure_code", "failure_message", "amount_minor", "currency", "expires_at")
    assert {k: worker_said[k] for k in agree} == {k: hand_said[k] for k in agree}
    assert (worker_said["failure_code"], worker_said["amount_minor"]) == ("insufficient_funds", 2500)
    # The worker says when it tries next; by hand, with auto-renew off, nothing follows.
    assert worker_said["next_retry_at"] == by_worker.renewal_due_at.isoformat()
    assert (worker_said["action"], hand_said["action"]) == ("wait_for_retry", "update_payment_method")
    assert hand_said["next_retry_at"] is None


def test_a_failed_renewal_by_hand_announces_the_worker_s_next_try_while_auto_renew_is_on(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    declining = make_card(customer=subscription.customer, number="4000000000000002")
    clock.set(subscription.paid_through - timedelta(days=10))  # before the worker's first try
    assert subscription.renewal_due_at is not None and subscription.renewal_due_at > clock.now()

    assert renew(subscription, payment_method=declining).status == "failed"

    told = OutboxMessage.objects.get(event_type="subscription.renewal_failed", subscription=subscription).payload
    assert (told["action"], told["next_retry_at"]) == ("wait_for_retry", subscription.renewal_due_at.isoformat())
