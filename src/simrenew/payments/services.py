"""Payment methods and the wallet. Services never commit; the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import F

from simrenew.customers.models import Customer
from simrenew.kit import clock
from simrenew.kit.errors import Conflict, FieldError, NotFound, ValidationFailed
from simrenew.payments.gateway import CardDetails, TokenizationError, TokenizedMethod, get_gateway
from simrenew.payments.models import ONE_OFF_TYPES, MethodType, PaymentAttempt, PaymentMethod, Wallet, WalletEntry


@dataclass(frozen=True, slots=True)
class NewMethod:
    type: str
    number: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    cvc: str | None = None
    paypal_email: str | None = None


@dataclass(frozen=True, slots=True)
class TokenizedNewMethod:
    """What the gateway gave back for new card or PayPal details: nothing secret."""

    type: str
    gateway: str
    tokenized: TokenizedMethod
    paypal_email: str = ""


def tokenize(method: NewMethod) -> TokenizedNewMethod | None:
    """Hand card or PayPal details to the gateway (an outside call: keep it out of
    transactions). None for the wallet, which needs no token."""
    if method.type not in MethodType.values:
        raise ValidationFailed.on("type", f"Unknown payment method type; use one of {', '.join(MethodType.values)}.")
    if method.type == MethodType.WALLET:
        return None
    if method.type in ONE_OFF_TYPES:
        raise ValidationFailed.on(
            "type", "Alipay and WeChat Pay are paid on their own page each time: nothing is saved."
        )
    gateway = get_gateway()
    try:
        if method.type == MethodType.PAYPAL:
            email = (method.paypal_email or "").strip()
            try:
                validate_email(email)
            except DjangoValidationError:
                raise ValidationFailed.on("paypal_email", "Enter the email address of your PayPal account.") from None
            return TokenizedNewMethod(method.type, gateway.name, gateway.tokenize_paypal(email), email)
        missing = [f for f in ("number", "exp_month", "exp_year", "cvc") if getattr(method, f) in (None, "")]
        if missing:
            raise ValidationFailed(
                "Card details are incomplete.",
                errors=[FieldError(f, "This field is required for a card.") for f in missing],
            )
        card = CardDetails(str(method.number), int(method.exp_month or 0), int(method.exp_year or 0), str(method.cvc))
        return TokenizedNewMethod(method.type, gateway.name, gateway.tokenize_card(card))
    except TokenizationError as exc:
        raise ValidationFailed.on(exc.field, exc.message) from None


def save_payment_method(
    *, customer: Customer, tokenized: TokenizedNewMethod | None, make_default: bool = False
) -> PaymentMethod:
    """Keep a tokenized method (or the wallet, for None) for the customer."""
    if tokenized is None:
        return wallet_method(customer)
    has_default = PaymentMethod.objects.filter(customer=customer, is_default=True, removed_at__isnull=True).exists()
    if make_default and has_default:
        PaymentMethod.objects.filter(customer=customer, is_default=True).update(is_default=False)
    token = tokenized.tokenized
    return PaymentMethod.objects.create(
        customer=customer,
        type=tokenized.type,
        gateway=tokenized.gateway,
        token=token.token,
        brand=token.brand,
        last4=token.last4,
        exp_month=token.exp_month,
        exp_year=token.exp_year,
        provider_customer=token.provider_customer,
        paypal_email=tokenized.paypal_email,
        is_default=make_default or not has_default,
        created_at=clock.now(),
    )


def keep_method_once(*, customer: Customer, tokenized: TokenizedNewMethod, make_default: bool = False) -> PaymentMethod:
    """Keep what a provider's page saved, or the method already kept for the same token (the page
    sending the customer back twice: a reload, a double click). The caller owns the transaction."""
    kept = PaymentMethod.objects.filter(
        customer=customer, gateway=tokenized.gateway, token=tokenized.tokenized.token, removed_at__isnull=True
    ).first()
    if kept is not None:
        return kept
    return save_payment_method(customer=customer, tokenized=tokenized, make_default=make_default)


def add_payment_method(*, customer: Customer, method: NewMethod, make_default: bool = False) -> PaymentMethod:
    """Tokenize and keep, for callers outside a transaction (the gateway is called first)."""
    return save_payment_method(customer=customer, tokenized=tokenize(method), make_default=make_default)


def wallet_method(customer: Customer) -> PaymentMethod:
    """The customer's wallet as a payment method (one per customer)."""
    ensure_wallet(customer)
    existing = PaymentMethod.objects.filter(customer=customer, type=MethodType.WALLET, removed_at__isnull=True).first()
    if existing is not None:
        return existing
    has_default = PaymentMethod.objects.filter(customer=customer, is_default=True, removed_at__isnull=True).exists()
    return PaymentMethod.objects.create(
        customer=customer,
        type=MethodType.WALLET,
        brand="wallet",
        is_default=not has_default,
        created_at=clock.now(),
    )


def one_off_method(customer: Customer, method_type: str) -> PaymentMethod:
    """The customer's Alipay or WeChat Pay, for an attempt to name (made when first used): paid on
    the provider's page each time, so it keeps nothing but its type and provider."""
    if method_type not in ONE_OFF_TYPES:
        raise ValidationFailed.on("payment_method_id", "This is not a way to pay on the provider's page.")
    method, _ = PaymentMethod.every.get_or_create(
        customer=customer,
        type=method_type,
        removed_at=None,
        defaults={"gateway": get_gateway().name, "brand": method_type, "created_at": clock.now()},
    )
    return method


def get_method(*, customer: Customer, method_id: int, field: str = "payment_method_id") -> PaymentMethod:
    method = PaymentMethod.objects.filter(pk=method_id, customer=customer, removed_at__isnull=True).first()
    if method is None:
        raise NotFound(f"Payment method {method_id} not found for this customer.", code=field)
    return method


def remove_payment_method(method: PaymentMethod) -> None:
    if method.removed_at is not None:
        return
    method.removed_at = clock.now()
    method.is_default = False
    method.save(update_fields=["removed_at", "is_default"])


def make_default(method: PaymentMethod) -> PaymentMethod:
    if method.removed_at is not None:
        raise Conflict("A removed payment method cannot be the default.")
    PaymentMethod.objects.filter(customer_id=method.customer_id, is_default=True).exclude(pk=method.pk).update(
        is_default=False
    )
    method.is_default = True
    method.save(update_fields=["is_default"])
    return method


def ensure_wallet(customer: Customer) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(customer=customer, defaults={"currency": "USD"})
    return wallet


def credit_wallet(
    *, customer: Customer, amount_minor: int, reason: str, attempt: PaymentAttempt | None = None
) -> Wallet:
    if amount_minor <= 0:
        raise ValidationFailed.on("amount_minor", "A wallet credit must be a positive amount.")
    wallet = ensure_wallet(customer)
    Wallet.objects.filter(pk=wallet.pk).update(balance_minor=F("balance_minor") + amount_minor)
    WalletEntry.objects.create(
        wallet=wallet,
        amount_minor=amount_minor,
        reason=reason,
        payment_attempt=attempt,
        created_at=clock.now(),
    )
    wallet.refresh_from_db(fields=["balance_minor"])
    return wallet


def debit_wallet(*, customer: Customer, amount_minor: int, reason: str, attempt: PaymentAttempt | None) -> bool:
    """Take `amount_minor` from the wallet if the balance covers it; False (and nothing changed) if not."""
    wallet = ensure_wallet(customer)
    taken = Wallet.objects.filter(pk=wallet.pk, balance_minor__gte=amount_minor).update(
        balance_minor=F("balance_minor") - amount_minor
    )
    if not taken:
        return False
    WalletEntry.objects.create(
        wallet=wallet,
        amount_minor=-amount_minor,
        reason=reason,
        payment_attempt=attempt,
        created_at=clock.now(),
    )
    return True
