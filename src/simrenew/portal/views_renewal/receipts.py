"""Journey step 5: the confirmation of a payment and its receipt (page and PDF)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from simrenew.billing.models import Invoice
from simrenew.customers.models import Customer
from simrenew.kit.errors import ServiceUnavailable
from simrenew.payments import card_setup
from simrenew.payments.charging import reconcile
from simrenew.payments.models import (
    AUTHENTICATE,
    OPEN_ATTEMPT_STATUSES,
    PAY_ELSEWHERE,
    AttemptPurpose,
    PaymentAttempt,
)
from simrenew.portal.pages import customer_page
from simrenew.portal.presenters import (
    Receipt,
    attempt_summary,
    receipt,
)
from simrenew.portal.views_renewal.card_page import stripe_locale, stripe_sources

# --- Step 5: confirmation and receipts -----------------------------------------------------


@customer_page
@require_http_methods(["GET", "HEAD"])
def confirmation(request: HttpRequest, customer: Customer, attempt_id: int) -> HttpResponse:
    """What became of a payment. Reloading is the way to see a pending one settle."""
    attempt = get_object_or_404(
        PaymentAttempt.objects.select_related("payment_method", "subscription__esim__carrier", "subscription__plan"),
        pk=attempt_id,
        customer=customer,
    )
    back = request.GET.get("returned") or request.GET.get("payment_intent")  # Alipay's page adds the latter
    if attempt.next_action in (AUTHENTICATE, PAY_ELSEWHERE) and back:
        attempt = reconcile(attempt)  # back from the bank's check or the provider's page: ask now
    bank_check = bank_check_for(attempt)
    summary = attempt_summary(attempt, customer)
    subscription = attempt.subscription
    response = render(
        request,
        "portal/confirmation.html",
        {
            "customer": customer,
            "summary": summary,
            "attempt": attempt,
            "subscription": subscription,
            "retry_url": retry_url(attempt),
            "bank_check": bank_check,
        },
    )
    if bank_check is not None:
        response._csp_update = bank_check.sources  # type: ignore[attr-defined]
        response["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True, slots=True)
class BankCheck:
    """What the confirmation page needs to run the bank's check (3-D Secure) of an open attempt."""

    publishable_key: str
    client_secret: str
    js_url: str
    locale: str
    sources: dict[str, list[str]]
    redirect_url: str = ""  # pay on the provider's page (Alipay)
    qr_image: str = ""  # scan this code with the phone (WeChat Pay), a data URL


def bank_check_for(attempt: PaymentAttempt) -> BankCheck | None:
    """What the customer must do for this open attempt, as the provider says now (None: nothing)."""
    if attempt.next_action not in (AUTHENTICATE, PAY_ELSEWHERE) or attempt.status not in OPEN_ATTEMPT_STATUSES:
        return None
    gateway = card_setup.setup_gateway(attempt.gateway)
    if gateway is None:
        return None
    try:
        step = gateway.next_step(attempt.gateway_charge_id)
    except ServiceUnavailable:
        return None  # the page says the provider has not answered; reloading tries again
    return BankCheck(
        gateway.publishable_key,
        step.client_secret,
        gateway.js_url,
        stripe_locale(),
        stripe_sources(gateway),
        redirect_url=step.redirect_url,
        qr_image=step.qr_image,
    )


def retry_url(attempt: PaymentAttempt) -> str:
    if attempt.purpose == AttemptPurpose.WALLET_TOP_UP:
        return reverse("portal:wallet")
    if attempt.subscription_id is not None:
        return reverse("portal:renew", args=[attempt.subscription_id])
    return reverse("portal:dashboard")


def own_invoice(customer: Customer, invoice_id: int) -> Invoice:
    return get_object_or_404(
        Invoice.objects.select_related("payment_attempt__payment_method", "subscription__esim"),
        pk=invoice_id,
        customer=customer,
    )


@customer_page
@require_http_methods(["GET", "HEAD"])
def receipt_page(request: HttpRequest, customer: Customer, invoice_id: int) -> HttpResponse:
    shown = receipt(own_invoice(customer, invoice_id), customer)
    return render(request, "portal/receipt.html", {"customer": customer, "receipt": shown})


@customer_page
@require_http_methods(["GET", "HEAD"])
def receipt_pdf(request: HttpRequest, customer: Customer, invoice_id: int) -> HttpResponse:
    shown = receipt(own_invoice(customer, invoice_id), customer)
    response = HttpResponse(render_receipt_pdf(shown, customer), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{shown.number}.pdf"'
    return response


def render_receipt_pdf(shown: Receipt, customer: Customer) -> bytes:
    """The receipt as a one-page PDF (ReportLab, pure Python). Chinese text uses
    the built-in STSong-Light CID font, so no font file has to be shipped."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    if customer.locale.startswith("zh"):
        font = "STSong-Light"
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    output = io.BytesIO()
    page = canvas.Canvas(output, pagesize=A4, pageCompression=1)
    page.setTitle(gettext("Receipt %(number)s") % {"number": shown.number})
    width, height = A4
    left, right = 56, width - 56
    y = height - 72

    def plain(text: str) -> str:
        # Babel separates "7:00 AM" with a narrow no-break space, which the base fonts lack; nor
        # do they have the word joiner that keeps "个月" on one line of a page (a PDF line never wraps).
        return text.replace("\u202f", " ").replace("\u00a0", " ").replace("\u2060", "")

    def line(text: str, value: str = "", *, size: int = 11, gap: int = 18) -> None:
        nonlocal y
        page.setFont(font, size)
        page.drawString(left, y, plain(text))
        if value:
            page.drawRightString(right, y, plain(value))
        y -= gap

    line("simrenew", size=10)
    line(gettext("Receipt %(number)s") % {"number": shown.number}, size=18, gap=26)
    line(gettext("Issued"), shown.issued)
    line(gettext("Status"), shown.status_label)
    line(gettext("Customer"), shown.customer_name)
    line(gettext("Email"), shown.customer_email)
    if shown.phone_number:
        line(gettext("Phone number"), shown.phone_number)
    if shown.period_starts:
        line(gettext("Period"), f"{shown.period_starts} \u2013 {shown.period_ends}")
    y -= 8
    page.line(left, y + 12, right, y + 12)
    for item in shown.lines:
        line(item.label, item.amount)
    if shown.discount:
        line(gettext("Discount"), f"-{shown.discount}")
    line(gettext("Total"), shown.total, size=13, gap=22)
    if shown.refunded:
        line(gettext("Refunded"), shown.refunded)
    line(gettext("Paid with"), shown.method)
    page.showPage()
    page.save()
    return output.getvalue()
