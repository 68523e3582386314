"""Money: integer minor units with a currency, shown with Babel in the customer's language."""

from __future__ import annotations

import pytest

from simrenew.kit.errors import ValidationFailed
from simrenew.kit.money import Money, format_money


@pytest.mark.parametrize(
    ("amount_minor", "currency", "locale", "shown"),
    [
        (2500, "USD", "en", "$25.00"),
        (2500, "USD", "zh-hans", "US$25.00"),
        (123456, "USD", "en", "$1,234.56"),
        (5, "USD", "en", "$0.05"),
        (0, "USD", "en", "$0.00"),
        (2500, "JPY", "en", "¥2,500"),  # no minor unit
        (2500, "JPY", "zh-hans", "JP¥2,500"),
        (2500, "CNY", "zh-hans", "¥25.00"),
        (2500, "CNY", "en", "CN¥25.00"),
        (123450, "EUR", "en", "€1,234.50"),
        (1000, "KWD", "en", "KWD1.000"),  # three decimals
    ],
)
def test_amounts_are_shown_in_the_customers_language(amount_minor, currency, locale, shown):
    assert format_money(amount_minor, currency, locale).replace("\xa0", " ") == shown


def test_money_formats_itself():
    assert Money(2500, "USD").format("zh-hans") == "US$25.00"
    assert Money(2500, "USD").format() == "$25.00"


def test_money_adds_and_subtracts_in_one_currency_only():
    assert Money(2500, "USD") + Money(199, "USD") == Money(2699, "USD")
    assert Money(2500, "USD") - Money(2500, "USD") == Money(0, "USD")
    with pytest.raises(ValueError, match="cannot mix"):
        Money(2500, "USD") + Money(2500, "EUR")


@pytest.mark.parametrize(
    ("amount_minor", "percent", "off"),
    [(2500, 10, 250), (2505, 10, 251), (2504, 10, 250), (1, 50, 1), (1, 49, 0), (999, 100, 999), (999, 0, 0)],
)
def test_percent_off_rounds_half_up_and_never_exceeds_the_amount(amount_minor, percent, off):
    assert Money(amount_minor, "USD").percent_off(percent) == Money(off, "USD")


@pytest.mark.parametrize("amount_minor", [25.0, "2500", True])
def test_amounts_are_integers_never_floats(amount_minor):
    with pytest.raises(TypeError):
        Money(amount_minor, "USD")


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", ""])
def test_currencies_are_iso_4217_codes(currency):
    with pytest.raises(ValidationFailed) as refused:
        Money(100, currency)

    assert refused.value.errors[0].field == "currency"
