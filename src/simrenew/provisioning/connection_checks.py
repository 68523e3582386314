"""'Check my connection': a test SMS to one of the customer's eSIMs, within limits.

Each check costs an SMS and lands on a phone, so a customer (or someone in their account) cannot
send them without end: at most ESIM_LIMIT per eSIM in a rolling hour and CUSTOMER_LIMIT per customer
in a rolling day. The limits count `ConnectionCheck` rows (one per SMS sent), so every web process
sees the same counts without a shared cache. The caller commits (DESIGN.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet

from simrenew.customers.models import Customer
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError
from simrenew.provisioning.messaging import SmsReceipt, get_messaging
from simrenew.provisioning.models import ConnectionCheck


@dataclass(frozen=True)
class Limit:
    checks: int
    within: timedelta


ESIM_LIMIT = Limit(checks=3, within=timedelta(hours=1))
CUSTOMER_LIMIT = Limit(checks=10, within=timedelta(days=1))


class ConnectionCheckLimited(SimrenewError):
    """Refused: the eSIM's or the customer's limit is used up until `retry_at`; nothing was sent."""

    status = 429
    slug = "connection-check-limited"
    title = "Too many connection checks"

    def __init__(self, *, per_esim: bool, limit: Limit, retry_at: datetime) -> None:
        scope = "this eSIM" if per_esim else "this customer"
        super().__init__(
            f"{limit.checks} connection checks for {scope} within {limit.within} already; try again at {retry_at}.",
            code="esim-limit" if per_esim else "customer-limit",
        )
        self.per_esim = per_esim
        self.limit = limit
        self.retry_at = retry_at


def _refuse_when_used_up(checks: QuerySet[ConnectionCheck], limit: Limit, now: datetime, *, per_esim: bool) -> None:
    last = list(
        checks.filter(sent_at__gt=now - limit.within)
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)[: limit.checks]
    )
    if len(last) >= limit.checks:
        # Another check fits once the oldest of the last `limit.checks` leaves the window.
        raise ConnectionCheckLimited(per_esim=per_esim, limit=limit, retry_at=last[-1] + limit.within)


def send_connection_check(*, esim: EsimProfile, text: str) -> SmsReceipt:
    """Send the test SMS to the customer's eSIM and record it, or refuse (`ConnectionCheckLimited`)."""
    assert esim.customer_id is not None, "only a customer's eSIM gets connection checks"
    # Two checks of one customer at once wait for each other here, so both cannot take the last place.
    Customer.objects.select_for_update().filter(pk=esim.customer_id).values_list("pk", flat=True).first()
    now = clock.now()
    _refuse_when_used_up(ConnectionCheck.objects.filter(esim=esim), ESIM_LIMIT, now, per_esim=True)
    _refuse_when_used_up(
        ConnectionCheck.objects.filter(customer_id=esim.customer_id), CUSTOMER_LIMIT, now, per_esim=False
    )
    receipt = get_messaging().send_test_sms(esim.msisdn, text)
    ConnectionCheck.objects.create(esim=esim, customer_id=esim.customer_id, message_id=receipt.message_id, sent_at=now)
    return receipt
