"""The payment providers' webhooks. `POST /webhooks/paypal` is PayPal's (see `paypal_webhook`).

`POST /webhooks/stripe`: Stripe tells us what became of a payment (and of cards, refunds and
disputes). Only Stripe can: the body's `Stripe-Signature` is checked with the SDK against our
endpoint's signing secret (SIMRENEW_STRIPE_WEBHOOK_SECRET), and a signature older than
SIMRENEW_STRIPE_WEBHOOK_TOLERANCE_SECONDS is refused as a replay. A forged or stale event gets 400
and changes nothing; a redelivered one gets 200 and changes nothing; an event type we do not act
on gets 200 (Stripe would otherwise keep sending it). Answers are JSON, never an HTML page.
"""

from __future__ import annotations

import json
import logging

import stripe
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from simrenew.kit import clock
from simrenew.kit.money import format_money
from simrenew.notifications.webhook_events import operator_addresses
from simrenew.payments.gateway import gateway_named, refund_at
from simrenew.payments.models import Dispute
from simrenew.payments.paypal import PayPalGateway
from simrenew.payments.provider_events import Handled, LateSuccess, handle_paypal_event, handle_stripe_event

log = logging.getLogger(__name__)

# Stripe's events are a few kilobytes; a body far larger is not Stripe's.
MAX_BODY_BYTES = 512 * 1024


def _too_large(request: HttpRequest) -> bool:
    """A declared body beyond any provider's event (or a length that is not a number): refused unread."""
    declared = request.headers.get("Content-Length") or "0"
    return not declared.isdigit() or int(declared) > MAX_BODY_BYTES


@csrf_exempt  # a server-to-server call, authenticated by its signature
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"error": "Stripe posts its events here."}, status=405, headers={"Allow": "POST"})
    secret = settings.SIMRENEW_STRIPE_WEBHOOK_SECRET
    if not secret:
        return JsonResponse({"error": "Stripe webhooks are not configured here."}, status=404)
    if _too_large(request):
        return JsonResponse({"error": "The body is too large for a Stripe event."}, status=413)
    payload = request.body
    try:
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("Stripe-Signature"), secret, settings.SIMRENEW_STRIPE_WEBHOOK_TOLERANCE_SECONDS
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as refused:
        log.warning("stripe webhook refused: %s", refused.__class__.__name__)
        return JsonResponse({"error": "The signature does not match this endpoint's secret."}, status=400)
    if not isinstance(event, dict) or not event.get("id"):
        return JsonResponse({"error": "This is not a Stripe event."}, status=400)
    with transaction.atomic(), clock.one_instant():
        handled = handle_stripe_event(event)
    return _done(handled)


@csrf_exempt  # a server-to-server call, authenticated by PayPal's verify-webhook-signature
def paypal_webhook(request: HttpRequest) -> JsonResponse:
    """`POST /webhooks/paypal`: PayPal's events, each checked by asking PayPal whether it sent it to
    our webhook (SIMRENEW_PAYPAL_WEBHOOK_ID) before anything is done with it."""
    if request.method != "POST":
        return JsonResponse({"error": "PayPal posts its events here."}, status=405, headers={"Allow": "POST"})
    if not settings.SIMRENEW_PAYPAL_CLIENT_ID or not settings.SIMRENEW_PAYPAL_WEBHOOK_ID:
        return JsonResponse({"error": "PayPal webhooks are not configured here."}, status=404)
    if _too_large(request):
        return JsonResponse({"error": "The body is too large for a PayPal event."}, status=413)
    try:
        event = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        return JsonResponse({"error": "This is not a PayPal event."}, status=400)
    if not isinstance(event, dict) or not event.get("id"):
        return JsonResponse({"error": "This is not a PayPal event."}, status=400)
    gateway = gateway_named("paypal")
    assert isinstance(gateway, PayPalGateway)
    try:
        genuine = gateway.verify_webhook(request.headers, event)  # a call to PayPal: outside the transaction
    except Exception:
        log.exception("paypal webhook: verify-webhook-signature did not answer")
        return JsonResponse({"error": "PayPal could not confirm the event now; send it again."}, status=503)
    if not genuine:
        log.warning("paypal webhook refused: PayPal did not confirm it sent it")
        return JsonResponse({"error": "PayPal did not confirm the signature of this event."}, status=400)
    with transaction.atomic(), clock.one_instant():
        handled = handle_paypal_event(event)
    return _done(handled)


def _done(handled: Handled) -> JsonResponse:
    if handled.late_success is not None:
        _give_back(handled.late_success)
    if handled.dispute_opened is not None:
        _tell_operator_of_dispute(handled.dispute_opened)
    if handled.refunded_elsewhere:
        _tell_operator(
            "simrenew: a refund was made at the payment provider, not through simrenew",
            f"{handled.refunded_elsewhere}.\n\nsimrenew's invoices do not show it: if it was meant, record it on "
            "the invoice; if not, look at the provider's dashboard.\n",
        )
    return JsonResponse({"received": True, "duplicate": handled.duplicate, "outcome": handled.outcome})


def _give_back(late: LateSuccess) -> None:
    """Outside the transaction (a gateway call). A refusal is logged for the operator; the key
    makes a redelivery of the event (which we ignore anyway) or a retry refund once."""
    try:
        result = refund_at(
            late.gateway, charge_id=late.charge_id, amount_minor=late.amount_minor, idempotency_key=late.idempotency_key
        )
    except Exception:
        log.exception("late success of attempt %s: refund not answered", late.attempt_id)
        return
    if not result.succeeded:
        log.error("late success of attempt %s: refund refused: %s", late.attempt_id, result.failure_message)


def _tell_operator_of_dispute(dispute_id: int) -> None:
    """Email the operator (SIMRENEW_OPERATOR_EMAIL, else ADMINS): a dispute has a deadline."""
    dispute = Dispute.objects.select_related("attempt__customer").get(pk=dispute_id)
    customer = dispute.attempt.customer
    due = dispute.due_by.isoformat(timespec="minutes") if dispute.due_by else "not given"
    page = settings.SIMRENEW_PUBLIC_URL + reverse("admin:customers_customer_change", args=[customer.pk])
    _tell_operator(
        f"simrenew: a payment was disputed ({dispute.gateway}, {dispute.reason})",
        f"{customer} disputed payment attempt {dispute.attempt_id} with {dispute.gateway}: "
        f"{format_money(dispute.amount_minor, dispute.currency)}, reason {dispute.reason}.\n"
        f"Evidence is due by {due}.\n\n"
        f"The period it paid stays paid unless you decide otherwise. Answer it from the customer's page: {page}\n",
    )


def _tell_operator(subject: str, body: str) -> None:
    """Email the operator (SIMRENEW_OPERATOR_EMAIL, else ADMINS) after the event was recorded."""
    recipients = operator_addresses()
    if not recipients:
        log.warning("%s; no operator address to tell", subject)
        return
    try:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)
    except Exception:  # the event is recorded either way
        log.exception("the operator's email could not be sent: %s", subject)
