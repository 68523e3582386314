"""How a plan is named to a customer, in the language active now (the page's, or the email's).

Plan names are catalogue data, written by the operator in the catalogue's language
(settings.LANGUAGE_CODE): pages in that language show the operator's name, completed with the
length and data it does not say; pages in any other language compose the name from what the
plan is (carrier, length, data), so that a Chinese page never reads "T-Mobile 1 month · 1 个月".
A number and its unit are glued (no line break between "20" and "GB", nor inside "个月")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from babel.dates import format_date
from babel.numbers import format_percent
from django.conf import settings
from django.utils.timezone import localtime
from django.utils.translation import get_language, gettext, ngettext

from simrenew.kit.money import babel_locale, format_gigabytes, format_money

NO_BREAK_SPACE = "\u00a0"
# Joins two ideographs that must stay on one line ("个月"): a break is allowed between any two
# CJK characters otherwise (Unicode line breaking, UAX #14).
WORD_JOINER = "\u2060"
_SPACE_AFTER_NUMBER = re.compile(r"(?<=\d) (?=\S)")
_BETWEEN_IDEOGRAPHS = re.compile(r"(?<=[\u3400-\u9fff])(?=[\u3400-\u9fff])")


class PlanFacts(Protocol):
    """What a plan's customer-facing name is made of (a Plan, or a row of its values)."""

    @property
    def name(self) -> str: ...
    @property
    def period_unit(self) -> str: ...
    @property
    def period_count(self) -> int: ...
    @property
    def data_mb(self) -> int: ...


@dataclass(frozen=True)
class PlanValues:
    """A plan's naming values read as a row (a message's or receipt's query joins them in),
    named as `Plan.display_name` names the plan: in the language active when it is asked."""

    name: str
    period_unit: str
    period_count: int
    data_mb: int
    carrier_name: str

    @property
    def display_name(self) -> str:
        return plan_display_name(self, self.carrier_name)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], prefix: str) -> PlanValues:
        """The values a query read through `plan_value_paths(prefix)`."""
        return cls(**{field: row[path] for field, path in plan_value_paths(prefix).items()})


# Where each PlanValues field is found from a plan (its carrier's name through the relation).
_PLAN_VALUE_SOURCES = {
    "name": "name",
    "period_unit": "period_unit",
    "period_count": "period_count",
    "data_mb": "data_mb",
    "carrier_name": "carrier__name",
}


def plan_value_paths(prefix: str) -> dict[str, str]:
    """Each PlanValues field and the lookup that reads it through `prefix` (e.g. "period__plan__"),
    for a `values()` query or a JSONObject: the one list of what a plan's name is made of."""
    return {field: f"{prefix}{source}" for field, source in _PLAN_VALUE_SOURCES.items()}


def unbreakable(text: str) -> str:
    """“1 个月” → one line: a no-break space after the number, ideographs joined."""
    return _BETWEEN_IDEOGRAPHS.sub(WORD_JOINER, _SPACE_AFTER_NUMBER.sub(NO_BREAK_SPACE, text))


def period_length(unit: str, count: int, *, in_weeks: bool = True) -> str:
    """“1 month”; 7 days is “1 week” (in days with `in_weeks=False`): the length a customer
    thinks in, in the active language."""
    if in_weeks and unit == "day" and count % 7 == 0:
        weeks = count // 7
        text = ngettext("%(count)d week", "%(count)d weeks", weeks) % {"count": weeks}
    elif unit == "day":
        text = ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
    elif unit == "month":
        text = ngettext("%(count)d month", "%(count)d months", count) % {"count": count}
    else:
        text = ngettext("%(count)d year", "%(count)d years", count) % {"count": count}
    return unbreakable(text)


def data_amount(data_mb: int) -> str:
    """“20 GB” (1 GB = 1024 MB, the carriers' way), digits grouped for the active language."""
    amount = format_gigabytes(data_mb, babel_locale(get_language() or settings.LANGUAGE_CODE))
    return unbreakable(gettext("%(amount)s GB") % {"amount": amount})


def plan_display_name(plan: PlanFacts, carrier_name: str) -> str:
    """“AT&T 1 month · 20 GB”; in Chinese “AT&T 1 个月 · 20 GB”. See the module's note."""
    length = period_length(plan.period_unit, plan.period_count)
    data = data_amount(plan.data_mb)
    if (get_language() or settings.LANGUAGE_CODE) != settings.LANGUAGE_CODE:
        return f"{carrier_name} {length} · {data}"
    # The operator's name, then what it does not say already (a week named in days says it).
    plain = plan.name.replace(NO_BREAK_SPACE, " ")
    lengths = {
        period_length(plan.period_unit, plan.period_count),
        period_length(plan.period_unit, plan.period_count, in_weeks=False),
    }
    parts = [plan.name]
    if not any(length.replace(NO_BREAK_SPACE, " ") in plain for length in lengths):
        parts.append(length)
    if data.replace(NO_BREAK_SPACE, " ") not in plain:
        parts.append(data)
    return " · ".join(parts)


def top_up_display_name(*, name: str, data_mb: int, carrier_name: str) -> str:
    """“AT&T +1 GB” as the operator named the pack; in another language “AT&T 1 GB 流量充值”, composed
    from what it is (its name is catalogue data, in the catalogue's language, as a plan's is)."""
    if (get_language() or settings.LANGUAGE_CODE) == settings.LANGUAGE_CODE:
        return name
    return gettext("%(carrier)s %(data)s data top-up") % {"carrier": carrier_name, "data": data_amount(data_mb)}


class PromotionFacts(Protocol):
    code: str
    discount_kind: str
    percent_off: int
    amount_off_minor: int
    currency: str
    bonus_data_mb: int
    valid_until: datetime | None
    max_per_customer: int | None
    eligible_plan_codes: list[str]


def promotion_offer(promotion: PromotionFacts) -> str:
    """“10 % off, once per customer, until Jan 31, 2027”, from the promotion's terms (its
    description is the operator's note, in one language), in the active language and zone."""
    language = get_language() or settings.LANGUAGE_CODE
    locale = babel_locale(language)
    parts = []
    if promotion.discount_kind == "fixed" and promotion.amount_off_minor:
        amount = format_money(promotion.amount_off_minor, promotion.currency, language)
        parts.append(gettext("%(amount)s off") % {"amount": amount})
    elif promotion.percent_off:
        percent = format_percent(promotion.percent_off / 100, locale=locale)
        parts.append(gettext("%(percent)s off") % {"percent": unbreakable(percent)})
    if promotion.bonus_data_mb:
        parts.append(gettext("%(data)s of extra data") % {"data": data_amount(promotion.bonus_data_mb)})
    if promotion.eligible_plan_codes:
        parts.append(gettext("on some plans"))
    if promotion.max_per_customer == 1:
        parts.append(gettext("once per customer"))
    if promotion.valid_until is not None:
        until = format_date(localtime(promotion.valid_until), "medium", locale=locale)
        parts.append(gettext("until %(date)s") % {"date": until})
    return gettext(", ").join(parts)
