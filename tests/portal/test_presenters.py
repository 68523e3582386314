"""How a plan is named on the renew, pay and manage pages: in English its name, then what the
name does not say already, then the price; in Chinese composed from what the plan is
(catalog.labels, tested in tests/catalog/test_labels.py)."""

from __future__ import annotations

import pytest
from django.utils import translation

from simrenew.portal.presenters import plan_summary, plan_title
from tests.factories import make_customer, make_plan

pytestmark = pytest.mark.django_db


def test_a_name_that_says_length_and_data_is_not_repeated():
    customer = make_customer()
    plan = make_plan(name="AT&T 1 month · 20 GB", data_mb=20_480, price_minor=3000)

    assert plan_title(plan, customer) == "AT&T 1 month · 20 GB"
    assert plan_summary(plan, customer) == "AT&T 1 month · 20 GB · $30.00"


def test_a_week_named_in_days_is_not_told_again_in_weeks():
    plan = make_plan(name="AT&T 7 days · 5 GB", period_unit="day", period_count=7, data_mb=5120)

    assert plan_title(plan, make_customer()) == "AT&T 7 days · 5 GB"


def test_a_name_that_says_neither_gets_both():
    plan = make_plan(name="Traveller", period_unit="day", period_count=14, data_mb=15_360)

    assert plain(plan_title(plan, make_customer())) == "Traveller · 2 weeks · 15 GB"


def test_in_chinese_the_name_is_composed_in_chinese_from_what_the_plan_is():
    customer = make_customer(locale="zh-hans")
    plan = make_plan(name="AT&T 1 month · 20 GB", data_mb=20_480)

    with translation.override("zh-hans"):
        title = plan_title(plan, customer)

    assert plain(title) == "AT&T 1 个月 · 20 GB"
    assert "1\u00a0个\u2060月" in title  # one line: no break after the number, nor inside the unit


def plain(text: str) -> str:
    """What a reader sees: the no-break space as a space, the word joiner as nothing."""
    return text.replace("\u00a0", " ").replace("\u2060", "")
