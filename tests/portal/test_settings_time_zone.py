"""Choosing a time zone: the zones a customer most likely lives in come first (their own, then
the US zones), every zone is named as people say it, in the page's language, and the browser's
zone is offered by a small script (the form works without it)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_customer
from tests.portal.test_settings import client_for, settings_form

pytestmark = pytest.mark.django_db


def options(page: str, group: str) -> list[str]:
    """The option values of one <optgroup> of the time zone list, in order."""
    block = re.search(rf'<optgroup label="{group}">(.*?)</optgroup>', page, re.S)
    assert block is not None, f"no {group!r} group"
    return re.findall(r'<option value="([^"]+)"', block.group(1))


def test_the_settings_page_names_the_zone_and_offers_the_likely_ones_first(clock):
    customer = make_customer(time_zone="Europe/Berlin")

    page = client_for(customer).get(reverse("portal:settings")).content.decode()

    assert options(page, "Likely time zones")[:3] == ["Europe/Berlin", "America/New_York", "America/Chicago"]
    assert "Europe/Paris" in options(page, "All time zones")
    assert "Your saved time zone is Central European Time (Berlin)" in page
    assert 'data-time-zone="suggest"' in page and "portal/time_zone" in page
    assert "Use this device’s time zone" in page  # noqa: RUF001 (shown by the script when the zones differ)


def test_in_chinese_the_zones_are_named_in_chinese(clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")

    page = client_for(customer).get(reverse("portal:settings")).content.decode()

    assert '<option value="Asia/Shanghai" selected>中国时间（上海）</option>' in page  # noqa: RUF001
    assert "America/New_York</option>" not in page


def test_a_zone_from_the_whole_list_is_saved(clock):
    customer = make_customer(time_zone="America/New_York")

    response = client_for(customer).post(reverse("portal:settings"), settings_form(customer, time_zone="Asia/Tokyo"))

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.time_zone == "Asia/Tokyo"


def test_a_made_up_zone_is_refused_and_nothing_changes(clock):
    customer = make_customer(time_zone="America/New_York")

    response = client_for(customer).post(reverse("portal:settings"), settings_form(customer, time_zone="Mars/Base"))

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    customer.refresh_from_db()
    assert customer.time_zone == "America/New_York"


def test_sign_up_offers_the_us_zones_first_and_lets_the_browser_choose(clock):
    page = Client().get(reverse("account_signup")).content.decode()

    assert options(page, "Likely time zones")[0] == "America/New_York"
    assert 'data-time-zone="detect"' in page
