"""A disputed card payment, end to end with the local Stripe: the cardholder disputes at their bank,
Stripe's signed `charge.dispute.created` reaches us, the operator is told and the console's customer
page shows it with Stripe's reason and deadline; finance sends evidence from the console (to
Stripe's API, audited); Stripe closes the dispute and the outcome is recorded. The period stays
paid throughout."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.urls import reverse

from simrenew.audit.models import AuditEntry
from simrenew.console.roles import Role
from simrenew.payments.models import Dispute, DisputeStatus, PaymentAttempt
from tests.customers.console_helpers import staff_client
from tests.factories import make_customer, make_subscription
from tests.payments.local_stripe import local_stripe, save_stripe_card
from tests.payments.stripe_server import StripeServer

__all__ = ["local_stripe"]

pytestmark = pytest.mark.django_db(transaction=True)  # the live server takes Stripe's events in its thread


@pytest.fixture
def stripe_sends_to_us(local_stripe: StripeServer, live_server: Any, settings: Any) -> StripeServer:
    local_stripe.webhook_url = live_server.url + "/webhooks/stripe"
    settings.SIMRENEW_OPERATOR_EMAIL = ["ops@example.com"]
    settings.SIMRENEW_PUBLIC_URL = live_server.url
    return local_stripe


def test_a_dispute_is_recorded_answered_with_evidence_and_closed(clock, stripe_sends_to_us: StripeServer):
    customer = make_customer(email="dana@example.com")
    subscription = make_subscription(customer=customer, payment_method=save_stripe_card(customer, stripe_sends_to_us))
    paid = PaymentAttempt.objects.get(subscription=subscription, purpose="first_period")
    stripe_sends_to_us.send_events()
    mail.outbox.clear()

    opened = stripe_sends_to_us.open_dispute(paid.gateway_charge_id, reason="fraudulent", due_in_days=7)
    assert stripe_sends_to_us.send_events() == [200]

    dispute = Dispute.objects.get(external_id=opened["id"])
    assert (dispute.attempt_id, dispute.gateway, dispute.reason, dispute.status) == (
        paid.pk,
        "stripe",
        "fraudulent",
        DisputeStatus.OPEN,
    )
    assert (dispute.amount_minor, dispute.currency) == (paid.amount_minor, "USD")
    assert int(dispute.due_by.timestamp()) == opened["evidence_details"]["due_by"]
    [told] = mail.outbox
    assert told.to == ["ops@example.com"] and "fraudulent" in told.subject and "Evidence is due by" in told.body

    finance = staff_client(Role.FINANCE)
    page = finance.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    assert "Disputed payments" in page and "fraudulent" in page and "Send evidence" in page
    evidence_url = reverse("admin:payments_dispute_evidence", args=[dispute.pk])
    refused = finance.post(evidence_url, {"evidence_note": "   "})
    assert refused.status_code == 400  # nothing to send: nothing changes
    sent = finance.post(evidence_url, {"evidence_note": "Plan AT&T 1 month used from Jan 15; eSIM installed."})

    assert sent.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.UNDER_REVIEW and dispute.evidence_sent_at is not None
    at_stripe = stripe_sends_to_us.disputes[opened["id"]]
    assert at_stripe["evidence"]["uncategorized_text"].startswith("Plan AT&T 1 month")
    assert at_stripe["status"] == "under_review"
    assert AuditEntry.objects.filter(action="dispute_evidence", target_id=str(dispute.pk)).exists()

    stripe_sends_to_us.close_dispute(opened["id"], "won")
    stripe_sends_to_us.send_events()

    dispute.refresh_from_db()
    assert (dispute.status, dispute.outcome) == (DisputeStatus.WON, "won")
    assert subscription.periods.count() == 1  # the period stays paid


def test_support_cannot_answer_a_dispute(clock, stripe_sends_to_us: StripeServer):
    customer = make_customer()
    subscription = make_subscription(customer=customer, payment_method=save_stripe_card(customer, stripe_sends_to_us))
    paid = PaymentAttempt.objects.get(subscription=subscription, purpose="first_period")
    opened = stripe_sends_to_us.open_dispute(paid.gateway_charge_id)
    stripe_sends_to_us.send_events()
    dispute = Dispute.objects.get(external_id=opened["id"])

    support = staff_client(Role.SUPPORT)
    page = support.get(reverse("admin:customers_customer_change", args=[customer.pk])).content.decode()
    answer = support.post(reverse("admin:payments_dispute_evidence", args=[dispute.pk]), {"evidence_note": "x"})

    assert "Disputed payments" in page and "Send evidence" not in page
    assert answer.status_code == 403
    assert Dispute.objects.get(pk=dispute.pk).evidence_note == ""


def test_a_dispute_of_a_payment_not_ours_is_taken_and_ignored(clock, stripe_sends_to_us: StripeServer):
    event = stripe_sends_to_us.emit(
        "charge.dispute.created",
        {"id": "dp_elsewhere", "object": "dispute", "payment_intent": "pi_elsewhere", "amount": 100, "currency": "usd"},
        deliver=False,
    )
    assert stripe_sends_to_us.deliver(event) == 200
    assert not Dispute.objects.exists()
