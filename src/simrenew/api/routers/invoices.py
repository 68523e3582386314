"""Invoices (receipts, with gapless numbers) and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from simrenew.api.auth import ApiKeyAuth
from simrenew.api.idempotency import idempotent
from simrenew.api.pagination import Page, paginate
from simrenew.api.routers.common import Text
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.billing.models import Invoice, InvoiceStatus, Refund
from simrenew.billing.refunds import refund_invoice
from simrenew.kit.errors import NotFound

router = Router(tags=["invoices"])

InvoiceId = Annotated[int, Path(ge=1, le=ID_MAX, description="The invoice's id.")]


class InvoiceOut(Schema):
    id: int
    number: str = Field(..., description="Gapless, e.g. SR-00000042.")
    customer_id: int
    subscription_id: int | None
    description: str
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    refunded_minor: int
    currency: str
    status: InvoiceStatus
    issued_at: datetime


class InvoiceList(Schema):
    items: list[InvoiceOut]
    has_more: bool
    next_starting_after: int | None


class InvoiceQuery(PageQuery):
    customer_id: int | None = Field(None, ge=1, le=ID_MAX, description="Only this customer's invoices.")
    subscription_id: int | None = Field(None, ge=1, le=ID_MAX, description="Only this subscription's.")
    status: InvoiceStatus | None = Field(None, description="Only invoices in this state.")


class RefundIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount_minor": 500, "reason": "Customer could not connect abroad", "to_wallet": False}]
        }
    )

    amount_minor: int = Field(..., ge=1, le=ID_MAX, description="At most what is left to refund.")
    reason: Text = Field(..., min_length=1, max_length=200)
    to_wallet: bool = Field(False, description="Credit the customer's wallet instead of the card or account that paid.")


class RefundOut(Schema):
    id: int
    invoice_id: int
    amount_minor: int
    currency: str
    reason: str
    to_wallet: bool = Field(..., description="True when the money went to the customer's wallet.")
    created_at: datetime
    invoice: InvoiceOut = Field(..., description="The invoice after the refund.")


def _invoice(invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_related("payment_attempt__payment_method").filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"No invoice with id {invoice_id}.")
    return invoice


@router.get("", response=InvoiceList, summary="List invoices")
def list_invoices(request: HttpRequest, query: Query[InvoiceQuery]) -> Page[Invoice]:
    """Oldest first, paged by id; filter by customer, subscription or status."""
    invoices = Invoice.objects.all()
    if query.customer_id is not None:
        invoices = invoices.filter(customer_id=query.customer_id)
    if query.subscription_id is not None:
        invoices = invoices.filter(subscription_id=query.subscription_id)
    if query.status is not None:
        invoices = invoices.filter(status=query.status)
    return paginate(invoices, limit=query.limit, starting_after=query.starting_after)


@router.get("/{invoice_id}", response=InvoiceOut, summary="Get an invoice")
def get_invoice(request: HttpRequest, invoice_id: InvoiceId) -> Invoice:
    """An invoice (receipt) with its gapless number, amounts in minor units and what was refunded."""
    return _invoice(invoice_id)


@router.post(
    "/{invoice_id}/refunds",
    response={201: RefundOut},
    auth=ApiKeyAuth(scope="admin"),
    summary="Refund an invoice, in part or whole (admin)",
)
@idempotent()
def create_refund(request: HttpRequest, invoice_id: InvoiceId, payload: RefundIn) -> Status:
    """Back through the gateway that took the money, or to the wallet (`to_wallet`, and always for
    wallet payments). Send an `Idempotency-Key` so that a retry never refunds twice."""
    # refund_invoice owns its transactions: the gateway is called between two of them.
    made: Refund = refund_invoice(
        invoice=_invoice(invoice_id),
        amount_minor=payload.amount_minor,
        reason=payload.reason,
        to_wallet=payload.to_wallet,
    )
    made.invoice = _invoice(invoice_id)
    return Status(201, made)
