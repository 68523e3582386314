"""'Check my connection': a test SMS to one of the customer's eSIMs, within limits.

Each check costs an SMS and lands on a phone, so a customer (or someone in their account) cannot
send them without end: at most ESIM_LIMIT per eSIM in a rolling hour and CUSTOMER_LIMIT per customer
in a rolling day. The limits count `ConnectionCheck` rows, so every web process sees the same counts
without a shared cache.

A check goes in the same three steps as a charge (DESIGN.md §4, Payments), so no row lock is held
while the carrier answers and no SMS goes out that the limits do not count:

1. `reserve_connection_check` locks the customer, checks the limits and inserts the check with no
   message id yet (a reservation, which the limits count), inside the caller's transaction;
   the caller commits.
2. `send_reserved_check` asks the carrier, outside any transaction.
3. `record_sent_check` writes the carrier's message id on the row; when the send raised,
   `release_reserved_check` deletes the reservation, so a failed send does not use up a place.

A process that dies between 1 and 3 leaves its reservation counted: the limits err on the side of
fewer messages. The callers own the transactions (DESIGN.md §7).
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


def reserve_connection_check(*, esim: EsimProfile) -> ConnectionCheck:
    """Step 1, inside the caller's transaction: take a place within the limits (a check with no
    message id yet), or refuse (`ConnectionCheckLimited`). Commit before `send_reserved_check`."""
    assert esim.customer_id is not None, "only a customer's eSIM gets connection checks"
    # Two checks of one customer at once wait for each other here, so both cannot take the last place;
    # the lock is held only until the caller commits the reservation, never during the send.
    Customer.objects.select_for_update().filter(pk=esim.customer_id).values_list("pk", flat=True).first()
    now = clock.now()
    _refuse_when_used_up(ConnectionCheck.objects.filter(esim=esim), ESIM_LIMIT, now, per_esim=True)
    _refuse_when_used_up(
        ConnectionCheck.objects.filter(customer_id=esim.customer_id), CUSTOMER_LIMIT, now, per_esim=False
    )
    return ConnectionCheck.objects.create(esim=esim, customer_id=esim.customer_id, message_id="", sent_at=now)


def send_reserved_check(check: ConnectionCheck, *, text: str) -> SmsReceipt:
    """Step 2, outside any transaction (the carrier may take seconds): the test SMS to the eSIM's
    number. Whatever the carrier raises reaches the caller, which then releases the reservation."""
    return get_messaging().send_test_sms(check.esim.msisdn, text)


def record_sent_check(check: ConnectionCheck, receipt: SmsReceipt) -> None:
    """Step 3, inside the caller's transaction: the check names the message the carrier sent."""
    ConnectionCheck.objects.filter(pk=check.pk).update(message_id=receipt.message_id)
    check.message_id = receipt.message_id


def release_reserved_check(check: ConnectionCheck) -> None:
    """Step 3 when the send raised, inside the caller's transaction: nothing was sent (as far as we
    know), so the reservation goes and the place is free again."""
    ConnectionCheck.objects.filter(pk=check.pk, message_id="").delete()
