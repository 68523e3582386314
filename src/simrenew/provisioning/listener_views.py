"""`POST /tmf-api/serviceOrdering/v4/listener/serviceOrderStateChangeEvent`: a carrier's hub tells us
one of our service orders changed (TMF641 v4 notification).

TMF641 v4 defines no way to sign an event, so it is a doorbell only (plan16 §e, H8): a known order
is looked at by the worker at once (`line_orders.ring`), over our own authenticated channel, and
the state written in the event is never applied. It answers like a TMF API, never with an HTML
page: 204 when the order is ours, a TMF `Error` (404 unknown order, 400 malformed, 405 not POST,
429 too many from one client) otherwise.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from simrenew.kit import clock
from simrenew.kit.client_address import client_of
from simrenew.provisioning import line_orders

MAX_BODY_BYTES = 64 * 1024


def _error(status: int, reason: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"code": str(status), "reason": reason, "message": message, "status": str(status)}, status=status
    )


def _order_keys(body: Any) -> tuple[str | None, str | None]:
    """The carrier's order id and our externalId from a ServiceOrderStateChangeEvent, if present."""
    if not isinstance(body, dict):
        return None, None
    event = body.get("event")
    order = event.get("serviceOrder") if isinstance(event, dict) else None
    if not isinstance(order, dict):
        return None, None
    order_id, external_id = order.get("id"), order.get("externalId")
    return (
        order_id if isinstance(order_id, str) and order_id else None,
        external_id if isinstance(external_id, str) and external_id else None,
    )


def _over_limit(request: HttpRequest) -> int | None:
    """Anyone can ring a doorbell, so each client may ring SIMRENEW_TMF_LISTENER_EVENTS_PER_MINUTE
    times a minute (counted in the shared cache, on the system clock); the seconds to wait when over."""
    limit = settings.SIMRENEW_TMF_LISTENER_EVENTS_PER_MINUTE
    if not limit:
        return None
    now = int(clock.system_now().timestamp())
    key = f"tmf-listener:{client_of(request)}:{now // 60}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: count this one as the first
        cache.set(key, 1, timeout=120)
        count = 1
    return 60 - now % 60 if count > limit else None


@csrf_exempt
def service_order_state_change(request: HttpRequest) -> HttpResponse:
    wait = _over_limit(request)
    if wait is not None:
        response = _error(429, "Too many requests", f"Too many events from this client; retry in {wait} s.")
        response["Retry-After"] = str(wait)
        return response
    if request.method != "POST":
        response = _error(405, "Method not allowed", "Events are POSTed.")
        response["Allow"] = "POST"
        return response
    if len(request.body) > MAX_BODY_BYTES:
        return _error(400, "Bad request", "The event is larger than 64 KB.")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Bad request", "The body is not JSON.")
    order_id, external_id = _order_keys(body)
    if order_id is None and external_id is None:
        return _error(400, "Bad request", "A ServiceOrderStateChangeEvent names event.serviceOrder.id or externalId.")
    with transaction.atomic():
        known = line_orders.ring(order_id=order_id, external_id=external_id)
    if not known:
        return _error(404, "Unknown service order", f"No service order {external_id or order_id} was sent by us.")
    return HttpResponse(status=204)
