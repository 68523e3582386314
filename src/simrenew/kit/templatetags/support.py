"""`{% support_email as address %}`: where customers write for help (SIMRENEW_SUPPORT_EMAIL).

A tag rather than a context processor: the 500 page and the emails render without one."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def support_email() -> str:
    return str(getattr(settings, "SIMRENEW_SUPPORT_EMAIL", "") or "")
