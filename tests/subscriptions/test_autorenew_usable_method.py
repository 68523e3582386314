"""One rule for "auto-renew has a method that can pay the renewal price": the worker's method
chain (`autorenew.method_chain`) and the reminders' SQL (`autorenew.usable_method_q`) agree."""

from __future__ import annotations

import pytest

from simrenew.payments.models import PaymentMethod
from simrenew.payments.services import remove_payment_method
from simrenew.subscriptions.autorenew import method_chain, renewal_price, renewal_price_sql, usable_method_q
from simrenew.subscriptions.models import Subscription
from tests.factories import make_plan, make_subscription, make_wallet


def usable(subscription: Subscription) -> bool:
    return Subscription.objects.filter(usable_method_q(), pk=subscription.pk).exists()


def chain(subscription: Subscription) -> list[PaymentMethod]:
    subscription = Subscription.objects.select_related("plan", "customer", "payment_method").get(pk=subscription.pk)
    return method_chain(subscription, subscription.payment_method)


def on_own_wallet(balance_minor: int, *, price_minor: int = 2500) -> Subscription:
    subscription = make_subscription(plan=make_plan(period_unit="month", price_minor=price_minor))
    wallet = make_wallet(customer=subscription.customer, balance_minor=balance_minor)
    Subscription.objects.filter(pk=subscription.pk).update(payment_method=wallet)
    return Subscription.objects.get(pk=subscription.pk)


def test_the_subscriptions_own_wallet_counts_only_when_it_holds_the_renewal_price(clock):
    empty, short, enough = on_own_wallet(0), on_own_wallet(2499), on_own_wallet(2500)

    assert [usable(s) for s in (empty, short, enough)] == [False, False, True]
    assert chain(empty) == [] and chain(short) == []
    assert [m.type for m in chain(enough)] == ["wallet"]


def test_a_saved_card_counts_when_the_customer_lets_auto_renew_fall_back_on_it(clock):
    subscription = on_own_wallet(0)
    subscription.customer.renew_with_other_methods = True
    subscription.customer.save(update_fields=["renew_with_other_methods"])

    assert usable(subscription)
    assert [m.type for m in chain(subscription)] == ["card"]


def test_without_its_own_method_the_customers_default_card_is_used(clock):
    subscription = make_subscription(plan=make_plan(period_unit="month"))
    card = subscription.payment_method
    assert card is not None and card.is_default
    Subscription.objects.filter(pk=subscription.pk).update(payment_method=None)

    assert usable(subscription)
    remove_payment_method(card)
    assert not usable(subscription)


@pytest.mark.parametrize("price_minor", [0, 1, 300, 2500, 34900])
def test_the_sql_renewal_price_is_what_auto_renew_charges(clock, price_minor):
    subscription = make_subscription(plan=make_plan(period_unit="month", price_minor=max(price_minor, 1)))
    plan = subscription.plan
    plan.price_minor = price_minor  # a price the factory would not sell, read back through SQL
    type(plan).objects.filter(pk=plan.pk).update(price_minor=price_minor)

    in_sql = Subscription.objects.filter(pk=subscription.pk).values_list(renewal_price_sql(), flat=True).get()

    assert in_sql == renewal_price(price_minor=price_minor, currency=plan.currency).total.amount_minor
