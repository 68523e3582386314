"""Payment methods (gateway tokens, never card numbers) and the wallet.

The rules every paying route shares (how an attempt is shown, its HTTP status, the gateway's
idempotency key) are in `api.routers.common`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from simrenew.api.idempotency import idempotent
from simrenew.api.pagination import Page, paginate
from simrenew.api.routers.common import (
    PaymentOutcome,
    Text,
    customer_or_404,
    gateway_idempotency_key,
    invoice_of,
    payment_http_status,
    payment_method_ref,
    payment_outcome,
    replayed_attempt,
)
from simrenew.api.schemas import ID_MAX, InputSchema, PageQuery
from simrenew.billing.wallet_top_ups import begin_wallet_top_up
from simrenew.customers.models import Customer
from simrenew.kit.errors import FieldError, NotFound, ValidationFailed
from simrenew.payments import services
from simrenew.payments.charging import run_charge
from simrenew.payments.models import AttemptPurpose, PaymentAttempt, PaymentMethod, Wallet
from simrenew.payments.services import NewMethod

router = Router(tags=["payment methods"])
# Mounted at /customers: the wallet is the customer's.
wallet_router = Router(tags=["wallet"])

MethodId = Annotated[int, Path(ge=1, le=ID_MAX, description="The payment method's id.")]
CustomerId = Annotated[int, Path(ge=1, le=ID_MAX, description="The customer's id.")]
# Amounts a single payment may carry; the services apply the real limits.
AMOUNT_MAX = 2**31 - 1
WALLET_DEFAULT_CURRENCY = "USD"

# --- payment methods ----------------------------------------------------------------------------


class PaymentMethodIn(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 7,
                    "type": "card",
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "cvc": "123",
                    "make_default": True,
                }
            ]
        }
    )

    customer_id: int = Field(..., ge=1, le=ID_MAX)
    type: Literal["card", "debit", "paypal", "wallet"]
    number: Text | None = Field(
        None,
        max_length=32,
        description="Card number (card, debit). Passed to the gateway for a token; never stored or shown.",
    )
    exp_month: int | None = Field(None, ge=1, le=12)
    exp_year: int | None = Field(None, ge=1, le=9999, description="Four digits, e.g. 2030.")
    cvc: Text | None = Field(None, max_length=8, description="Never stored or shown.")
    paypal_email: Text | None = Field(None, max_length=254, description="For paypal.")
    make_default: bool = Field(False, description="Use it for renewals from now on.")

    def misplaced_fields(self) -> list[FieldError]:
        """Fields that do not belong to the type (a card number on PayPal is a mistake to point out,
        not to ignore). Messages never repeat a submitted value: it may be a card number."""
        errors = []
        if self.type in ("paypal", "wallet"):
            for name in ("number", "exp_month", "exp_year", "cvc"):
                if getattr(self, name) is not None:
                    errors.append(FieldError(name, f"Only a card or debit card has this, not {self.type}."))
        if self.type != "paypal" and self.paypal_email is not None:
            errors.append(FieldError("paypal_email", "Only a PayPal account has this."))
        return errors


class PaymentMethodOut(Schema):
    id: int
    customer_id: int
    type: Literal["card", "debit", "paypal", "wallet"]
    brand: str | None = Field(..., description="visa, mastercard, …, paypal or wallet.")
    last4: str | None = Field(..., description="The last four digits of a card.")
    exp_month: int | None
    exp_year: int | None
    paypal_email: str | None
    is_default: bool

    @staticmethod
    def resolve_brand(method: PaymentMethod) -> str | None:
        return method.brand or None

    @staticmethod
    def resolve_last4(method: PaymentMethod) -> str | None:
        return method.last4 or None

    @staticmethod
    def resolve_paypal_email(method: PaymentMethod) -> str | None:
        return method.paypal_email or None


class PaymentMethodList(Schema):
    items: list[PaymentMethodOut]
    has_more: bool
    next_starting_after: int | None


class PaymentMethodQuery(PageQuery):
    customer_id: int | None = Field(None, ge=1, le=ID_MAX, description="Only this customer's methods.")


def _method(method_id: int, *, lock: bool = False) -> PaymentMethod:
    methods = PaymentMethod.objects.select_for_update() if lock else PaymentMethod.objects.all()
    method = methods.filter(pk=method_id, removed_at__isnull=True).first()
    if method is None:
        raise NotFound(f"No payment method with id {method_id}.")
    return method


@router.post("", response={201: PaymentMethodOut}, summary="Add a payment method")
@idempotent()
def create_payment_method(request: HttpRequest, payload: PaymentMethodIn) -> Status:
    """Card details go to the gateway, which returns a token; only the token, brand, last four
    digits and expiry are kept. A wallet method is the customer's wallet balance (one per customer)."""
    misplaced = payload.misplaced_fields()
    if misplaced:
        raise ValidationFailed(f"{misplaced[0].field}: {misplaced[0].message}", errors=misplaced)
    customer = customer_or_404(payload.customer_id)
    # The gateway call happens before the transaction opens, never inside it.
    tokenized = services.tokenize(
        NewMethod(
            type=payload.type,
            number=payload.number,
            exp_month=payload.exp_month,
            exp_year=payload.exp_year,
            cvc=payload.cvc,
            paypal_email=payload.paypal_email,
        )
    )
    with transaction.atomic():
        customer = customer_or_404(payload.customer_id)
        method = services.save_payment_method(customer=customer, tokenized=tokenized, make_default=payload.make_default)
        if payload.make_default and not method.is_default:
            method = services.make_default(method)
    return Status(201, method)


@router.get("", response=PaymentMethodList, summary="List payment methods")
def list_payment_methods(request: HttpRequest, query: Query[PaymentMethodQuery]) -> Page[PaymentMethod]:
    """Methods in use (removed ones are not listed), oldest first."""
    methods = PaymentMethod.objects.filter(removed_at__isnull=True)
    if query.customer_id is not None:
        methods = methods.filter(customer_id=query.customer_id)
    return paginate(methods, limit=query.limit, starting_after=query.starting_after)


@router.get("/{method_id}", response=PaymentMethodOut, summary="Get a payment method")
def get_payment_method(request: HttpRequest, method_id: MethodId) -> PaymentMethod:
    """A method in use: brand, last four digits and expiry of a card, or the PayPal address. Never the
    card number."""
    return _method(method_id)


@router.delete("/{method_id}", response={204: None}, summary="Remove a payment method")
@idempotent()
def delete_payment_method(request: HttpRequest, method_id: MethodId) -> Status:
    """Past payments keep pointing at it; it can no longer pay. A subscription that renews with it
    needs another method (PATCH /subscriptions/{id})."""
    with transaction.atomic():
        services.remove_payment_method(_method(method_id, lock=True))
    return Status(204, None)


@router.post("/{method_id}/default", response=PaymentMethodOut, summary="Make it the customer's default")
@idempotent()
def make_default_payment_method(request: HttpRequest, method_id: MethodId) -> PaymentMethod:
    """The customer's renewals use it from now on, unless a subscription names its own."""
    with transaction.atomic():
        return services.make_default(_method(method_id, lock=True))


# --- the wallet ---------------------------------------------------------------------------------


class WalletOut(Schema):
    customer_id: int
    balance_minor: int = Field(..., description="In minor units (cents) of `currency`.")
    currency: str


class WalletTopUpIn(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"payment_method_id": 18, "amount_minor": 2000}]})

    payment_method_id: int = Field(..., ge=1, le=ID_MAX, description="A card or PayPal account.")
    amount_minor: int = Field(..., ge=1, le=AMOUNT_MAX, description="In minor units; 100 to 100000.")


class WalletTopUpOut(Schema):
    id: int = Field(..., description="The payment's id.")
    customer_id: int
    status: PaymentOutcome
    failure_code: str | None
    failure_message: str | None
    amount_minor: int
    currency: str
    invoice_id: int | None
    invoice_number: str | None
    balance_minor: int = Field(..., description="The wallet balance after this payment.")


def _wallet(customer: Customer) -> WalletOut:
    # Reading never creates the wallet: no wallet yet is an empty one.
    wallet = Wallet.objects.filter(customer=customer).first()
    if wallet is None:
        return WalletOut(customer_id=customer.pk, balance_minor=0, currency=WALLET_DEFAULT_CURRENCY)
    return WalletOut(customer_id=customer.pk, balance_minor=wallet.balance_minor, currency=wallet.currency)


@wallet_router.get("/{customer_id}/wallet", response=WalletOut, summary="Get a customer's wallet balance")
def get_wallet(request: HttpRequest, customer_id: CustomerId) -> WalletOut:
    """The balance in minor units; a customer who never topped up has an empty wallet."""
    return _wallet(customer_or_404(customer_id, field=None))


@wallet_router.post(
    "/{customer_id}/wallet/top-ups",
    response={201: WalletTopUpOut, 202: WalletTopUpOut, 402: WalletTopUpOut},
    summary="Add money to a customer's wallet",
)
@idempotent()
def top_up_wallet(request: HttpRequest, customer_id: CustomerId, payload: WalletTopUpIn) -> Status:
    """201 when paid, 402 when the payment was refused (with `failure_code` and `failure_message`),
    202 when the gateway's answer is not known yet (it is looked up later; never charged twice)."""
    key = gateway_idempotency_key(request)

    def begin() -> PaymentAttempt:
        customer = customer_or_404(customer_id, field=None)
        method = payment_method_ref(payload.payment_method_id)
        replayed = replayed_attempt(
            key,
            purpose=AttemptPurpose.WALLET_TOP_UP,
            customer_id=customer.pk,
            same=lambda a: (a.payment_method_id, a.amount_minor) == (method.pk, payload.amount_minor),
        )
        if replayed is not None:
            return replayed
        return begin_wallet_top_up(
            customer=customer, payment_method=method, amount_minor=payload.amount_minor, idempotency_key=key
        )

    attempt = run_charge(begin)
    attempt = PaymentAttempt.objects.select_related("invoice", "customer").get(pk=attempt.pk)
    invoice = invoice_of(attempt)
    wallet = _wallet(attempt.customer)
    return Status(
        payment_http_status(attempt),
        WalletTopUpOut(
            id=attempt.pk,
            customer_id=attempt.customer_id,
            status=payment_outcome(attempt),
            failure_code=attempt.failure_code or None,
            failure_message=attempt.failure_message or None,
            amount_minor=attempt.amount_minor,
            currency=attempt.currency,
            invoice_id=invoice.pk if invoice else None,
            invoice_number=invoice.number if invoice else None,
            balance_minor=wallet.balance_minor,
        ),
    )
