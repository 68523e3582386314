"""A customer's account deleted at their request (GDPR art. 17, CCPA's right to delete).

`erase_customer` does it in the caller's transaction:
1. Service ends now: each subscription still running is cancelled now through
   `subscriptions.cancellation.cancel`, so the operator's cancel-now refund rules apply unchanged
   (the caller runs `finish_erasure` after commit to send the refunds to the gateway).
2. Personal data is erased or pseudonymized: name, email, phone, the login (renamed, unusable,
   inactive; its email addresses, MFA authenticators and sessions deleted), saved payment methods
   (removed, their token, last four digits, expiry and PayPal email blanked: the gateway interface
   has no call to detach a method, and a blanked token can no longer be charged from here), the
   eSIMs' EID and label, message recipients and bodies, usage records, port-in secrets, stored API
   answers that showed the person, and their values in the audit trail and the admin's history.
3. Invoices are the exception: the law keeps an invoice with its billing details for
   SIMRENEW_INVOICE_RETENTION_YEARS; the customer's name, email and phone are copied onto each
   invoice still in that period, and `privacy.retention` pseudonymizes them once it ends.
4. Emails and SMS stop: messages not yet dispatched are dropped, email and SMS deliveries not yet
   sent are deleted, and the dispatcher never plans one for an erased customer again.
5. The audit trail records the erasure: who asked, when, and the pseudonymous reference the
   customer row now goes by, without any of the erased values.

The customer row itself stays (invoices, payments and periods point at it), known only by its
reference. An ICCID and the line's MSISDN are kept on the retired eSIM profile: the operator's
inventory must account for every profile it bought and every number the carrier lent it (carrier
reconciliation, number recycling, lawful interception records), and once the profile no longer
leads to a person they identify a SIM, not someone. The EID identifies the customer's own phone
and is erased."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.db.models import Q
from django.utils.translation import gettext as _

from simrenew.audit import redaction
from simrenew.billing.models import Invoice
from simrenew.customers.models import Customer, NotificationPreference
from simrenew.esims.models import USABLE_STATUSES, EsimProfile, ProfileStatus
from simrenew.esims.services import ProfileStateConflict, retire_profile
from simrenew.kit import clock
from simrenew.kit.actors import Actor, ActorKind, current_actor
from simrenew.kit.audit import SYSTEM_ACTOR, record_change
from simrenew.kit.errors import Conflict
from simrenew.notifications.models import (
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    OutboxMessage,
    OutboxStatus,
    SandboxSms,
)
from simrenew.payments.models import Dispute, PaymentAttempt, PaymentMethod, ProviderCustomer
from simrenew.privacy.retention import pseudonymize_invoice, retention_ends
from simrenew.privacy.scrub import Scrubber
from simrenew.provisioning.models import DownloadProgress, LineOrder, PortRequest, ProfileOrder, TestMessage
from simrenew.subscriptions.cancellation import cancel, finish_cancellation_refunds
from simrenew.subscriptions.models import PeriodExtension, Subscription, SubscriptionState
from simrenew.usage.models import UsageRecord

ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: never delivered anywhere


class AlreadyErased(Conflict):
    pass


@dataclass(frozen=True)
class Erasure:
    customer_id: int
    reference: str
    erased_at: datetime
    subscriptions_ended: tuple[int, ...]
    invoices_kept: int  # invoices keeping their billing details until their retention ends


def new_reference() -> str:
    return f"erased-{secrets.token_hex(6)}"


def personal_values(customer: Customer) -> list[str]:
    """What identifies the person, wherever it was copied."""
    user = customer.user
    values = [customer.name, customer.email, customer.phone, user.username, user.email, user.first_name, user.last_name]
    values += list(EmailAddress.objects.filter(user=user).values_list("email", flat=True))
    for eid, label in EsimProfile.objects.filter(customer=customer).values_list("eid", "label"):
        values += [eid, label]
    for paypal_email, provider_customer in PaymentMethod.every.filter(customer=customer).values_list(
        "paypal_email", "provider_customer"
    ):
        values += [paypal_email, provider_customer]
    values += list(ProviderCustomer.objects.filter(customer=customer).values_list("external_id", flat=True))
    return [value for value in values if value]


def erase_customer(customer: Customer, *, requested_by: str = "") -> Erasure:
    """Erase `customer` (inside the caller's transaction; run `finish_erasure` after commit).
    `requested_by` says who asked, for the trail (the customer themselves, or support on their
    request). Erasing twice is refused and changes nothing."""
    customer = Customer.objects.select_for_update().select_related("user").get(pk=customer.pk)
    if customer.erased_at is not None:
        raise AlreadyErased(
            _("This account was already deleted (%(reference)s).") % {"reference": customer.erasure_reference},
            code="already_erased",
        )
    now = clock.now()
    reference = new_reference()
    scrub = Scrubber(personal_values(customer), reference)

    ended = _end_service(customer)
    kept = _keep_invoices(customer, now, reference)
    _erase_payment_methods(customer, reference, now)
    iccids = _erase_esims(customer, scrub)
    _stop_messages(customer, scrub, reference)
    _erase_elsewhere(customer, scrub, iccids)
    user_id = _erase_login(customer, reference)
    redaction.redact(
        redaction.entries_about(customer_id=customer.pk, user_id=user_id), text=scrub.text, data=scrub.data, at=now
    )
    NotificationPreference.objects.filter(customer=customer).delete()
    customer.name = ""
    customer.email = f"{reference}@{ERASED_EMAIL_DOMAIN}"
    customer.phone = ""
    customer.renew_with_other_methods = False
    customer.erased_at = now
    customer.erasure_reference = reference
    customer.save()
    record_change(
        actor=_asker(reference),
        action="erase",
        target=customer,
        target_label=reference,
        after={"reference": reference, "subscriptions_ended": list(ended), "invoices_kept": kept},
        reason=requested_by or "the customer's request",
        customer_id=customer.pk,
        actor_name=SYSTEM_ACTOR,  # nobody named (a script): the trail still has the erasure
        even_for_customer=True,
    )
    return Erasure(customer.pk, reference, now, tuple(ended), kept)


def finish_erasure(erasure: Erasure) -> None:
    """After commit: send the cancel-now refunds to the gateway (owns its transactions)."""
    for subscription_id in erasure.subscriptions_ended:
        finish_cancellation_refunds(subscription_id)


def _asker(reference: str) -> Actor | None:
    """Staff, a partner's key or the CLI are named as they are; a customer asking for their own
    erasure is named by the reference alone, never by the email that is being erased."""
    who = current_actor()
    if who is not None and who.kind == ActorKind.CUSTOMER:
        return Actor(ActorKind.CUSTOMER, f"customer {reference}")
    return who


def _end_service(customer: Customer) -> list[int]:
    ended: list[int] = []
    for subscription in Subscription.objects.filter(customer=customer).order_by("id"):
        if subscription.state in (SubscriptionState.INCOMPLETE, SubscriptionState.TERMINATED):
            continue
        if subscription.state == SubscriptionState.CANCELLED and subscription.ended_at is not None:
            continue
        cancel(subscription, when="now")
        ended.append(subscription.pk)
    return ended


def _keep_invoices(customer: Customer, now: datetime, reference: str) -> int:
    kept = 0
    for invoice in Invoice.objects.filter(customer=customer, billing_pseudonymized_at__isnull=True):
        invoice.billed_name, invoice.billed_email, invoice.billed_phone = customer.name, customer.email, customer.phone
        if retention_ends(invoice) <= now:
            pseudonymize_invoice(invoice, reference=reference, at=now, save=False)
        else:
            kept += 1
        invoice.save(update_fields=["billed_name", "billed_email", "billed_phone", "billing_pseudonymized_at"])
    return kept


def _erase_payment_methods(customer: Customer, reference: str, now: datetime) -> None:
    # No gateway call: the PaymentGateway protocol offers none to detach a saved method.
    PaymentMethod.every.filter(customer=customer, removed_at__isnull=True).update(removed_at=now, is_default=False)
    PaymentMethod.every.filter(customer=customer).update(
        token="", last4="", exp_month=None, exp_year=None, paypal_email="", provider_customer=""
    )
    for provider_customer in ProviderCustomer.objects.filter(customer=customer):
        ProviderCustomer.objects.filter(pk=provider_customer.pk).update(
            external_id=f"{reference}-{provider_customer.pk}"
        )


def _erase_esims(customer: Customer, scrub: Scrubber) -> list[str]:
    profiles = list(EsimProfile.objects.filter(customer=customer).order_by("id"))
    for profile in profiles:
        if profile.status in USABLE_STATUSES and profile.status != ProfileStatus.RELEASED:
            # Still held (a first purchase whose payment is not settled yet): it stays with the
            # pseudonymous row, and the subscription's own end releases it later.
            with contextlib.suppress(ProfileStateConflict):
                retire_profile(profile)
    EsimProfile.objects.filter(customer=customer).update(eid="", label="")
    iccids = [profile.iccid for profile in profiles]
    # The SM-DP+ and carrier records of those profiles: their EID goes, the ICCID stays (see above).
    ProfileOrder.objects.filter(Q(customer=customer) | Q(iccid__in=iccids)).update(eid="")
    DownloadProgress.objects.filter(iccid__in=iccids).update(eid="")
    scrub.rows(ProfileOrder.objects.filter(customer=customer))
    scrub.rows(LineOrder.objects.filter(line__esim__customer=customer))
    PortRequest.objects.filter(new_esim__customer=customer).update(account_number="", pin="")
    scrub.rows(TestMessage.objects.filter(msisdn__in=[p.msisdn for p in profiles if p.msisdn]))
    # Usage is tied to the person through their eSIM; periods keep their totals (used_bytes).
    UsageRecord.objects.filter(esim__customer=customer).delete()
    return iccids


def _stop_messages(customer: Customer, scrub: Scrubber, reference: str) -> None:
    messages = OutboxMessage.objects.filter(customer=customer)
    # Not yet dispatched: dropped. Dispatched but not yet sent to them: dropped too.
    messages.filter(status=OutboxStatus.PENDING, deliveries__isnull=True).delete()
    Delivery.objects.filter(
        message__customer=customer,
        channel__in=[DeliveryChannel.EMAIL, DeliveryChannel.SMS],
        status=DeliveryStatus.PENDING,
    ).delete()
    for delivery in Delivery.objects.filter(message__customer=customer).exclude(channel=DeliveryChannel.WEBHOOK):
        Delivery.objects.filter(pk=delivery.pk).update(
            recipient=f"{reference}#{delivery.pk}", last_error=scrub.text(delivery.last_error)
        )
    scrub.rows(Delivery.objects.filter(message__customer=customer), skip=["recipient"])
    scrub.rows(OutboxMessage.objects.filter(customer=customer))
    if customer.phone:
        scrub.rows(SandboxSms.objects.filter(to=customer.phone))


def _erase_elsewhere(customer: Customer, scrub: Scrubber, iccids: list[str]) -> None:
    scrub.rows(PaymentAttempt.objects.filter(customer=customer))
    scrub.rows(Dispute.objects.filter(attempt__customer=customer))
    scrub.rows(PeriodExtension.objects.filter(subscription__customer=customer))
    # The partner API's stored answers (idempotent replays) that showed the person: deleted; a
    # replay of one now answers as a new request would.
    # Named, not imported: the API is an edge, and a domain imports no edge.
    idempotency_records = apps.get_model("api", "IdempotencyRecord").objects
    for record in idempotency_records.filter(created_at__gte=customer.created_at).only("id", "response_body"):
        body = bytes(record.response_body or b"").decode("utf-8", "replace")
        if scrub.found_in(body):
            idempotency_records.filter(pk=record.pk).delete()


def _erase_login(customer: Customer, reference: str) -> int:
    user = customer.user
    EmailAddress.objects.filter(user=user).delete()
    Authenticator.objects.filter(user=user).delete()
    # Only live sessions can sign anyone in (an expired one is refused and purged by clearsessions).
    for session in Session.objects.filter(expire_date__gt=clock.system_now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            session.delete()
    LogEntry.objects.filter(
        Q(content_type__app_label="customers", content_type__model="customer", object_id=str(customer.pk))
        | Q(content_type__app_label="auth", content_type__model="user", object_id=str(user.pk))
    ).update(object_repr=reference, change_message="")
    user.username = reference
    user.email = ""
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
    return int(user.pk)
