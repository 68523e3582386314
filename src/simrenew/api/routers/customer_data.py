"""A customer's data rights, for partners: their data as JSON or as a zip of CSV files, and the
erasure of their account (admin keys only). The `privacy` service does the work."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema
from pydantic import ConfigDict

from simrenew.api.auth import ApiKeyAuth
from simrenew.api.idempotency import idempotent
from simrenew.api.routers.common import Text
from simrenew.api.schemas import ID_MAX, InputSchema
from simrenew.customers.models import Customer
from simrenew.kit.errors import NotFound
from simrenew.privacy import export
from simrenew.privacy.erasure import erase_customer, finish_erasure

router = Router(tags=["customers"])

CustomerId = Annotated[int, Path(ge=1, le=ID_MAX, description="The customer's id.")]


class ExportQuery(Schema):
    format: Literal["json", "csv"] = Field(
        "json", description="json: one document; csv: a zip holding one CSV file per kind of record."
    )


class ErasureIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "The customer asked by email on 5 December (ticket 4411)."}]}
    )

    reason: Text = Field(..., min_length=1, max_length=500, description="Who asked and how; kept in the audit trail.")


class ErasureOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 42,
                    "reference": "erased-3f9a1c2b7d4e",
                    "erased_at": "2026-12-05T10:00:00+00:00",
                    "subscriptions_ended": [7],
                    "invoices_kept": 3,
                }
            ]
        }
    )

    customer_id: int
    reference: str = Field(..., description="The pseudonymous reference the customer now goes by.")
    erased_at: datetime
    subscriptions_ended: list[int] = Field(..., description="Subscriptions cancelled now (cancel-now refunds apply).")
    invoices_kept: int = Field(
        ..., description="Invoices keeping their billing details until their legal retention ends."
    )


_EXPORT_CONTENT = {
    "application/json": {
        "schema": {
            "type": "object",
            "description": "customer_id, exported_at, and one list of records per kind: profile, "
            "notification_preferences, esims, subscriptions, periods, payment_methods, payments, wallet, "
            "invoices, refunds, messages, usage.",
        }
    },
    "application/zip": {"schema": {"type": "string", "format": "binary"}},
}


def _customer(customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    return customer


@router.get(
    "/{customer_id}/data-export",
    summary="Download everything kept about a customer (JSON or CSV)",
    openapi_extra={"responses": {"200": {"description": "The customer's data.", "content": _EXPORT_CONTENT}}},
)
def export_customer_data(request: HttpRequest, customer_id: CustomerId, query: Query[ExportQuery]) -> HttpResponse:
    """Profile, eSIMs, subscriptions and their periods, payment methods (brand and last four digits,
    never a card number), payments, wallet, invoices, refunds, the messages sent to the customer and
    their usage: what a customer may ask for under GDPR art. 15 and 20 or the CCPA."""
    data = export.customer_data(_customer(customer_id))
    if query.format == "csv":
        response = HttpResponse(export.as_csv_zip(data), content_type="application/zip")
        extension = "zip"
    else:
        response = HttpResponse(export.as_json(data), content_type="application/json")
        extension = "json"
    response["Content-Disposition"] = f'attachment; filename="{export.file_name(data, extension)}"'
    return response


@router.post(
    "/{customer_id}/erasure",
    response={200: ErasureOut},
    auth=ApiKeyAuth(scope="admin"),
    summary="Delete a customer's account and erase their personal data (admin)",
)
@idempotent()
def erase_customer_account(request: HttpRequest, customer_id: CustomerId, payload: ErasureIn) -> ErasureOut:
    """Service ends now (each running subscription is cancelled now, with the operator's cancel-now
    refunds), the login is gone, nothing more is sent to the customer, and their personal data is
    erased or pseudonymized. Invoices keep their billing details until `SIMRENEW_INVOICE_RETENTION_YEARS`
    after issue. Cannot be undone; a second erasure is a 409."""
    with transaction.atomic():
        erasure = erase_customer(_customer(customer_id), requested_by=payload.reason)
    finish_erasure(erasure)
    return ErasureOut(
        customer_id=erasure.customer_id,
        reference=erasure.reference,
        erased_at=erasure.erased_at,
        subscriptions_ended=list(erasure.subscriptions_ended),
        invoices_kept=erasure.invoices_kept,
    )
