"""The console's customer page and its actions, per staff role: refund (finance, admin),
extend a period (support, admin), resend a message (support, admin). Each action asks
for a reason, is audited with before/after, and is refused (403, nothing changed) for
roles without it; bad input is told and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from simrenew.audit.models import AuditEntry
from simrenew.billing.models import Invoice, Refund
from simrenew.notifications.models import Delivery, OutboxMessage
from simrenew.payments.models import Wallet
from simrenew.subscriptions.models import Subscription
from tests.customers.console_helpers import staff_client
from tests.factories import make_subscription
from tests.notifications.helpers import run_worker

pytestmark = pytest.mark.django_db


def page(client: Client, subscription: Subscription) -> str:
    response = client.get(f"/admin/customers/customer/{subscription.customer_id}/change/")
    assert response.status_code == 200
    return response.content.decode()


def buttons(html: str) -> set[str]:
    return {label for label in ("Refund", "Extend period", "Resend") if f">{label}</a>" in html}


@pytest.fixture
def story(clock):  # type: ignore[no-untyped-def]
    subscription = make_subscription()
    run_worker()  # the receipt goes out by email
    return subscription


def test_the_page_shows_everything_and_each_role_its_buttons(story):
    invoice = Invoice.objects.get()
    esim = story.esim

    html = page(staff_client("admin"), story)
    for shown in (esim.iccid, esim.msisdn, "AT&amp;T", invoice.number, "$25.00", "subscription.created", "sent"):
        assert shown in html
    assert "-05:00" in html  # times in the customer's zone, with the offset
    assert buttons(html) == {"Refund", "Extend period", "Resend"}
    assert buttons(page(staff_client("support"), story)) == {"Extend period", "Resend"}
    assert buttons(page(staff_client("finance"), story)) == {"Refund"}


def test_finance_refunds_part_of_a_payment(story):
    invoice = Invoice.objects.get()
    url = f"/admin/billing/invoice/{invoice.pk}/refund/"
    finance = staff_client("finance")
    assert finance.get(url).status_code == 200

    response = finance.post(url, {"amount": "10.00", "reason": "Customer was double billed"}, follow=True)

    assert "Refunded $10.00" in response.content.decode()
    invoice.refresh_from_db()
    assert (invoice.refunded_minor, invoice.status) == (1000, "partially_refunded")
    entry = AuditEntry.objects.get(action="refund")
    assert entry.reason == "Customer was double billed" and entry.customer_id == story.customer_id
    # Recorded when asked for; the card refund is then settled by the gateway (pending → succeeded).
    assert (entry.before["refunded_minor"], entry.after["refund_amount_minor"]) == (0, 1000)
    assert entry.after["refund_status"] == "pending" and not entry.after["to_wallet"]
    assert "Customer was double billed" in page(finance, story)  # in the audit trail on the page


def test_refund_to_the_wallet(story):
    invoice = Invoice.objects.get()
    staff_client("admin").post(
        f"/admin/billing/invoice/{invoice.pk}/refund/", {"amount": "25", "to_wallet": "on", "reason": "Goodwill"}
    )
    assert Wallet.objects.get(customer=story.customer).balance_minor == 2500
    invoice.refresh_from_db()
    assert invoice.status == "refunded"


def test_over_refund_and_already_refunded_are_told_and_change_nothing(story):
    invoice = Invoice.objects.get()
    url = f"/admin/billing/invoice/{invoice.pk}/refund/"
    finance = staff_client("finance")

    response = finance.post(url, {"amount": "30.00", "reason": "Too much"})
    assert response.status_code == 400 and "At most 2500 can still be refunded" in response.content.decode()
    response = finance.post(url, {"amount": "5", "reason": ""})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert not Refund.objects.exists() and not AuditEntry.objects.exists()

    finance.post(url, {"amount": "25.00", "reason": "Full refund"})
    response = finance.post(url, {"amount": "1.00", "reason": "Again"})
    assert response.status_code == 400 and "already refunded in full" in response.content.decode()
    assert Refund.objects.count() == 1 and AuditEntry.objects.count() == 1


def test_support_cannot_refund(story):
    invoice = Invoice.objects.get()
    support = staff_client("support")
    url = f"/admin/billing/invoice/{invoice.pk}/refund/"
    assert support.get(url).status_code == 403
    assert support.post(url, {"amount": "25.00", "reason": "Nice"}).status_code == 403
    assert not Refund.objects.exists() and not AuditEntry.objects.exists()


def test_support_extends_a_period_finance_cannot(story):
    url = f"/admin/subscriptions/subscription/{story.pk}/extend/"
    old_end = story.paid_through
    assert old_end is not None

    assert staff_client("finance").post(url, {"days": "3", "reason": "Outage"}).status_code == 403
    assert Subscription.objects.get(pk=story.pk).paid_through == old_end

    support = staff_client("support")
    response = support.post(url, {"days": "40", "reason": "Outage"})
    assert response.status_code == 400 and "less than or equal to 31" in response.content.decode()
    response = support.post(url, {"days": "3", "reason": "Outage in Ohio"}, follow=True)
    assert "(+3 day(s), no charge)" in response.content.decode()
    assert Subscription.objects.get(pk=story.pk).paid_through == old_end + timedelta(days=3)
    html = page(support, story)
    assert "+3 d goodwill by support" in html and "Outage in Ohio" in html
    assert AuditEntry.objects.get().action == "goodwill"


def test_support_resends_a_message_finance_cannot(story):
    message = OutboxMessage.objects.get(event_type="subscription.created")
    delivery = Delivery.objects.get(message=message)
    url = f"/admin/notifications/outboxmessage/{message.pk}/resend/"

    assert staff_client("finance").post(url, {"deliveries": [delivery.pk], "reason": "Lost"}).status_code == 403
    assert Delivery.objects.get(pk=delivery.pk).status == "sent"

    support = staff_client("support")
    response = support.post(url, {"deliveries": [delivery.pk], "reason": ""})
    assert response.status_code == 400 and Delivery.objects.get(pk=delivery.pk).status == "sent"
    response = support.post(url, {"deliveries": [delivery.pk], "reason": "Customer deleted the receipt"}, follow=True)
    assert "will be sent again now" in response.content.decode()
    assert Delivery.objects.get(pk=delivery.pk).status == "pending"
    entry = AuditEntry.objects.get(action="resend")
    assert (entry.before["status"], entry.after["status"]) == ("sent", "pending")
    assert entry.after["event_id"] == str(message.event_id)
    assert run_worker().sent == 1
