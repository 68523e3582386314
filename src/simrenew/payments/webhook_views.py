"""`POST /webhooks/stripe`: Stripe tells us what became of a payment (and of cards, refunds and
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
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from simrenew.kit import clock
from simrenew.payments.gateway import gateway_named
from simrenew.payments.provider_events import LateSuccess, handle_stripe_event

log = logging.getLogger(__name__)

# Stripe's events are a few kilobytes; a body far larger is not Stripe's.
MAX_BODY_BYTES = 512 * 1024


@csrf_exempt  # a server-to-server call, authenticated by its signature
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"error": "Stripe posts its events here."}, status=405, headers={"Allow": "POST"})
    secret = settings.SIMRENEW_STRIPE_WEBHOOK_SECRET
    if not secret:
        return JsonResponse({"error": "Stripe webhooks are not configured here."}, status=404)
    if int(request.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
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
    if handled.late_success is not None:
        _give_back(handled.late_success)
    return JsonResponse({"received": True, "duplicate": handled.duplicate, "outcome": handled.outcome})


def _give_back(late: LateSuccess) -> None:
    """Outside the transaction (a gateway call). A refusal is logged for the operator; the key
    makes a redelivery of the event (which we ignore anyway) or a retry refund once."""
    try:
        result = gateway_named(late.gateway).refund(
            charge_id=late.charge_id, amount_minor=late.amount_minor, idempotency_key=late.idempotency_key
        )
    except Exception:
        log.exception("late success of attempt %s: refund not answered", late.attempt_id)
        return
    if not result.succeeded:
        log.error("late success of attempt %s: refund refused: %s", late.attempt_id, result.failure_message)
