"""Money is integer minor units plus an ISO 4217 code; shown with Babel per locale."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, format_decimal, get_currency_precision

from simrenew.kit.errors import ValidationFailed

BABEL_LOCALES = {"en": "en_US", "zh-hans": "zh_Hans_CN"}


def babel_locale(locale: str) -> str:
    """Babel's name for one of our locales ("en", "zh-hans")."""
    return BABEL_LOCALES.get(locale, "en_US")


def format_gigabytes(mb: int | float, babel_name: str) -> str:
    """MiB as GB with one decimal, the carriers' way (1 GB = 1024 MB)."""
    return format_decimal(round(mb / 1024, 1), format="#,##0.#", locale=babel_name)


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("amount_minor must be an int")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValidationFailed.on("currency", f"{self.currency!r} is not an ISO 4217 currency code.")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def percent_off(self, percent: int) -> Money:
        """Discount rounded half up to the minor unit, never more than the amount."""
        off = (self.amount_minor * percent * 2 + 100) // 200
        return Money(min(off, self.amount_minor), self.currency)

    def format(self, locale: str = "en") -> str:
        return format_money(self.amount_minor, self.currency, locale)


def format_money(amount_minor: int, currency: str, locale: str = "en") -> str:
    digits = get_currency_precision(currency)
    amount = Decimal(amount_minor).scaleb(-digits)
    return format_currency(amount, currency, locale=BABEL_LOCALES.get(locale, locale))


def decimal_amount(amount_minor: int, currency: str) -> str:
    """An amount as the decimal string APIs such as PayPal's take: 2500 USD is "25.00", 500 JPY "500"."""
    digits = get_currency_precision(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):.{digits}f}"


def minor_amount(value: str, currency: str) -> int:
    """The inverse of `decimal_amount`: "25.00" USD is 2500 (exact: never through a float)."""
    return int(Decimal(value).scaleb(get_currency_precision(currency)).to_integral_exact())
