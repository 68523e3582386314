"""Promotion codes: discounts, bonus data, windows, plan restrictions and limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from simrenew.catalog.models import Promotion, PromotionRedemption
from simrenew.catalog.services import PromotionNotApplicable, quote
from simrenew.payments.models import PaymentAttempt
from simrenew.subscriptions.models import Period
from simrenew.subscriptions.queries import view
from tests.factories import make_card, make_customer, make_plan, make_promotion, make_subscription, renew


def promotion(code: str = "WELCOME10") -> Promotion:
    return Promotion.objects.get(code=code)


def refusal(excinfo: pytest.ExceptionInfo[PromotionNotApplicable]) -> str:
    [error] = excinfo.value.errors
    assert error.field == "promo_code"
    return error.message


# Discounts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price_minor", "percent_off", "discount_minor"),
    [
        (2500, 10, 250),
        (2505, 10, 251),  # 250.5 rounds half up
        (2504, 10, 250),  # 250.4 rounds down
        (1010, 15, 152),  # 151.5 rounds half up
        (999, 33, 330),  # 329.67
        (1, 50, 1),  # 0.5 rounds half up: a one-cent plan at half price is free
        (2500, 100, 2500),
        (2500, 0, 0),
    ],
)
def test_a_percent_discount_rounds_half_up_to_the_cent(clock, price_minor, percent_off, discount_minor):
    make_promotion(code="PCT", percent_off=percent_off)

    price = quote(plan=make_plan(price_minor=price_minor), customer=make_customer(), promo_code="PCT")

    assert price.discount.amount_minor == discount_minor
    assert price.total.amount_minor == price_minor - discount_minor


def test_a_percent_discount_is_charged_and_shown_on_the_invoice(clock):
    make_promotion(code="WELCOME10", percent_off=10)

    subscription = make_subscription(plan=make_plan(price_minor=2500), promo_code="WELCOME10")

    attempt = PaymentAttempt.objects.get(subscription=subscription)
    assert attempt.amount_minor == 2250
    invoice = attempt.invoice
    assert (invoice.subtotal_minor, invoice.discount_minor, invoice.total_minor) == (2500, 250, 2250)
    redemption = PromotionRedemption.objects.get()
    assert (redemption.customer_id, redemption.discount_minor) == (subscription.customer_id, 250)


def test_a_fixed_discount_takes_its_amount_off(clock):
    make_promotion(code="FIVEOFF", amount_off_minor=500)

    price = quote(plan=make_plan(price_minor=2500), customer=make_customer(), promo_code="FIVEOFF")

    assert (price.discount.amount_minor, price.total.amount_minor) == (500, 2000)


def test_a_discount_never_takes_the_price_below_zero_and_a_free_period_needs_no_gateway(clock):
    make_promotion(code="BIGGIFT", amount_off_minor=10_000)

    subscription = make_subscription(plan=make_plan(price_minor=2500), promo_code="BIGGIFT")

    attempt = PaymentAttempt.objects.get(subscription=subscription)
    assert (attempt.amount_minor, attempt.status, attempt.gateway) == (0, "succeeded", "internal")
    assert (attempt.invoice.discount_minor, attempt.invoice.total_minor) == (2500, 0)
    assert Period.objects.filter(subscription=subscription).count() == 1


def test_a_fixed_discount_in_another_currency_does_not_apply(clock):
    promo = make_promotion(code="EUROS", amount_off_minor=500)
    promo.currency = "EUR"
    promo.save()

    with pytest.raises(PromotionNotApplicable) as refused:
        quote(plan=make_plan(), customer=make_customer(), promo_code="EUROS")

    assert "currency" in refusal(refused)


def test_bonus_data_lands_in_the_period_allowance(clock):
    make_promotion(code="MOREDATA", percent_off=0, bonus_data_mb=2048)

    subscription = make_subscription(plan=make_plan(data_mb=10_240), promo_code="MOREDATA")

    assert subscription.periods.get().data_mb == 12_288
    assert view(subscription).data_left_mb == 12_288
    renew(subscription)  # without the code: the plain allowance
    assert list(subscription.periods.order_by("number").values_list("data_mb", flat=True)) == [12_288, 10_240]


# Who may use a code, and when --------------------------------------------------------------------------


def test_codes_are_matched_whatever_their_case_and_surrounding_spaces(clock):
    make_promotion(code="Welcome10", percent_off=10)

    for typed in ("welcome10", "WELCOME10", "  wElCoMe10 "):
        price = quote(plan=make_plan(price_minor=1000), customer=make_customer(), promo_code=typed)
        assert price.discount.amount_minor == 100


def test_two_codes_differing_only_in_case_cannot_exist(clock):
    make_promotion(code="SUMMER")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_promotion(code="summer")


def test_an_unknown_code_is_refused_by_name(clock):
    with pytest.raises(PromotionNotApplicable) as refused:
        quote(plan=make_plan(), customer=make_customer(), promo_code="NOPE")

    assert "NOPE" in refusal(refused)
    assert refused.value.status == 422


def test_a_code_works_only_inside_its_validity_window(clock):
    now = clock.now()
    make_promotion(code="WINDOW", valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=8))
    plan, customer = make_plan(), make_customer()

    with pytest.raises(PromotionNotApplicable) as early:
        quote(plan=plan, customer=customer, promo_code="WINDOW")
    clock.advance(days=1)
    assert quote(plan=plan, customer=customer, promo_code="WINDOW").promotion is not None
    clock.advance(days=7, seconds=-1)
    assert quote(plan=plan, customer=customer, promo_code="WINDOW").promotion is not None
    clock.advance(seconds=1)
    with pytest.raises(PromotionNotApplicable) as late:
        quote(plan=plan, customer=customer, promo_code="WINDOW")

    assert "not valid yet" in refusal(early)
    assert "expired" in refusal(late)


def test_a_switched_off_code_is_refused(clock):
    promo = make_promotion(code="OLD")
    promo.is_active = False
    promo.save()

    with pytest.raises(PromotionNotApplicable) as refused:
        quote(plan=make_plan(), customer=make_customer(), promo_code="OLD")

    assert "no longer active" in refusal(refused)


def test_a_code_restricted_to_some_plans_is_refused_for_others(clock):
    yearly = make_plan(code="att-1y", period_unit="year", price_minor=20_000)
    monthly = make_plan(code="att-1m", price_minor=2500)
    make_promotion(code="YEARLY20", percent_off=20, plan_codes=["att-1y"])
    customer = make_customer()

    assert quote(plan=yearly, customer=customer, promo_code="YEARLY20").total.amount_minor == 16_000
    with pytest.raises(PromotionNotApplicable) as refused:
        quote(plan=monthly, customer=customer, promo_code="YEARLY20")

    assert "does not apply to this plan" in refusal(refused)


# Limits ------------------------------------------------------------------------------------------------


def test_a_code_is_used_up_after_its_total_redemptions(clock):
    make_promotion(code="FIRST2", max_redemptions=2)
    make_subscription(promo_code="first2")
    make_subscription(promo_code="FIRST2")

    with pytest.raises(PromotionNotApplicable) as refused:
        make_subscription(promo_code="FIRST2")

    assert "used up" in refusal(refused)
    assert promotion("FIRST2").redemptions_count == 2 == PromotionRedemption.objects.count()


def test_a_customer_may_use_a_code_only_as_often_as_allowed(clock):
    make_promotion(code="ONCE", max_per_customer=1)
    subscription = make_subscription(promo_code="ONCE")

    with pytest.raises(PromotionNotApplicable) as refused:
        renew(subscription, promo_code="ONCE")
    someone_else = make_subscription(promo_code="ONCE")

    assert "already used" in refusal(refused)
    assert renew(subscription).status == "succeeded"  # without the code, renewing is fine
    assert PromotionRedemption.objects.filter(customer=subscription.customer).count() == 1
    assert PromotionRedemption.objects.filter(customer=someone_else.customer).count() == 1
    assert promotion("ONCE").redemptions_count == 2


def test_a_failed_payment_gives_the_redemption_back(clock):
    make_promotion(code="ONCE", max_per_customer=1, max_redemptions=1)
    subscription = make_subscription()
    declined = make_card(customer=subscription.customer, number="4000000000000002")

    failed = renew(subscription, payment_method=declined, promo_code="ONCE")

    assert failed.status == "failed"
    assert promotion("ONCE").redemptions_count == 0
    assert not PromotionRedemption.objects.exists()
    # The customer can use the code again, and it counts now.
    paid = renew(subscription, promo_code="ONCE")
    assert (paid.status, paid.amount_minor) == ("succeeded", 2250)
    assert promotion("ONCE").redemptions_count == 1


def test_a_refused_code_charges_nothing_and_counts_nothing(clock):
    make_promotion(code="GONE", max_redemptions=0)
    subscription = make_subscription()
    attempts_before = PaymentAttempt.objects.count()

    with pytest.raises(PromotionNotApplicable):
        renew(subscription, promo_code="GONE")

    assert PaymentAttempt.objects.count() == attempts_before
    assert promotion("GONE").redemptions_count == 0


def interleaved_attempts(*customers, plan, code: str):
    """Each customer's quote is taken before anyone redeems, as when requests interleave."""
    from simrenew.kit.money import Money
    from simrenew.payments.charging import create_attempt

    quoted = []
    for index, customer in enumerate(customers):
        price = quote(plan=plan, customer=customer, promo_code=code)
        attempt = create_attempt(
            customer=customer,
            payment_method=make_card(customer=customer),
            purpose="renewal",
            amount=Money(price.total.amount_minor, "USD"),
            idempotency_key=f"interleaved-{index}",
            purpose_data={},
        )
        quoted.append((price, customer, attempt))
    return quoted


def test_the_total_limit_is_enforced_when_redeeming_not_only_when_quoting(clock):
    from simrenew.catalog.services import redeem

    make_promotion(code="LAST1", max_redemptions=1)
    (price_a, a, attempt_a), (price_b, b, attempt_b) = interleaved_attempts(
        make_customer(), make_customer(), plan=make_plan(), code="LAST1"
    )

    redeem(price_a, customer=a, attempt_id=attempt_a.pk)
    with pytest.raises(PromotionNotApplicable) as refused:
        redeem(price_b, customer=b, attempt_id=attempt_b.pk)

    assert "used up" in refusal(refused)
    assert promotion("LAST1").redemptions_count == 1
    assert list(PromotionRedemption.objects.values_list("customer_id", flat=True)) == [a.pk]


def test_the_per_customer_limit_is_enforced_when_redeeming_not_only_when_quoting(clock):
    from simrenew.catalog.services import redeem

    make_promotion(code="ONCE", max_per_customer=1)
    customer = make_customer()
    (price_1, _, attempt_1), (price_2, _, attempt_2) = interleaved_attempts(
        customer, customer, plan=make_plan(), code="ONCE"
    )

    redeem(price_1, customer=customer, attempt_id=attempt_1.pk)
    with pytest.raises(PromotionNotApplicable) as refused, transaction.atomic():
        redeem(price_2, customer=customer, attempt_id=attempt_2.pk)

    assert "already used" in refusal(refused)
    assert promotion("ONCE").redemptions_count == 1
    assert PromotionRedemption.objects.count() == 1
