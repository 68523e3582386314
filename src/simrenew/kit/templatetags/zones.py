"""`{{ customer.time_zone|zone_name }}`: a time zone as people say it, in the page's language
(“Eastern Time (New York)”), never its IANA identifier."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.translation import get_language

from simrenew.kit.timezones import zone_name as babel_zone_name

register = template.Library()


@register.filter
def zone_name(zone: str) -> str:
    return babel_zone_name(str(zone), get_language() or settings.LANGUAGE_CODE)
