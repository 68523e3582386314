"""Receipts (HTML and PDF), and no page that takes an id shows another customer's things."""

from __future__ import annotations

import base64
import re
import uuid
import zlib

import pytest
from django.test import Client
from django.urls import reverse

from simrenew.billing.models import Invoice
from simrenew.payments.models import PaymentAttempt
from tests.factories import make_card, make_customer, make_plan, make_promotion, make_subscription, renew


def signed_in(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def test_the_receipt_shows_the_invoice(clock):
    make_promotion(code="TEN", percent_off=10)
    subscription = make_subscription()
    attempt = renew(subscription, promo_code="TEN")
    invoice = Invoice.objects.get(payment_attempt=attempt)
    page = signed_in(subscription.customer).get(reverse("portal:receipt", args=[invoice.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert invoice.number in html
    assert subscription.plan.name.replace("&", "&amp;") in html
    assert "$25.00" in html and "$2.50" in html and "$22.50" in html
    assert "Visa card ending 4242" in html
    assert "Ada Lovelace" in html and subscription.customer.email in html
    assert subscription.esim.msisdn in html
    assert "Feb 15, 2026, 7:00\u202fAM" in html  # the period bought, in the customer's zone


def test_the_receipt_of_a_day_bought_on_top_of_a_month_names_the_day_while_the_month_runs(clock):
    # Written from the invoice's own line, not from what the subscription holds now.
    subscription = make_subscription(plan=make_plan(period_unit="month", name="AT&T 1 month · 20 GB"))
    day = make_plan(period_unit="day", data_mb=1024, price_minor=300, name="AT&T 1 day · 1 GB")
    invoice = Invoice.objects.get(payment_attempt=renew(subscription, plan=day))
    clock.advance(days=3)  # the month runs; the day comes after it

    html = signed_in(subscription.customer).get(reverse("portal:receipt", args=[invoice.pk])).content.decode()

    assert "AT&amp;T 1 day · 1 GB" in html and "1 month" not in html
    assert "$3.00" in html
    assert "Feb 15, 2026, 7:00\u202fAM" in html and "Feb 16, 2026, 7:00\u202fAM" in html


def pdf_text(pdf: bytes) -> str:
    """The page content streams of a ReportLab PDF (ASCII85 + Flate), as text."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data if data.startswith(b"<~") else b"<~" + data, adobe=True)
        try:
            chunks.append(zlib.decompress(data).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(chunks)


def test_the_receipt_as_pdf(clock):
    subscription = make_subscription()
    invoice = Invoice.objects.get(customer=subscription.customer)
    response = signed_in(subscription.customer).get(reverse("portal:receipt_pdf", args=[invoice.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert f"receipt-{invoice.number}.pdf" in response["Content-Disposition"]
    text = pdf_text(response.content)
    assert f"(Receipt {invoice.number})" in text
    assert "($25.00)" in text and "(Visa card ending 4242)" in text
    assert "(Jan 15, 2026, 7:00 AM \\226 Feb 15, 2026, 7:00 AM)" in text  # no fallback glyphs


def test_the_receipt_pdf_in_chinese(clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    make_subscription(customer=customer)
    invoice = Invoice.objects.get(customer=customer)
    response = signed_in(customer).get(reverse("portal:receipt_pdf", args=[invoice.pk]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")


def test_another_customers_ids_are_not_found_on_every_page_that_takes_one(clock):
    theirs = make_subscription()
    their_attempt = PaymentAttempt.objects.get(customer=theirs.customer)
    their_invoice = Invoice.objects.get(customer=theirs.customer)
    their_method = theirs.payment_method
    me = make_customer()
    mine = make_subscription(customer=me)
    make_card(customer=me)
    client = signed_in(me)

    for name, args in (
        ("portal:renew", [theirs.pk]),
        ("portal:pay", [theirs.pk]),
        ("portal:confirmation", [their_attempt.pk]),
        ("portal:receipt", [their_invoice.pk]),
        ("portal:receipt_pdf", [their_invoice.pk]),
    ):
        assert client.get(reverse(name, args=args), {"plan": theirs.plan_id}).status_code == 404, name
    pay = client.post(
        reverse("portal:pay", args=[theirs.pk]),
        {"plan": theirs.plan_id, "payment_method": "wallet", "idempotency_key": str(uuid.uuid4())},
    )
    assert pay.status_code == 404
    for name in ("portal:payment_method_remove", "portal:payment_method_default"):
        assert client.post(reverse(name, args=[their_method.pk])).status_code == 404, name
    # Someone else's saved card cannot be chosen to pay for my own renewal either.
    response = client.post(
        reverse("portal:pay", args=[mine.pk]),
        {"plan": mine.plan_id, "payment_method": str(their_method.pk), "idempotency_key": str(uuid.uuid4())},
    )
    assert response.status_code == 200 and "Select a valid choice." in response.content.decode()
    their_method.refresh_from_db()
    assert their_method.removed_at is None and their_method.is_default
    assert not PaymentAttempt.objects.filter(customer=me, purpose="renewal").exists()
    # And ids that exist for nobody are the same 404.
    for name in ("portal:renew", "portal:confirmation", "portal:receipt", "portal:receipt_pdf"):
        assert client.get(reverse(name, args=[999_999])).status_code == 404


@pytest.mark.parametrize("path", ["/payments/abc/", "/receipts/-1/", "/subscriptions/x/renew/", "/payments/?page=zz"])
def test_malformed_ids_never_500(clock, path):
    customer = make_customer()
    assert signed_in(customer).get(path).status_code in (200, 404)
