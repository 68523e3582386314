"""A customer can never see or act on another customer's eSIM, subscription, payment,
receipt or payment method: every portal URL with an id answers 404 for someone else's id,
while the same URL with the customer's own id works (so the 404 is about ownership)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core import signing
from django.urls import reverse
from playwright.sync_api import Page

from simrenew.billing.models import Invoice
from simrenew.payments.models import PaymentAttempt, PaymentMethod
from simrenew.provisioning.messaging import get_messaging
from simrenew.subscriptions.models import Subscription
from tests.browser.conftest import Shots, log_in_as, make_verified_customer
from tests.factories import make_plan, make_subscription


@pytest.fixture
def viewport() -> str:
    return "phone"  # ownership does not depend on the screen: one viewport keeps CI quick


@dataclass(frozen=True)
class Holdings:
    """One customer's ids, for every kind of object a portal URL names."""

    subscription: Subscription
    esim_id: int
    attempt_id: int
    invoice_id: int
    method_id: int
    message_id: str

    @classmethod
    def of(cls, customer: Any) -> Holdings:
        subscription = make_subscription(customer=customer, plan=make_plan(carrier="att"))
        attempt = PaymentAttempt.objects.filter(subscription=subscription).latest("id")
        invoice = Invoice.objects.get(payment_attempt=attempt)
        sms = get_messaging().send_test_sms(subscription.esim.msisdn, "a connection check")
        return cls(
            subscription, subscription.esim_id, attempt.pk, invoice.pk, attempt.payment_method_id, sms.message_id
        )


def connection_token(esim_id: int, message_id: str) -> str:
    """What the connection-check action signs into the status page's URL."""
    from simrenew.portal.views_manage import CONNECTION_CHECK_SALT

    return signing.Signer(salt=CONNECTION_CHECK_SALT).sign_object([esim_id, message_id])


def pages_with_ids(held: Holdings) -> dict[str, str]:
    """Every GET page that takes an id, named by its URL name."""
    sub = held.subscription.pk
    return {
        "manage": reverse("portal:manage", args=[sub]),
        "cancel": reverse("portal:cancel", args=[sub]),
        "top_up": reverse("portal:top_up", args=[sub]),
        "usage": reverse("portal:usage", args=[sub]),
        "connection_status": reverse(
            "portal:connection_status", args=[sub, connection_token(held.esim_id, held.message_id)]
        ),
        "install": reverse("portal:install", args=[held.esim_id]),
        "renew": reverse("portal:renew", args=[sub]),
        "pay": reverse("portal:pay", args=[sub]) + f"?plan={held.subscription.plan_id}",
        "confirmation": reverse("portal:confirmation", args=[held.attempt_id]),
        "receipt": reverse("portal:receipt", args=[held.invoice_id]),
        "receipt_pdf": reverse("portal:receipt_pdf", args=[held.invoice_id]),
    }


def actions_with_ids(held: Holdings) -> dict[str, tuple[str, dict[str, str | float | bool]]]:
    """Every POST action that takes an id, with a form that would be valid for its owner."""
    sub = held.subscription.pk
    return {
        "auto_renew": (reverse("portal:auto_renew", args=[sub]), {"auto_renew": "off"}),
        "cancel": (reverse("portal:cancel", args=[sub]), {"when": "now"}),
        "resume": (reverse("portal:resume", args=[sub]), {}),
        "retry_refund": (reverse("portal:retry_refund", args=[sub]), {"refund": "1"}),
        "renewal_plan": (reverse("portal:renewal_plan", args=[sub]), {"plan": str(held.subscription.plan_id)}),
        "connection_check": (reverse("portal:connection_check", args=[sub]), {}),
        "top_up": (reverse("portal:top_up", args=[sub]), {}),
        "pay": (reverse("portal:pay", args=[sub]), {"plan": str(held.subscription.plan_id)}),
        "payment_method_remove": (reverse("portal:payment_method_remove", args=[held.method_id]), {}),
        "payment_method_default": (reverse("portal:payment_method_default", args=[held.method_id]), {}),
    }


@pytest.mark.django_db(transaction=True)
def test_another_customers_ids_are_not_found(page: Page, shot: Shots, live_server: Any) -> None:
    me = make_verified_customer(email="me@example.com")
    mine = Holdings.of(me)
    theirs = Holdings.of(make_verified_customer(email="them@example.com", name="Someone Else"))
    log_in_as(page.context, me.user, live_server)

    for name, path in pages_with_ids(mine).items():
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, f"{name}: my own {path} answered {response.status}"

    for name, path in pages_with_ids(theirs).items():
        response = page.goto(path)
        assert response is not None
        assert response.status == 404, f"{name}: their {path} answered {response.status}"
    shot(page, "their-receipt-pdf-404")

    # A signed connection check of their eSIM, tried on my own subscription.
    their_check = connection_token(theirs.esim_id, theirs.message_id)
    response = page.goto(reverse("portal:connection_status", args=[mine.subscription.pk, their_check]))
    assert response is not None and response.status == 404

    page.goto("/dashboard/")  # a page with a form: the CSRF cookie is set
    csrf = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    for name, (path, form) in actions_with_ids(theirs).items():
        answer = page.request.post(path, form=form, headers={"X-CSRFToken": csrf}, max_redirects=0)
        assert answer.status == 404, f"{name}: POST to their {path} answered {answer.status}"

    # Nothing of theirs changed.
    theirs.subscription.refresh_from_db()
    assert theirs.subscription.auto_renew and theirs.subscription.cancelled_at is None
    assert PaymentMethod.objects.get(pk=theirs.method_id).removed_at is None
    assert PaymentAttempt.objects.filter(customer=theirs.subscription.customer).count() == 1


def test_every_portal_url_with_an_id_is_tried_above() -> None:
    """A new page or action that takes an id fails here until the test above tries it."""
    from django.urls import URLResolver, get_resolver

    portal = next(
        entry for entry in get_resolver().url_patterns if isinstance(entry, URLResolver) and entry.namespace == "portal"
    )
    with_ids = {entry.name for entry in portal.url_patterns if entry.pattern.converters}
    stand_in = Holdings(Subscription(pk=1, plan_id=1, esim_id=1), 1, 1, 1, 1, "sms_1")
    tried = set(pages_with_ids(stand_in)) | set(actions_with_ids(stand_in))
    assert with_ids, "no portal URL takes an id: the URLconf was not found"
    assert with_ids <= tried, f"not tried with another customer's ids: {sorted(with_ids - tried)}"
