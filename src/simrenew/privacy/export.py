"""A customer's data, for them to take away (GDPR art. 15 and 20, CCPA's right to know).

One builder (`customer_data`) gives every kind of record the platform keeps about a customer as
plain rows; the portal, the console and the partner API only choose the shape: JSON (`as_json`)
or a zip of one CSV per kind (`as_csv_zip`). Payment methods are what the project keeps of them:
brand, last four digits and expiry, never a card number (none is stored)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from simrenew.billing.models import Invoice, Refund
from simrenew.customers.models import Customer
from simrenew.customers.services import notification_preferences
from simrenew.esims.models import EsimProfile
from simrenew.kit import clock
from simrenew.notifications.models import Delivery
from simrenew.payments.models import PaymentAttempt, PaymentMethod, WalletEntry
from simrenew.subscriptions.models import Period, Subscription
from simrenew.usage.models import UsageRecord

Row = dict[str, Any]

# The kinds, in the order a reader meets them; each is one list in the JSON and one CSV file.
KINDS = (
    "profile",
    "notification_preferences",
    "esims",
    "subscriptions",
    "periods",
    "payment_methods",
    "payments",
    "wallet",
    "invoices",
    "refunds",
    "messages",
    "usage",
)


@dataclass(frozen=True)
class CustomerData:
    customer_id: int
    exported_at: datetime
    kinds: dict[str, list[Row]]


def _rows(queryset: QuerySet[Any], fields: Sequence[str | tuple[str, str]]) -> list[Row]:
    """`fields` names the exported columns: a field of the model, or (column, the ORM path it is read from)."""
    paths = dict(field if isinstance(field, tuple) else (field, field) for field in fields)
    return [
        {column: values[path] for column, path in paths.items()}
        for values in queryset.values(*dict.fromkeys(paths.values()))
    ]


def customer_data(customer: Customer) -> CustomerData:
    """Every record about `customer`, as rows of plain values (strings, numbers, timestamps)."""
    profile = {
        "id": customer.pk,
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "locale": customer.locale,
        "time_zone": customer.time_zone,
        "renew_with_other_methods": customer.renew_with_other_methods,
        "created_at": customer.created_at,
    }
    preferences = [
        {"kind": kind, "email": channels.email, "sms": channels.sms}
        for kind, channels in notification_preferences(customer).items()
    ]
    esims = _rows(
        EsimProfile.objects.filter(customer=customer).order_by("id"),
        [
            "id",
            "iccid",
            "eid",
            "msisdn",
            ("carrier", "carrier__code"),
            "status",
            "label",
            "assigned_at",
            "installed_at",
            "retired_at",
        ],
    )
    subscriptions = _rows(
        Subscription.objects.filter(customer=customer).order_by("id"),
        [
            "id",
            ("esim_iccid", "esim__iccid"),
            ("renewal_plan", "plan__name"),
            "state",
            "auto_renew",
            "paid_through",
            "created_at",
            "cancelled_at",
            "ended_at",
            "terminated_at",
        ],
    )
    periods = _rows(
        Period.objects.filter(subscription__customer=customer).order_by("subscription_id", "number"),
        [
            "subscription_id",
            "number",
            ("plan", "plan__name"),
            "starts_at",
            "ends_at",
            "data_mb",
            "top_up_mb",
            "used_bytes",
            ("invoice_number", "invoice__number"),
        ],
    )
    methods = _rows(
        PaymentMethod.every.filter(customer=customer).order_by("id"),
        [
            "id",
            "type",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "paypal_email",
            "is_default",
            "created_at",
            "removed_at",
        ],
    )
    payments = _rows(
        PaymentAttempt.objects.filter(customer=customer).order_by("id"),
        [
            "id",
            "created_at",
            "purpose",
            "subscription_id",
            "payment_method_id",
            "amount_minor",
            "currency",
            "status",
            "failure_code",
            "failure_message",
            "completed_at",
        ],
    )
    wallet = _rows(
        WalletEntry.objects.filter(wallet__customer=customer).order_by("id"),
        [
            "id",
            "created_at",
            "amount_minor",
            ("currency", "wallet__currency"),
            "reason",
        ],
    )
    invoices = _rows(
        Invoice.objects.filter(customer=customer).order_by("id"),
        [
            "number",
            "issued_at",
            "description",
            "subscription_id",
            "subtotal_minor",
            "discount_minor",
            "total_minor",
            "refunded_minor",
            "currency",
            "status",
        ],
    )
    refunds = _rows(
        Refund.objects.filter(invoice__customer=customer).order_by("id"),
        [
            ("invoice_number", "invoice__number"),
            "created_at",
            "amount_minor",
            "currency",
            "to_wallet",
            "status",
            "reason",
        ],
    )
    # The notices sent to the customer (email, SMS); webhooks went to partners, not to them.
    messages = _rows(
        Delivery.objects.filter(message__customer=customer, channel__in=["email", "sms"]).order_by("id"),
        [
            ("event_type", "message__event_type"),
            ("event_id", "message__event_id"),
            "channel",
            "recipient",
            "status",
            "created_at",
            "sent_at",
        ],
    )
    usage = _rows(
        UsageRecord.objects.filter(esim__customer=customer).order_by("occurred_at", "id"),
        [("esim_iccid", "esim__iccid"), "occurred_at", "bytes", "source"],
    )
    for row in messages:
        row["event_id"] = str(row["event_id"])
    kinds = {
        "profile": [profile],
        "notification_preferences": preferences,
        "esims": esims,
        "subscriptions": subscriptions,
        "periods": periods,
        "payment_methods": methods,
        "payments": payments,
        "wallet": wallet,
        "invoices": invoices,
        "refunds": refunds,
        "messages": messages,
        "usage": usage,
    }
    return CustomerData(customer_id=customer.pk, exported_at=clock.now(), kinds=kinds)


def as_json(data: CustomerData) -> bytes:
    document = {"customer_id": data.customer_id, "exported_at": data.exported_at, **data.kinds}
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def as_csv_zip(data: CustomerData) -> bytes:
    """A zip with one CSV per kind (`esims.csv`, …), each with its header row even when empty."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for kind in KINDS:
            rows = data.kinds[kind]
            text = io.StringIO()
            columns = list(rows[0]) if rows else list(_EMPTY_COLUMNS.get(kind, ()))
            writer = csv.writer(text)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row[column]) for column in columns])
            archive.writestr(f"{kind}.csv", text.getvalue())
    return buffer.getvalue()


def file_name(data: CustomerData, extension: str) -> str:
    return f"simrenew-data-customer-{data.customer_id}-{data.exported_at:%Y%m%d}.{extension}"


# A kind with no rows still gets its header, so the file says what would be there.
_EMPTY_COLUMNS: dict[str, tuple[str, ...]] = {
    "esims": ("id", "iccid", "eid", "msisdn", "carrier", "status", "label"),
    "subscriptions": ("id", "esim_iccid", "renewal_plan", "state", "auto_renew", "paid_through"),
    "periods": ("subscription_id", "number", "plan", "starts_at", "ends_at", "data_mb", "invoice_number"),
    "payment_methods": ("id", "type", "brand", "last4", "exp_month", "exp_year", "paypal_email"),
    "payments": ("id", "created_at", "purpose", "amount_minor", "currency", "status"),
    "wallet": ("id", "created_at", "amount_minor", "currency", "reason"),
    "invoices": ("number", "issued_at", "description", "total_minor", "currency", "status"),
    "refunds": ("invoice_number", "created_at", "amount_minor", "currency", "status"),
    "messages": ("event_type", "channel", "recipient", "status", "sent_at"),
    "usage": ("esim_iccid", "occurred_at", "bytes", "source"),
}
