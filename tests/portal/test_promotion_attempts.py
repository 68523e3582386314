"""Promotion codes cannot be guessed by trying many: after 10 codes that did not apply in an
hour (per customer), or 30 from one IP address, a code is refused without being looked up."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from simrenew.catalog import services as catalog_services
from simrenew.payments.models import PaymentAttempt
from tests.factories import make_customer, make_plan, make_promotion, make_subscription
from tests.portal.test_renewal import pay_form_key

TOO_MANY = "Too many promotion codes that did not apply were tried. Try again in an hour."


@pytest.fixture
def subscription(clock):
    make_promotion(code="SPRING20", percent_off=20)
    plan = make_plan(carrier="att", period_unit="month", price_minor=2500, name="AT&T Monthly 10 GB")
    return make_subscription(customer=make_customer(), plan=plan)


def signed_in(customer, ip: str = "198.51.100.7") -> Client:
    client = Client(REMOTE_ADDR=ip)
    client.force_login(customer.user)
    return client


def try_code(client: Client, subscription, code: str) -> str:
    url = reverse("portal:renew", args=[subscription.pk])
    response = client.get(url, {"plan": subscription.plan_id, "promo_code": code})
    assert response.status_code == 200
    return response.content.decode()


def test_after_ten_wrong_codes_even_a_good_one_is_refused_unread_for_an_hour(subscription, clock, monkeypatch):
    client = signed_in(subscription.customer)
    for number in range(10):
        assert "There is no promotion with the code" in try_code(client, subscription, f"GUESS{number}")
    looked_up = []
    real_find = catalog_services.find_promotion
    monkeypatch.setattr(catalog_services, "find_promotion", lambda code: looked_up.append(code) or real_find(code))

    page = try_code(client, subscription, "SPRING20")

    assert TOO_MANY in page and "$25.00" in page and "$20.00" not in page
    assert looked_up == []
    clock.advance(hours=1)
    assert "$20.00" in try_code(client, subscription, "SPRING20")


def test_the_refusal_is_in_the_customers_language(clock):
    plan = make_plan(carrier="att", period_unit="month", price_minor=2500)
    subscription = make_subscription(customer=make_customer(locale="zh-hans"), plan=plan)
    client = signed_in(subscription.customer)
    for number in range(10):
        try_code(client, subscription, f"GUESS{number}")

    page = try_code(client, subscription, "GUESS10")

    assert "尝试了太多无效的优惠码。请一小时后再试。" in page and TOO_MANY not in page


def test_thirty_wrong_codes_from_one_address_stop_every_account_there(clock):
    plan = make_plan(carrier="att", period_unit="month", price_minor=2500)
    make_promotion(code="SPRING20", percent_off=20)
    accounts = [make_subscription(customer=make_customer(), plan=plan) for _ in range(4)]
    for first, subscription in enumerate(accounts[:3]):
        client = signed_in(subscription.customer)
        for number in range(10):
            try_code(client, subscription, f"GUESS{first}-{number}")

    fourth = accounts[3]
    assert TOO_MANY in try_code(signed_in(fourth.customer), fourth, "SPRING20")
    assert "$20.00" in try_code(signed_in(fourth.customer, ip="203.0.113.9"), fourth, "SPRING20")


def test_paying_with_a_code_once_over_the_limit_charges_nothing(subscription):
    client = signed_in(subscription.customer)
    pay_url = reverse("portal:pay", args=[subscription.pk])
    pay_page = client.get(pay_url, {"plan": subscription.plan_id, "promo_code": "SPRING20"})
    assert pay_page.status_code == 200
    for number in range(10):
        try_code(client, subscription, f"GUESS{number}")
    attempts = PaymentAttempt.objects.count()

    response = client.post(
        pay_url,
        {
            "plan": subscription.plan_id,
            "promo_code": "SPRING20",
            "payment_method": str(subscription.payment_method_id),
            "idempotency_key": pay_form_key(pay_page),
        },
    )

    assert response.status_code == 200 and TOO_MANY in response.content.decode()
    assert PaymentAttempt.objects.count() == attempts
    # The pay page's link, too, goes back to the choice, which says why.
    refused = client.get(pay_url, {"plan": subscription.plan_id, "promo_code": "SPRING20"})
    assert refused.status_code == 302 and reverse("portal:renew", args=[subscription.pk]) in refused["Location"]


def test_behind_a_proxy_each_customer_is_counted_at_their_own_address_not_the_proxys(clock, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # SIMRENEW_BEHIND_TLS_PROXY=1: the load balancer appends one address
    plan = make_plan(carrier="att", period_unit="month", price_minor=2500)
    make_promotion(code="SPRING20", percent_off=20)
    accounts = [make_subscription(customer=make_customer(), plan=plan) for _ in range(4)]

    def through_the_proxy(customer, address: str) -> Client:
        client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=address)
        client.force_login(customer.user)
        return client

    for first, subscription in enumerate(accounts[:3]):
        client = through_the_proxy(subscription.customer, "198.51.100.7")
        for number in range(10):
            try_code(client, subscription, f"GUESS{first}-{number}")

    fourth = accounts[3]
    assert TOO_MANY in try_code(through_the_proxy(fourth.customer, "198.51.100.7"), fourth, "SPRING20")
    assert "$20.00" in try_code(through_the_proxy(fourth.customer, "203.0.113.9"), fourth, "SPRING20")
