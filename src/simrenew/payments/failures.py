"""Why a payment failed: every failure code, the words a customer reads for it, and whether
another try of the same method can succeed. The one catalogue the gateways, the worker, the
portal, the emails and the API read.

Codes are stored on payment attempts and sent in API answers and webhooks, so their values
never change. Messages are stored and sent in English (API, database, webhooks) and marked
with gettext_noop so the catalogs carry them: the portal and the emails translate them on
display (`customer_message`). A gateway may answer with a code not listed here (Stripe has
dozens of decline codes); it is kept as given and worded with `OTHER_FAILURE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext, gettext_noop


class FailureCode(StrEnum):
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    PROCESSING_ERROR = "processing_error"
    PAYPAL_DECLINED = "paypal_declined"
    # The bank wants the cardholder to confirm the payment (3-D Secure) and nobody was there (an
    # off-session renewal): no retry can pass without them, so the customer is asked at once.
    AUTHENTICATION_REQUIRED = "authentication_required"
    # The customer answered their bank's check and it refused (or they gave up on it).
    AUTHENTICATION_FAILED = "authentication_failed"
    # Alipay or WeChat Pay: the customer did not finish (or refused) the payment on their side.
    PAYMENT_NOT_COMPLETED = "payment_not_completed"
    WALLET_INSUFFICIENT_BALANCE = "wallet_insufficient_balance"
    # Nothing reached the gateway (a worker stopped before sending, an outage): nothing was charged.
    GATEWAY_UNREACHABLE = "gateway_unreachable"
    # The sandbox gateway's answer to a key reused for another amount, currency or card.
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    # Auto-renew found no method to charge: not a gateway's answer, but told the same way.
    NO_PAYMENT_METHOD = "no_payment_method"


@dataclass(frozen=True, slots=True)
class Failure:
    message: str  # English, what to do next included; translated on display
    hard_decline: bool = False  # another try of the same method cannot succeed: ask the customer at once


LOST_OR_STOLEN = gettext_noop("Your bank declined the card as reported lost or stolen. Add another card.")

# Keyed by the codes' values: an attempt's stored code (a plain str) finds its entry.
CATALOGUE: dict[str, Failure] = {
    FailureCode.CARD_DECLINED: Failure(gettext_noop("Your card was declined. Try another card or contact your bank.")),
    FailureCode.INSUFFICIENT_FUNDS: Failure(
        gettext_noop("Your card has insufficient funds. Try another card or top up your wallet.")
    ),
    FailureCode.EXPIRED_CARD: Failure(
        gettext_noop("Your card has expired. Add a card with a later expiry date."), hard_decline=True
    ),
    FailureCode.LOST_CARD: Failure(LOST_OR_STOLEN, hard_decline=True),
    FailureCode.STOLEN_CARD: Failure(LOST_OR_STOLEN, hard_decline=True),
    FailureCode.PROCESSING_ERROR: Failure(
        gettext_noop("The card could not be charged because of a processing error. Try again in a moment.")
    ),
    FailureCode.AUTHENTICATION_REQUIRED: Failure(
        gettext_noop("Your bank asks you to confirm this payment. Pay from your plan's page to confirm it."),
        hard_decline=True,
    ),
    FailureCode.AUTHENTICATION_FAILED: Failure(
        gettext_noop("Your bank could not confirm the payment. Try again, or pay with another card.")
    ),
    FailureCode.PAYMENT_NOT_COMPLETED: Failure(
        gettext_noop("The payment was not completed on Alipay or WeChat Pay, and nothing was charged. Try again.")
    ),
    FailureCode.PAYPAL_DECLINED: Failure(
        gettext_noop("PayPal declined the payment. Check your PayPal account or use a card.")
    ),
    FailureCode.WALLET_INSUFFICIENT_BALANCE: Failure(
        gettext_noop("Your wallet balance is too low. Top up your wallet or pay by card.")
    ),
    FailureCode.GATEWAY_UNREACHABLE: Failure(
        gettext_noop("We could not reach the payment provider, and nothing was charged.")
    ),
    FailureCode.IDEMPOTENCY_KEY_REUSED: Failure(gettext_noop("This idempotency key was used for a different charge.")),
    FailureCode.NO_PAYMENT_METHOD: Failure(gettext_noop("No payment method is saved for auto-renew.")),
}

# What a failure says when its code is not one of ours.
OTHER_FAILURE = gettext_noop("The payment was not accepted. Try another payment method.")

HARD_DECLINES: frozenset[str] = frozenset(code for code, failure in CATALOGUE.items() if failure.hard_decline)


def failure_message(code: str) -> str:
    """The English message for `code`, as stored on the attempt and sent by the API."""
    failure = CATALOGUE.get(code)
    return failure.message if failure is not None else OTHER_FAILURE


def customer_message(code: str) -> str:
    """The message for `code` in the active language (the portal's pages, the emails)."""
    return gettext(failure_message(code))


def is_hard_decline(code: str) -> bool:
    return code in HARD_DECLINES
