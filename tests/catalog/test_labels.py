"""How a plan and a promotion are named to a customer: one formatter, in the language of the page
or the email. English pages keep the operator's plan name (completed with what it does not say);
Chinese pages compose it from what the plan is, so no English catalogue text reaches them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone, translation

from simrenew.catalog.labels import NO_BREAK_SPACE, WORD_JOINER, data_amount, period_length, promotion_offer
from tests.factories import make_plan, make_promotion

pytestmark = pytest.mark.django_db


def plain(text: str) -> str:
    return text.replace(NO_BREAK_SPACE, " ").replace(WORD_JOINER, "")


def test_an_english_page_shows_the_operators_name():
    plan = make_plan(carrier="tmobile", name="T-Mobile 1 month · 20 GB", data_mb=20_480)

    with translation.override("en"):
        assert plan.display_name == "T-Mobile 1 month · 20 GB"


def test_a_chinese_page_composes_the_name_from_carrier_length_and_data():
    month = make_plan(carrier="tmobile", name="T-Mobile 1 month · 20 GB", data_mb=20_480)
    week = make_plan(carrier="att", name="AT&T 7 days · 5 GB", period_unit="day", period_count=7, data_mb=5120)
    year = make_plan(carrier="verizon", name="Verizon 1 year", period_unit="year", data_mb=256_000)

    with translation.override("zh-hans"):
        assert plain(month.display_name) == "T-Mobile 1 个月 · 20 GB"
        assert plain(week.display_name) == "AT&T 1 周 · 5 GB"
        assert plain(year.display_name) == "Verizon 1 年 · 250 GB"


def test_a_number_never_parts_from_its_unit():
    with translation.override("zh-hans"):
        assert period_length("month", 1) == f"1{NO_BREAK_SPACE}个{WORD_JOINER}月"  # not "1 个" / "月"
        assert data_amount(20_480) == f"20{NO_BREAK_SPACE}GB"
    with translation.override("en"):
        assert period_length("day", 3) == f"3{NO_BREAK_SPACE}days"
        assert data_amount(1_536) == f"1.5{NO_BREAK_SPACE}GB"


def test_a_public_promotion_is_described_from_its_terms_in_the_pages_language():
    promotion = make_promotion(
        code="WELCOME10", percent_off=10, max_per_customer=1, valid_until=datetime(2027, 1, 31, 12, tzinfo=UTC)
    )
    bonus = make_promotion(code="MOREDATA", amount_off_minor=500, bonus_data_mb=1024, plan_codes=["att-1m"])

    with translation.override("en"), timezone.override("America/New_York"):
        assert plain(promotion_offer(promotion)) == "10% off, once per customer, until Jan 31, 2027"
        assert plain(promotion_offer(bonus)) == "$5.00 off, 1 GB of extra data, on some plans"
    with translation.override("zh-hans"), timezone.override("Asia/Shanghai"):
        assert plain(promotion_offer(promotion)) == "优惠 10%，每位客户限用一次，有效期至 2027年1月31日"  # noqa: RUF001
