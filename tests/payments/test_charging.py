"""The three-step charge: write the attempt, call the gateway, settle; and
reconciling attempts whose outcome never arrived."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from simrenew.billing.models import Invoice
from simrenew.billing.wallet_top_ups import begin_wallet_top_up
from simrenew.catalog.models import Promotion, PromotionRedemption
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.payments.charging import (
    attempts_due_for_reconciliation,
    call_gateway,
    execute,
    reconcile,
    run_charge,
    settle,
)
from simrenew.payments.failures import failure_message
from simrenew.payments.gateway import ChargeResult, ChargeStatus
from simrenew.payments.models import PaymentAttempt, SandboxCharge, Wallet, WalletEntry
from simrenew.payments.services import NewMethod, add_payment_method
from simrenew.subscriptions.models import Period, Subscription, SubscriptionState
from simrenew.subscriptions.queries import Status, view
from simrenew.subscriptions.renewals import begin_renewal, begin_subscription
from tests.factories import (
    make_card,
    make_customer,
    make_esim,
    make_paypal,
    make_plan,
    make_promotion,
    make_subscription,
    make_wallet,
    renew,
)

RECONCILE_AFTER = timedelta(minutes=5)


def period_count(subscription: Subscription) -> int:
    return Period.objects.filter(subscription=subscription).count()


def wallet_ledger_total(customer) -> int:
    return sum(WalletEntry.objects.filter(wallet__customer=customer).values_list("amount_minor", flat=True))


def start_subscription(*, card: str, promo_code: str | None = None, key: str = "first"):
    customer = make_customer()
    esim = make_esim(customer=customer)
    method = make_card(customer=customer, number=card)
    plan = make_plan(price_minor=2500)
    attempt = run_charge(
        lambda: begin_subscription(
            esim=esim, plan=plan, payment_method=method, auto_renew=True, promo_code=promo_code, idempotency_key=key
        )
    )
    return attempt, esim, plan, method


# Each test card through a renewal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        ("4242424242424242", "succeeded", ""),
        ("5555555555554444", "succeeded", ""),
        ("4000000000000002", "failed", "card_declined"),
        ("4000000000009995", "failed", "insufficient_funds"),
        ("4000000000000069", "failed", "expired_card"),
        ("4000000000000119", "failed", "processing_error"),
        ("4000000000000408", "unknown", ""),
        ("4000000000000416", "unknown", ""),
    ],
)
def test_each_test_card_settles_a_renewal_as_documented(clock, card, status, code):
    subscription = make_subscription()
    method = make_card(customer=subscription.customer, number=card)

    attempt = renew(subscription, payment_method=method)

    assert (attempt.status, attempt.failure_code) == (status, code)
    assert attempt.failure_message == (failure_message(code) if code else "")
    assert period_count(subscription) == (2 if status == "succeeded" else 1)
    assert Invoice.objects.count() == (2 if status == "succeeded" else 1)
    ledger = SandboxCharge.objects.filter(idempotency_key=attempt.idempotency_key).first()
    if status == "unknown":
        assert (attempt.gateway_charge_id, attempt.completed_at) == ("", None)
    else:
        assert attempt.completed_at == clock.now()
        assert attempt.gateway_charge_id == ledger.charge_id


def test_a_debit_card_pays_like_a_card(clock):
    subscription = make_subscription()
    debit = make_card(customer=subscription.customer, number="4000056655665556", type="debit")

    attempt = renew(subscription, payment_method=debit)

    assert (debit.type, debit.brand, debit.last4) == ("debit", "visa", "5556")
    assert attempt.status == "succeeded"


# Unknown outcomes and reconciliation -------------------------------------------------------------------


def test_a_charge_whose_answer_was_lost_is_found_by_its_key_and_adds_exactly_one_period(clock):
    subscription = make_subscription()
    lost = make_card(customer=subscription.customer, number="4000000000000408")

    attempt = renew(subscription, payment_method=lost)

    assert attempt.status == "unknown"
    assert SandboxCharge.objects.get(idempotency_key=attempt.idempotency_key).status == "succeeded"
    assert period_count(subscription) == 1  # not yet: we do not know
    assert attempts_due_for_reconciliation() == []

    clock.advance(minutes=5)
    assert [a.pk for a in attempts_due_for_reconciliation()] == [attempt.pk]
    settled = reconcile(attempt)

    assert settled.status == "succeeded"
    assert period_count(subscription) == 2
    assert settled.invoice.total_minor == settled.amount_minor
    assert attempts_due_for_reconciliation() == []
    # Asking again, or executing again, changes nothing and charges nothing.
    assert reconcile(settled).status == "succeeded"
    assert execute(PaymentAttempt.objects.get(pk=attempt.pk)).status == "succeeded"
    assert period_count(subscription) == 2
    assert SandboxCharge.objects.filter(idempotency_key=attempt.idempotency_key).count() == 1


def test_a_charge_that_never_reached_the_gateway_fails_on_reconciliation_and_gives_the_promotion_back(clock):
    make_promotion(code="SPRING", percent_off=20, max_redemptions=10)
    subscription = make_subscription()
    unsent = make_card(customer=subscription.customer, number="4000000000000416")

    attempt = renew(subscription, payment_method=unsent, promo_code="SPRING")

    assert (attempt.status, attempt.amount_minor) == ("unknown", 2000)
    assert Promotion.objects.get().redemptions_count == 1
    clock.advance(minutes=5)
    settled = reconcile(attempt)

    assert (settled.status, settled.failure_code) == ("failed", "gateway_unreachable")
    assert "nothing was charged" in settled.failure_message
    assert period_count(subscription) == 1
    assert not SandboxCharge.objects.filter(idempotency_key=attempt.idempotency_key).exists()
    assert Promotion.objects.get().redemptions_count == 0
    assert not PromotionRedemption.objects.exists()


def test_a_first_payment_with_a_lost_answer_leaves_the_subscription_incomplete_until_reconciled(clock):
    attempt, esim, _, _ = start_subscription(card="4000000000000408")

    subscription = Subscription.objects.get(pk=attempt.subscription_id)
    assert attempt.status == "unknown"
    assert view(subscription).status == Status.INCOMPLETE
    with pytest.raises(Exception, match="already has a subscription"):
        start_again = make_card(customer=esim.customer)
        run_charge(
            lambda: begin_subscription(
                esim=esim,
                plan=subscription.plan,
                payment_method=start_again,
                auto_renew=True,
                promo_code=None,
                idempotency_key="second-try",
            )
        )

    clock.advance(minutes=5)
    reconcile(attempt)

    subscription.refresh_from_db()
    assert subscription.state == SubscriptionState.LIVE
    shown = view(subscription)
    assert (shown.status, shown.current_period.number) == (Status.ACTIVE, 1)
    # The period starts when the payment was settled, not when it was made.
    assert shown.current_period.starts_at == clock.now()


def test_a_first_payment_that_never_reached_the_gateway_leaves_no_subscription_once_reconciled(clock):
    attempt, *_ = start_subscription(card="4000000000000416")
    clock.advance(minutes=5)

    settled = reconcile(attempt)

    assert settled.status == "failed"
    assert settled.subscription_id is None
    assert not Subscription.objects.exists()
    # The eSIM is free for a new try with a working card.
    retry, *_ = start_subscription(card="4242424242424242", key="retry")
    assert retry.status == "succeeded"


def test_an_unanswered_lookup_leaves_the_attempt_unknown_and_asks_again_later(clock, monkeypatch):
    subscription = make_subscription()
    attempt = renew(subscription, payment_method=make_card(customer=subscription.customer, number="4000000000000408"))
    created = attempt.created_at

    class Unreachable:
        name = "sandbox"

        def lookup(self, key):
            raise ConnectionError("gateway down")

    monkeypatch.setattr("simrenew.payments.charging.gateway_named", lambda name: Unreachable())
    clock.advance(minutes=5)
    still = reconcile(attempt)

    assert still.status == "unknown"
    assert still.reconcile_count == 1
    assert still.reconcile_after == created + timedelta(hours=1)
    assert period_count(subscription) == 1


def test_a_crash_after_writing_the_attempt_is_reconciled_by_its_key_without_charging(clock):
    subscription = make_subscription()
    with transaction.atomic():
        attempt = begin_renewal(subscription=subscription, idempotency_key="crashed-before-gateway")
    # ...the process dies here: the gateway was never called.

    assert attempt.status == "pending"
    assert attempts_due_for_reconciliation() == []
    clock.advance(minutes=5)
    [due] = attempts_due_for_reconciliation()
    settled = reconcile(due)

    assert (settled.status, settled.failure_code) == ("failed", "gateway_unreachable")
    assert not SandboxCharge.objects.filter(idempotency_key="crashed-before-gateway").exists()
    assert period_count(subscription) == 1


def test_a_crash_after_the_gateway_charged_is_reconciled_into_the_paid_period(clock):
    subscription = make_subscription()
    with transaction.atomic():
        attempt = begin_renewal(subscription=subscription, idempotency_key="crashed-after-gateway")
    assert call_gateway(attempt).status == ChargeStatus.SUCCEEDED
    # ...the process dies here: the outcome was never recorded.

    clock.advance(minutes=5)
    settled = reconcile(PaymentAttempt.objects.get(pk=attempt.pk))

    assert settled.status == "succeeded"
    assert period_count(subscription) == 2
    assert SandboxCharge.objects.filter(idempotency_key="crashed-after-gateway").count() == 1


# Idempotency -------------------------------------------------------------------------------------------


def test_executing_or_settling_twice_is_harmless(clock):
    subscription = make_subscription()
    with transaction.atomic():
        pending = begin_renewal(subscription=subscription, idempotency_key="twice")
    first = execute(pending)

    again = execute(first)
    # A second settler holding the attempt as it was before the first one finished:
    stale = PaymentAttempt.objects.get(pk=pending.pk)
    stale.status = "pending"
    with transaction.atomic():
        settled_again = settle(stale, ChargeResult(ChargeStatus.SUCCEEDED, charge_id="ch_other"))
    stale.status = "pending"
    with transaction.atomic():
        settled_failed = settle(stale, ChargeResult(ChargeStatus.FAILED, failure_code="card_declined"))

    assert first.status == "succeeded"
    for result in (again, settled_again, settled_failed):
        assert (result.status, result.gateway_charge_id) == ("succeeded", first.gateway_charge_id)
    assert PaymentAttempt.objects.get(pk=pending.pk).gateway_charge_id == first.gateway_charge_id
    assert period_count(subscription) == 2
    assert Invoice.objects.count() == 2


def test_the_same_idempotency_key_replays_the_renewal(clock):
    subscription = make_subscription()

    first = renew(subscription, idempotency_key="renew-once")
    second = renew(subscription, idempotency_key="renew-once")

    assert first.pk == second.pk
    assert second.status == "succeeded"
    assert period_count(subscription) == 2
    assert SandboxCharge.objects.filter(idempotency_key="renew-once").count() == 1


def test_the_same_idempotency_key_for_another_payment_is_refused(clock):
    subscription = make_subscription()
    other = make_subscription()
    renew(subscription, idempotency_key="used")

    with pytest.raises(Conflict) as refused:
        renew(other, idempotency_key="used")
    with pytest.raises(Conflict):
        run_charge(
            lambda: begin_wallet_top_up(
                customer=subscription.customer,
                payment_method=subscription.payment_method,
                amount_minor=1000,
                idempotency_key="used",
            )
        )

    assert refused.value.status == 409
    assert period_count(other) == 1


# Wallet ------------------------------------------------------------------------------------------------


def test_a_wallet_with_enough_balance_pays_without_the_gateway(clock):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    wallet = make_wallet(customer=subscription.customer, balance_minor=5000)
    charges_before = SandboxCharge.objects.count()

    attempt = renew(subscription, payment_method=wallet)

    assert (attempt.status, attempt.gateway) == ("succeeded", "internal")
    assert SandboxCharge.objects.count() == charges_before
    balance = Wallet.objects.get(customer=subscription.customer).balance_minor
    assert balance == 2500
    assert wallet_ledger_total(subscription.customer) == balance
    assert period_count(subscription) == 2
    assert attempt.invoice.total_minor == 2500


def test_a_wallet_with_too_little_balance_fails_and_nothing_changes(clock):
    subscription = make_subscription(plan=make_plan(price_minor=2500))
    wallet = make_wallet(customer=subscription.customer, balance_minor=2499)
    entries_before = WalletEntry.objects.count()
    invoices_before = Invoice.objects.count()

    attempt = renew(subscription, payment_method=wallet)

    assert (attempt.status, attempt.failure_code) == ("failed", "wallet_insufficient_balance")
    assert attempt.failure_message == failure_message("wallet_insufficient_balance")
    assert Wallet.objects.get(customer=subscription.customer).balance_minor == 2499
    assert WalletEntry.objects.count() == entries_before
    assert Invoice.objects.count() == invoices_before
    assert period_count(subscription) == 1


def test_an_empty_wallet_is_a_payment_method_with_nothing_in_it(clock):
    customer = make_customer()

    wallet = make_wallet(customer=customer)
    same = add_payment_method(customer=customer, method=NewMethod(type="wallet"))

    assert wallet.pk == same.pk
    assert (wallet.type, wallet.token, wallet.last4) == ("wallet", "", "")
    assert Wallet.objects.get(customer=customer).balance_minor == 0


def test_a_wallet_top_up_by_card_credits_the_wallet_and_issues_an_invoice(clock):
    customer = make_customer()
    card = make_card(customer=customer)

    attempt = run_charge(
        lambda: begin_wallet_top_up(customer=customer, payment_method=card, amount_minor=4000, idempotency_key="w1")
    )

    assert attempt.status == "succeeded"
    assert Wallet.objects.get(customer=customer).balance_minor == 4000
    entry = WalletEntry.objects.get()
    assert (entry.amount_minor, entry.reason, entry.payment_attempt_id) == (4000, "top_up", attempt.pk)
    invoice = Invoice.objects.get()
    assert (invoice.total_minor, invoice.description, invoice.customer_id) == (4000, "Wallet top-up", customer.pk)


def test_a_declined_wallet_top_up_credits_nothing(clock):
    customer = make_customer()
    declined = make_card(customer=customer, number="4000000000000002")

    attempt = run_charge(
        lambda: begin_wallet_top_up(customer=customer, payment_method=declined, amount_minor=4000, idempotency_key="w")
    )

    assert attempt.status == "failed"
    assert Wallet.objects.get(customer=customer).balance_minor == 0
    assert not WalletEntry.objects.exists() and not Invoice.objects.exists()


@pytest.mark.parametrize("amount_minor", [99, 100_001, -500])
def test_a_wallet_top_up_must_be_a_sensible_amount(clock, amount_minor):
    customer = make_customer()
    card = make_card(customer=customer)

    with pytest.raises(ValidationFailed) as refused:
        run_charge(
            lambda: begin_wallet_top_up(
                customer=customer, payment_method=card, amount_minor=amount_minor, idempotency_key="w"
            )
        )

    assert refused.value.errors[0].field == "amount_minor"
    assert not PaymentAttempt.objects.exists()


def test_the_wallet_cannot_top_up_itself(clock):
    customer = make_customer()
    wallet = make_wallet(customer=customer)

    with pytest.raises(ValidationFailed) as refused:
        begin_wallet_top_up(customer=customer, payment_method=wallet, amount_minor=1000, idempotency_key="w")

    assert refused.value.errors[0].field == "payment_method_id"


# PayPal and payment methods -----------------------------------------------------------------------------


def test_paypal_pays_unless_the_sandbox_account_declines(clock):
    subscription = make_subscription()
    good = make_paypal(customer=subscription.customer, email="buyer@example.com")
    bad = make_paypal(customer=subscription.customer, email="declined-buyer@example.com")

    paid = renew(subscription, payment_method=good)
    refused = renew(subscription, payment_method=bad)

    assert (good.type, good.brand, good.paypal_email, good.last4) == ("paypal", "paypal", "buyer@example.com", "")
    assert paid.status == "succeeded"
    assert (refused.status, refused.failure_code) == ("failed", "paypal_declined")
    assert "PayPal declined" in refused.failure_message
    assert period_count(subscription) == 2


def test_paypal_needs_an_email_address(clock):
    with pytest.raises(ValidationFailed) as refused:
        make_paypal(customer=make_customer(), email="not-an-address")

    assert refused.value.errors[0].field == "paypal_email"


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"number": "4242424242424241"}, "number"),
        ({"exp_month": 12, "exp_year": 2025}, "exp_year"),
        ({"exp_month": 0}, "exp_month"),
        ({"cvc": "1"}, "cvc"),
    ],
)
def test_card_details_are_refused_naming_the_field(clock, details, field):
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"} | details

    with pytest.raises(ValidationFailed) as refused:
        add_payment_method(customer=make_customer(), method=NewMethod(type="card", **card))

    assert [e.field for e in refused.value.errors] == [field]
    assert refused.value.status == 422
    assert "4242424242424241" not in refused.value.detail


def test_missing_card_details_are_all_named(clock):
    with pytest.raises(ValidationFailed) as refused:
        add_payment_method(customer=make_customer(), method=NewMethod(type="card", number="4242424242424242"))

    assert [e.field for e in refused.value.errors] == ["exp_month", "exp_year", "cvc"]


def test_an_unknown_method_type_is_refused(clock):
    with pytest.raises(ValidationFailed) as refused:
        add_payment_method(customer=make_customer(), method=NewMethod(type="cheque"))

    assert refused.value.errors[0].field == "type"


def test_the_first_method_is_the_default_and_a_card_shows_brand_and_last4(clock):
    customer = make_customer()

    first = make_card(customer=customer, number="4242424242424242")
    second = make_card(customer=customer, number="5555555555554444")

    assert (first.is_default, second.is_default) == (True, False)
    assert str(second) == "mastercard •••• 4444"
    assert (second.exp_month, second.exp_year, second.gateway) == (12, 2040, "sandbox")
    assert second.token.startswith("tok_sandbox_")


def test_a_method_of_another_customer_cannot_pay(clock):
    subscription = make_subscription()
    strangers_card = make_card(customer=make_customer())

    with pytest.raises(ValidationFailed) as refused:
        renew(subscription, payment_method=strangers_card)

    assert refused.value.errors[0].field == "payment_method_id"


def test_a_wallet_cannot_pay_a_price_in_another_currency(clock):
    from simrenew.catalog.services import create_plan
    from tests.factories import make_carrier

    euro_plan = create_plan(
        carrier=make_carrier(code="att"),
        code="att-1m-eur",
        name="AT&T 1 month (EUR)",
        period_unit="month",
        period_count=1,
        data_mb=1024,
        price_minor=2500,
        currency="EUR",
    )
    subscription = make_subscription(plan=euro_plan)
    wallet = make_wallet(customer=subscription.customer, balance_minor=5000)  # dollars

    with pytest.raises(ValidationFailed) as refused:
        renew(subscription, payment_method=wallet)

    assert refused.value.errors[0].field == "payment_method_id"
    assert Wallet.objects.get(customer=subscription.customer).balance_minor == 5000
    assert period_count(subscription) == 1


def test_a_first_payment_key_reused_for_another_customers_esim_is_refused_not_replayed(clock):
    first, *_ = start_subscription(card="4242424242424242", key="shared-key")

    with pytest.raises(Conflict):
        start_subscription(card="4242424242424242", key="shared-key")

    assert Subscription.objects.count() == 1
    assert PaymentAttempt.objects.get(idempotency_key="shared-key").pk == first.pk


def test_a_first_payment_retried_with_its_key_replays_the_same_attempt(clock):
    customer = make_customer()
    esim = make_esim(customer=customer)
    card = make_card(customer=customer)
    plan = make_plan()

    def buy() -> PaymentAttempt:
        return run_charge(
            lambda: begin_subscription(
                esim=esim, plan=plan, payment_method=card, auto_renew=True, promo_code=None, idempotency_key="retry"
            )
        )

    first, again = buy(), buy()

    assert first.pk == again.pk
    assert again.status == "succeeded"
    assert Subscription.objects.count() == 1
    assert SandboxCharge.objects.filter(idempotency_key="retry").count() == 1
