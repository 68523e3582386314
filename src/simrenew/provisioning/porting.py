"""Keeping the phone number when a customer moves to another carrier (number porting, issue 16).

The customer asks on the portal's Add an eSIM page while moving from one of their plans:
`request_port` records the wish inside the purchase's transaction, so the `start` of the new
eSIM's line finds it (`open_port_for`) and its TMF641 `add` carries `portInMsisdn`,
`portInAccount` and `portInPin` (`port_in_values`, read at send time only; the order's stored
body never holds the secrets). The old carrier's account number and port-out PIN are kept
encrypted (`kit.crypto`) and emptied once the port is over, whichever way it ended: a check
constraint on `PortRequest` holds that.

When the carrier completes the `add`, `on_port_completed` moves the number to the new eSIM, tells
the customer and ends the old plan now under the operator's refund policy (its line is stopped
and later terminated by the normal lifecycle). When the carrier fails it, `on_port_failed` tells
the customer why, in the carrier's words; the new eSIM keeps the number the carrier gave it.
Everything here runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

import logging
import re
from functools import partial

from django.db import transaction
from django.utils.translation import gettext_noop

from simrenew.esims.models import EsimProfile
from simrenew.kit import clock, crypto
from simrenew.kit.errors import Conflict, ValidationFailed
from simrenew.notifications import payloads
from simrenew.notifications.events import EventType
from simrenew.notifications.services import emit
from simrenew.provisioning.models import PortRequest, PortStatus
from simrenew.subscriptions.cancellation import cancel, finish_cancellation_refunds
from simrenew.subscriptions.models import Subscription, SubscriptionState

log = logging.getLogger(__name__)

# What carriers accept (the US number-portability forms): an account number of letters, digits
# and dashes, and a numeric port-out (transfer) PIN.
ACCOUNT_NUMBER = re.compile(r"[A-Za-z0-9-]{1,40}")
PORT_PIN = re.compile(r"[0-9]{4,10}")
ACCOUNT_MESSAGE = "The account number is 1 to 40 letters, digits or dashes, as your current carrier shows it."
PIN_MESSAGE = "The port-out PIN is 4 to 10 digits."
OPEN_STATUSES = (PortStatus.REQUESTED, PortStatus.ORDERED)
REASON_MAX = 500  # PortRequest.failure_reason


class PortNotAllowed(Conflict):
    slug = "port-not-allowed"


def valid_account_number(value: str) -> bool:
    return ACCOUNT_NUMBER.fullmatch(value) is not None


def valid_pin(value: str) -> bool:
    return PORT_PIN.fullmatch(value) is not None


def request_port(
    *, new_esim: EsimProfile, old_subscription: Subscription, account_number: str, pin: str
) -> PortRequest:
    """The customer's wish to move the number of `old_subscription`'s eSIM to `new_esim`, with the
    old carrier's account number and port-out PIN (stored encrypted). Inside the caller's
    transaction, before the new eSIM's first period is paid: its `add` order takes the port."""
    account_number, pin = account_number.strip(), pin.strip()
    if not valid_account_number(account_number):
        raise ValidationFailed.on("account_number", ACCOUNT_MESSAGE)
    if not valid_pin(pin):
        raise ValidationFailed.on("pin", PIN_MESSAGE)
    old_esim = old_subscription.esim
    if old_subscription.customer_id != new_esim.customer_id or new_esim.customer_id is None:
        raise PortNotAllowed(gettext_noop("Only a number of the same customer's plan can move to this eSIM."))
    if old_subscription.state in (SubscriptionState.INCOMPLETE, SubscriptionState.TERMINATED):
        raise PortNotAllowed(gettext_noop("The number of a plan that never started or has ended cannot be moved."))
    if not old_esim.msisdn:
        raise PortNotAllowed(gettext_noop("This plan's eSIM has no phone number to move."))
    if old_esim.pk == new_esim.pk or old_esim.carrier_id == new_esim.carrier_id:
        raise PortNotAllowed(gettext_noop("A number moves to an eSIM of another carrier only."))
    if PortRequest.objects.filter(msisdn=old_esim.msisdn, status__in=OPEN_STATUSES).exists():
        raise PortNotAllowed(gettext_noop("This number is already being moved."))
    return PortRequest.objects.create(
        new_esim=new_esim,
        old_subscription=old_subscription,
        msisdn=old_esim.msisdn,
        account_number=crypto.encrypt(account_number),
        pin=crypto.encrypt(pin),
        status=PortStatus.REQUESTED,
        created_at=clock.now(),
    )


def withdraw_unpaid_ports(esim: EsimProfile) -> int:
    """The new eSIM's first payment failed: nothing was bought, so its waiting port goes, with the
    old carrier's secrets (before the eSIM goes back to stock). How many were withdrawn."""
    deleted, _ = PortRequest.objects.filter(new_esim=esim, status=PortStatus.REQUESTED).delete()
    return deleted


def open_port_for(esim_id: int) -> PortRequest | None:
    """The port still waiting for the new eSIM's `add` order (lines.py attaches it), if any."""
    return PortRequest.objects.filter(new_esim_id=esim_id, status=PortStatus.REQUESTED).order_by("pk").first()


def latest_port_for(esim_id: int) -> PortRequest | None:
    """The eSIM's most recent port, whatever its status (what the portal shows)."""
    return PortRequest.objects.filter(new_esim_id=esim_id).order_by("-pk").first()


def port_in_values(port: PortRequest) -> tuple[str, str, str]:
    """(number, account number, PIN) in clear, for the order as it is sent; never stored."""
    return port.msisdn, crypto.decrypt(port.account_number), crypto.decrypt(port.pin)


def mark_ordered(port: PortRequest) -> PortRequest:
    """The port rides on an `add` order now (it is not attached to another one)."""
    PortRequest.objects.filter(pk=port.pk, status=PortStatus.REQUESTED).update(status=PortStatus.ORDERED)
    port.refresh_from_db()
    return port


def _locked(port: PortRequest | int) -> PortRequest:
    pk = port if isinstance(port, int) else port.pk
    return PortRequest.objects.select_for_update().select_related("new_esim__carrier").get(pk=pk)


def _subscription_of(esim: EsimProfile) -> Subscription | None:
    return Subscription.objects.filter(esim=esim).exclude(state=SubscriptionState.INCOMPLETE).order_by("-pk").first()


def _finish_refunds(subscription_id: int) -> None:
    # After the commit, as the portal's cancel-now does; a refund the gateway did not take stays
    # pending and the worker's reconciler finishes it.
    try:
        finish_cancellation_refunds(subscription_id)
    except Exception:
        log.exception("refunds of subscription %s after its number moved: left to the reconciler", subscription_id)


def on_port_completed(port: PortRequest | int) -> PortRequest:
    """The carrier moved the number: the new eSIM takes it, the secrets are emptied, the customer
    is told, and the old plan ends now (refunds under the operator's policy, sent after commit).
    A port already over is left as it is (a completion seen twice changes nothing)."""
    port = _locked(port)
    if port.status not in OPEN_STATUSES:
        return port
    now = clock.now()
    port.status = PortStatus.COMPLETED
    port.account_number = port.pin = ""
    port.failure_reason = ""
    port.completed_at = now
    port.save(update_fields=["status", "account_number", "pin", "failure_reason", "completed_at"])
    esim = port.new_esim
    esim.msisdn = port.msisdn
    esim.save(update_fields=["msisdn"])
    ended_old = _end_old_plan(port)
    emit(
        EventType.ESIM_PORT_COMPLETED,
        customer=esim.customer,
        subscription=_subscription_of(esim),
        data=payloads.esim_port_completed(
            esim_id=esim.pk,
            customer_id=esim.customer_id,
            carrier=esim.carrier.code,
            msisdn=port.msisdn,
            old_subscription_id=port.old_subscription_id,
            old_plan_ended=ended_old,
            completed_at=now,
        ),
    )
    return port


def _end_old_plan(port: PortRequest) -> bool:
    """Cancel the old plan now: its number works elsewhere. False when it had already ended."""
    old = port.old_subscription
    if old is None or old.state in (SubscriptionState.INCOMPLETE, SubscriptionState.TERMINATED):
        return False
    if old.state == SubscriptionState.CANCELLED and old.ended_at is not None:
        return False
    cancel(old, when="now")
    transaction.on_commit(partial(_finish_refunds, old.pk))
    return True


def on_port_failed(port: PortRequest | int, reason: str) -> PortRequest:
    """The carrier refused or failed the port: the secrets are emptied and the customer is told
    why (the carrier's words). The new eSIM keeps the number the carrier gave it; the old plan
    is left as the customer set it."""
    port = _locked(port)
    if port.status not in OPEN_STATUSES:
        return port
    reason = (reason or "").strip()[:REASON_MAX]
    port.status = PortStatus.FAILED
    port.account_number = port.pin = ""
    port.failure_reason = reason
    port.completed_at = clock.now()
    port.save(update_fields=["status", "account_number", "pin", "failure_reason", "completed_at"])
    esim = port.new_esim
    emit(
        EventType.ESIM_PORT_FAILED,
        customer=esim.customer,
        subscription=_subscription_of(esim),
        data=payloads.esim_port_failed(
            esim_id=esim.pk,
            customer_id=esim.customer_id,
            carrier=esim.carrier.code,
            msisdn=port.msisdn,
            esim_msisdn=esim.msisdn,
            reason=reason,
        ),
    )
    return port
