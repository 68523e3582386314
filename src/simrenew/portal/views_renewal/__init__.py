"""Renew, pay, confirmation and receipts; payment history, payment methods and
the wallet (issue 3, journey steps 3, 4, 5 and 8), one module per step.

Thin views over the services: rules live in subscriptions.renewals,
catalog.services and payments; charges go through `run_charge`, which owns its
transactions, so it is never called inside `transaction.atomic`. Every id in a
URL is looked up through the signed-in customer: another customer's id is a 404.
"""

from simrenew.portal.views_renewal.card_page import card_page, card_saved
from simrenew.portal.views_renewal.checkout import pay, sandbox_gateway_card
from simrenew.portal.views_renewal.choose import renew
from simrenew.portal.views_renewal.payment_settings import (
    payment_method_default,
    payment_method_remove,
    payment_methods,
    payments,
    wallet,
)
from simrenew.portal.views_renewal.paypal_link import paypal_cancelled, paypal_link_page, paypal_linked
from simrenew.portal.views_renewal.receipts import confirmation, receipt_page, receipt_pdf

__all__ = [
    "card_page",
    "card_saved",
    "confirmation",
    "pay",
    "payment_method_default",
    "payment_method_remove",
    "payment_methods",
    "payments",
    "paypal_cancelled",
    "paypal_link_page",
    "paypal_linked",
    "receipt_page",
    "receipt_pdf",
    "renew",
    "sandbox_gateway_card",
    "wallet",
]
