"""An eSIM ordered from an SM-DP+ has no number until the carrier gives it one (its line's `add`
completes): pages say so rather than show nothing."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext

register = template.Library()


@register.filter
def number_or_pending(msisdn: str | None) -> str:
    return msisdn or gettext("number to come from the carrier")
