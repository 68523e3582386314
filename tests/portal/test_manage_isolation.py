"""Another customer's ids answer 404 on every page of manage, add/install, usage and connection check."""

from __future__ import annotations

import pytest
from django.urls import reverse

from simrenew.subscriptions.models import Subscription
from tests.factories import make_customer, make_subscription, make_top_up_pack

pytestmark = pytest.mark.django_db

GET_PAGES = ["portal:manage", "portal:cancel", "portal:top_up", "portal:usage"]
POST_ACTIONS = {
    "portal:auto_renew": {"auto_renew": "off"},
    "portal:cancel": {"when": "now"},
    "portal:resume": {},
    "portal:top_up": {"pack": "1", "payment_method": "1", "key": "4f1d2c3b-0000-4000-8000-000000000000"},
    "portal:connection_check": {},
}


@pytest.fixture
def setting(client, clock):
    me = make_customer()
    mine = make_subscription(customer=me)
    theirs = make_subscription(customer=make_customer())
    make_top_up_pack()
    client.force_login(me.user)
    return client, mine, theirs


@pytest.mark.parametrize("name", GET_PAGES)
def test_pages_of_another_customers_subscription_are_404(setting, name):
    client, mine, theirs = setting
    assert client.get(reverse(name, args=[mine.pk])).status_code == 200
    assert client.get(reverse(name, args=[theirs.pk])).status_code == 404


@pytest.mark.parametrize("name", sorted(POST_ACTIONS))
def test_actions_on_another_customers_subscription_are_404_and_change_nothing(setting, name):
    client, _, theirs = setting
    before = Subscription.objects.values().get(pk=theirs.pk)

    assert client.post(reverse(name, args=[theirs.pk]), POST_ACTIONS[name]).status_code == 404

    assert Subscription.objects.values().get(pk=theirs.pk) == before


def test_another_customers_esim_install_page_is_404(setting):
    client, mine, theirs = setting
    assert client.get(reverse("portal:install", args=[mine.esim_id])).status_code == 200
    assert client.get(reverse("portal:install", args=[theirs.esim_id])).status_code == 404


def test_another_customers_connection_check_status_is_404(setting):
    client, mine, theirs = setting
    sent = client.post(reverse("portal:connection_check", args=[mine.pk]))
    token = sent["Location"].rstrip("/").rsplit("/", 1)[1]
    assert client.get(sent["Location"]).status_code == 200
    assert client.get(reverse("portal:connection_status", args=[theirs.pk, token])).status_code == 404
