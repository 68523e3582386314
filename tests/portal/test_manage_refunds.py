"""After cancelling now, the manage page lists what goes back, where and how it stands; a refund the
payment provider refused can be asked for again from there ("Try the refund again"): once per
tap, only by its owner, never paid back twice."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from simrenew.billing.models import Refund
from simrenew.payments.models import SandboxRefund
from simrenew.subscriptions.models import Subscription
from tests.billing.refund_gateway import WatchedRefunds
from tests.factories import make_customer
from tests.portal import test_cancel_refund as cancel_page

pytestmark = pytest.mark.django_db

# The cancel page's fixtures: a $25 month running and a $349 year paid ahead, 10 days into the month.
customer, subscription, signed_in = cancel_page.customer, cancel_page.subscription, cancel_page.signed_in


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> WatchedRefunds:
    return WatchedRefunds(monkeypatch)


def cancel_now(client: Client, subscription: Subscription) -> None:
    answer = client.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "now"})
    assert answer.status_code == 302


def manage_page(client: Client, subscription: Subscription) -> str:
    answer = client.get(reverse("portal:manage", args=[subscription.pk]))
    assert answer.status_code == 200
    return answer.content.decode()


def try_again(client: Client, subscription: Subscription, refund_id: int | str) -> str:
    answer = client.post(reverse("portal:retry_refund", args=[subscription.pk]), {"refund": refund_id}, follow=True)
    assert answer.status_code == 200
    return answer.content.decode()


def test_a_live_plan_lists_no_refunds(signed_in, subscription):
    assert "Refunds" not in manage_page(signed_in, subscription)


def test_after_cancelling_now_the_refund_is_listed_with_its_amount_way_and_status(signed_in, subscription, provider):
    cancel_now(signed_in, subscription)

    page = manage_page(signed_in, subscription)

    assert '<h2 id="refunds-heading">Refunds</h2>' in page
    assert "<strong>$349.00</strong> to your Visa card ending 4242" in page
    assert "Refunded." in page
    assert "Try the refund again" not in page


def test_a_refused_refund_is_said_and_can_be_asked_for_again_until_it_goes_through(signed_in, subscription, provider):
    provider.refusing = True
    cancel_now(signed_in, subscription)
    [refused] = Refund.objects.all()

    page = manage_page(signed_in, subscription)
    assert "Refused by the payment provider: nothing was paid back." in page
    assert f'name="refund" value="{refused.pk}"' in page and "Try the refund again" in page

    page = try_again(signed_in, subscription, refused.pk)  # still refusing

    assert "The payment provider refused the refund again, so nothing was paid back." in page
    [_, refused_again] = Refund.objects.order_by("id")
    assert refused_again.idempotency_key == f"{refused.idempotency_key}_2"
    assert f'name="refund" value="{refused_again.pk}"' in page  # the button now asks for the latest try
    assert f'name="refund" value="{refused.pk}"' not in page

    provider.refusing = False
    page = try_again(signed_in, subscription, refused_again.pk)

    assert "We asked for the refund again, and it went through." in page
    assert "Try the refund again" not in page and "Refunded." in page
    assert page.count("<strong>$349.00</strong>") == 1  # the refused tries give way to the one that paid
    [paid_back] = SandboxRefund.objects.all()
    assert (paid_back.amount_minor, paid_back.idempotency_key) == (34900, f"{refused.idempotency_key}_3")


def test_a_second_tap_on_the_same_button_asks_nothing_more(signed_in, subscription, provider):
    provider.refusing = True
    cancel_now(signed_in, subscription)
    [refused] = Refund.objects.all()
    provider.refusing = False
    try_again(signed_in, subscription, refused.pk)

    page = try_again(signed_in, subscription, refused.pk)  # the same form again: a double tap

    assert "This refund has already been asked for again. Its status is below." in page
    assert Refund.objects.count() == 2 and SandboxRefund.objects.count() == 1


def test_only_the_owner_may_ask_again_and_only_by_a_form_of_this_site(subscription, provider, client):
    provider.refusing = True
    owner = Client()
    owner.force_login(subscription.customer.user)
    cancel_now(owner, subscription)
    [refused] = Refund.objects.all()
    provider.refusing = False
    url = reverse("portal:retry_refund", args=[subscription.pk])

    client.force_login(make_customer().user)
    assert client.post(url, {"refund": refused.pk}).status_code == 404  # another customer's plan
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(subscription.customer.user)
    assert forged.post(url, {"refund": refused.pk}).status_code == 403  # no CSRF token
    assert owner.get(url).status_code == 405

    assert Refund.objects.count() == 1 and not SandboxRefund.objects.exists()


def test_a_refund_id_that_is_not_a_refused_one_of_this_plan_changes_nothing(signed_in, subscription, provider):
    cancel_now(signed_in, subscription)  # paid back at once

    for sent in ("", "abc", str(Refund.objects.get().pk), "999999"):
        page = try_again(signed_in, subscription, sent)
        assert "This refund has already been asked for again." in page

    assert Refund.objects.count() == 1 and SandboxRefund.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_payment_provider_is_asked_only_after_each_step_has_committed(subscription, provider, client):
    """Cancelling now and asking again each commit their refund's first step, then ask the gateway
    with no transaction open (no row stays locked while the provider takes its time)."""
    client.force_login(subscription.customer.user)
    provider.refusing = True
    cancel_now(client, subscription)
    provider.refusing = False

    try_again(client, subscription, Refund.objects.get().pk)

    assert provider.inside_transaction == [False, False]
    assert SandboxRefund.objects.count() == 1
