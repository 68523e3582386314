"""Time zones as customers read them: Babel's (CLDR) names in the page's language instead of IANA
identifiers ("Eastern Time (New York)" in English and Chinese alike, not "America/New_York"), and a
choice list that starts with the zones a customer most likely lives in."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale
from babel.core import get_global
from babel.dates import format_date, format_time, get_datetime_format, get_timezone_location, get_timezone_name
from django.utils.translation import gettext

from simrenew.kit.money import babel_locale

# The demo carriers are American: most customers live on one of these clocks, east to west.
US_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
)
# Legacy and administrative names (US/Eastern, Etc/GMT+5, …) duplicate a place's zone.
_NOT_A_PLACE = ("Etc/", "SystemV/", "US/", "Brazil/", "Canada/", "Chile/", "Mexico/")
_FALLBACK_CITY = re.compile(r"[A-Za-z]+/")
_LATIN = re.compile(r"[A-Za-z]")


def _loads(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def is_zone(name: str) -> bool:
    """A zone that names a place (Europe/Paris), not an alias of convenience (US/Eastern, Etc/GMT+5)."""
    return _loads(name) and "/" in name and not name.startswith(_NOT_A_PLACE)


@cache
def place_zones() -> tuple[str, ...]:
    """Every IANA zone that names a place (about 500)."""
    aliases = get_global("zone_aliases")  # old names of a zone (Europe/Kiev): listed once, by the current
    return tuple(
        sorted(
            zone
            for zone in available_timezones()
            if "/" in zone and not zone.startswith(_NOT_A_PLACE) and zone not in aliases
        )
    )


@cache
def _cldr_names() -> dict[str, list[str]]:
    """IANA zone → the older names CLDR may file its city under (America/Argentina/Buenos_Aires
    is CLDR's America/Buenos_Aires)."""
    names: dict[str, list[str]] = {}
    for alias, zone in get_global("zone_aliases").items():
        names.setdefault(zone, []).append(alias)
    return names


@cache
def zone_location(zone: str, language: str) -> str:
    """“United States (New York) Time”: where the clock is, in `language`. Where CLDR has no name
    for the city in that language, the country alone."""
    locale = Locale.parse(babel_locale(language))
    labels = []
    for name in (zone, *_cldr_names().get(zone, [])):
        if not is_zone(name) and name != zone:
            continue
        try:
            label = get_timezone_location(ZoneInfo(name), locale=locale)
        except (LookupError, ValueError):
            continue
        if not _FALLBACK_CITY.search(label) and not _untranslated_city(label, locale):
            return label
        labels.append(label)
    # The country alone ("乌克兰时间"), rather than an English city inside a Chinese name.
    territory = get_global("zone_territories").get(get_global("zone_aliases").get(zone, zone))
    country = locale.territories.get(territory or "")
    if country and locale.language != "en":
        return str(locale.zone_formats["region"] % country)
    return labels[0] if labels else zone.replace("_", " ")


def _untranslated_city(label: str, locale: Locale) -> bool:
    """Babel fell back on the identifier's English city inside a name in another language."""
    return locale.language != "en" and _LATIN.search(label) is not None


@cache
def zone_label(zone: str, language: str) -> str:
    """For a choice list and running text: the zone's generic name and its city, “Eastern Time
    (New York)”; where CLDR lacks either, where the clock is (zone_location)."""
    locale = Locale.parse(babel_locale(language))
    if zone == "UTC":  # CLDR calls it "Unknown Region (UTC) Time"; the abbreviation is universal
        return "UTC"
    try:
        tz = ZoneInfo(zone)
        generic = get_timezone_name(tz, "long", locale=locale)
        city = get_timezone_location(tz, locale=locale, return_city=True)
    except (LookupError, ValueError, ZoneInfoNotFoundError):
        return zone.replace("_", " ")
    location = zone_location(zone, language)
    if any(_FALLBACK_CITY.search(text) or _untranslated_city(text, locale) for text in (generic, city)):
        return location
    if generic == location or city in generic:
        return generic
    # Chinese takes full-width brackets.
    opening, closing = ("\uff08", "\uff09") if locale.language == "zh" else (" (", ")")
    return f"{generic}{opening}{city}{closing}"


def zone_name(zone: str, language: str) -> str:
    """A zone named in running text, in `language` (an unknown name is shown as it is)."""
    return zone_label(zone, language) if _loads(zone) else zone


def time_zone_choices(language: str, *, first: tuple[str, ...] = ()) -> list[tuple[str, list[tuple[str, str]]]]:
    """Django choices: the likely zones (`first`: the customer's and the browser's, then the US
    zones) in a group of their own, then every other place, by its name in `language`."""
    # The customer's own zone stays choosable even when it is an old name (US/Eastern) or UTC.
    likely = list(dict.fromkeys((*(zone for zone in first if _loads(zone)), *US_ZONES)))
    named = ((zone, zone_location(zone, language)) for zone in place_zones() if zone not in likely)
    # A zone CLDR cannot name in the page's language yet (a new one, such as America/Coyhaique) is
    # left out of that language's list rather than shown in English; the customer's own stays.
    locale = Locale.parse(babel_locale(language))
    others = sorted(
        ((zone, label) for zone, label in named if not _untranslated_city(label, locale)),
        key=lambda choice: choice[1],
    )
    likely_choices = [(zone, zone_label(zone, language)) for zone in likely]
    return [(gettext("Likely time zones"), likely_choices), (gettext("All time zones"), others)]


def local_date_time(moment: datetime, zone: ZoneInfo, language: str) -> str:
    """“Dec 5, 2026, 2:48 AM” (“2026年12月5日 02:48”): the date as CLDR's medium pattern, the time to
    the minute. Customers read a moment to the minute; seconds ("02:48:35") are noise. The one way
    pages and messages show a moment (the zone, where it matters, is said beside it)."""
    local = moment.astimezone(zone)
    locale = babel_locale(language)
    pattern = str(get_datetime_format("medium", locale=locale))  # "{1}, {0}": date, then time
    return pattern.format(format_time(local, "short", locale=locale), format_date(local, "medium", locale=locale))
