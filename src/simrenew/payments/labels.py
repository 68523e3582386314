"""How a payment method is named to its owner, in the active language: brand and
last four digits, PayPal by its address, never more."""

from __future__ import annotations

from django.utils.translation import gettext

from simrenew.payments.models import MethodType, PaymentMethod

CARD_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}


def card_label(*, brand: str, last4: str, debit: bool = False) -> str:
    name = CARD_BRANDS.get(brand, brand.title() if brand and brand != "card" else gettext("Card"))
    if debit:
        return gettext("%(brand)s debit card ending %(last4)s") % {"brand": name, "last4": last4}
    return gettext("%(brand)s card ending %(last4)s") % {"brand": name, "last4": last4}


def method_label(method: PaymentMethod) -> str:
    if method.type == MethodType.WALLET:
        return gettext("Wallet balance")
    if method.type == MethodType.PAYPAL:
        return gettext("PayPal (%(email)s)") % {"email": method.paypal_email}
    if method.type == MethodType.ALIPAY:
        return gettext("Alipay")
    if method.type == MethodType.WECHAT_PAY:
        return gettext("WeChat Pay")
    return card_label(brand=method.brand, last4=method.last4, debit=method.type == MethodType.DEBIT)
