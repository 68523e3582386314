"""Add a PayPal account from the portal: to PayPal's page and back (the local PayPal's approval page,
over real HTTP), the account kept and chosen where the customer came from; someone else's approval
is never kept; cancelling at PayPal keeps nothing; without PayPal configured the sandbox's page
plays PayPal's part."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from simrenew.payments.models import PaymentMethod
from tests.factories import make_customer
from tests.payments.local_paypal import local_paypal
from tests.payments.paypal_server import PayPalServer

__all__ = ["local_paypal"]


@pytest.fixture
def signed_in(db, settings) -> tuple[Client, object]:
    settings.SIMRENEW_PUBLIC_URL = "http://testserver"
    customer = make_customer()
    client = Client()
    client.force_login(customer.user, backend="django.contrib.auth.backends.ModelBackend")
    return client, customer


def approve_at_paypal(approve_url: str, email: str = "buyer@example.com") -> str:
    """The buyer on PayPal's page: log in and agree. Where PayPal sends the browser back."""
    page = httpx.get(approve_url)
    assert page.status_code == 200 and "<form" in page.text
    action = re.search(r'<form[^>]+action="([^"]+)"', page.text)
    assert action is not None
    answer = httpx.post(httpx.URL(approve_url).join(action.group(1)), data={"email": email})
    assert answer.status_code in (302, 303), answer.text[:500]
    return answer.headers["Location"]


def test_a_paypal_account_is_linked_through_paypals_page_and_chosen(clock, signed_in, local_paypal: PayPalServer):
    client, customer = signed_in
    start = client.get(reverse("portal:paypal_link"), {"next": "/payment-methods/"})
    assert start.status_code == 302 and start["Location"].startswith(local_paypal.url)

    back = approve_at_paypal(start["Location"], email="noor.buyer@example.com")
    assert back.startswith("http://testserver/payment-methods/paypal/linked/")
    linked = client.get(back.removeprefix("http://testserver"))

    method = PaymentMethod.objects.get(customer=customer)
    assert (method.type, method.gateway, method.paypal_email) == ("paypal", "paypal", "noor.buyer@example.com")
    assert linked.status_code == 302
    assert urlsplit(linked["Location"]).path == "/payment-methods/"
    assert parse_qs(urlsplit(linked["Location"]).query)["method"] == [str(method.pk)]


def test_someone_elses_approval_is_never_kept(clock, signed_in, local_paypal: PayPalServer):
    client, customer = signed_in
    stranger = Client()
    stranger.force_login(make_customer().user, backend="django.contrib.auth.backends.ModelBackend")
    start = stranger.get(reverse("portal:paypal_link"), {"next": "/payment-methods/"})
    back = approve_at_paypal(start["Location"])

    taken = client.get(back.removeprefix("http://testserver"))  # the link lands in my browser

    assert taken.status_code == 302
    assert not PaymentMethod.objects.filter(customer=customer).exists()


def test_cancelling_at_paypal_keeps_nothing(clock, signed_in, local_paypal: PayPalServer):
    client, customer = signed_in
    cancelled = client.get(reverse("portal:paypal_cancelled"), {"next": "/payment-methods/"}, follow=True)

    assert "PayPal was not linked" in cancelled.content.decode()
    assert not PaymentMethod.objects.filter(customer=customer).exists()


def test_in_the_sandbox_the_sandboxs_page_links_paypal(clock, signed_in):
    client, _customer = signed_in
    start = client.get(reverse("portal:paypal_link"), {"next": "/payment-methods/"})
    assert start["Location"].startswith(reverse("portal:sandbox_gateway_card") + "?type=paypal")
