"""Filters the console's pages use to show figures."""

from __future__ import annotations

from typing import Any

from django import template

from simrenew.kit.money import format_money

register = template.Library()


@register.filter
def money(amount_minor: int, currency: str) -> str:
    """Minor units as money, e.g. 2500, "USD" -> $25.00."""
    return format_money(int(amount_minor), str(currency))


@register.filter
def percent(value: Any) -> str:
    return "—" if value is None else f"{value:.1f} %"
