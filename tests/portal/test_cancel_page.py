"""The cancel page's heading names the eSIM once: its plan (which says the carrier) and number."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_customer, make_plan, make_subscription

pytestmark = pytest.mark.django_db


def heading(customer, subscription) -> str:
    client = Client()
    client.force_login(customer.user)
    html = client.get(reverse("portal:cancel", args=[subscription.pk]) + "?when=now").content.decode()
    match = re.search(r"<h2>(.*?)</h2>", html, re.S)
    assert match
    return re.sub(r"<[^>]+>", "", match.group(1))


@pytest.mark.parametrize(
    ("locale", "plan_name"),
    [("en", "AT&amp;T 1 month · 20\u00a0GB"), ("zh-hans", "AT&amp;T 1\u00a0个\u2060月 · 20\u00a0GB")],
)
def test_the_carrier_is_said_once(clock, locale, plan_name):
    customer = make_customer(locale=locale)
    subscription = make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month", data_mb=20_480))

    shown = heading(customer, subscription)

    assert shown == f"{plan_name} · {subscription.esim.msisdn}"
    assert shown.count("AT&amp;T") == 1


def test_a_plan_whose_name_leaves_the_carrier_out_is_headed_by_the_carrier(clock):
    customer = make_customer()
    subscription = make_subscription(customer=customer, plan=make_plan(name="Everyday 1 month", data_mb=20_480))

    assert heading(customer, subscription).startswith("AT&amp;T · Everyday 1 month")
