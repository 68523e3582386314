"""The usage page: daily use as an SVG bar chart with a table, and when the data runs out."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from tests.factories import make_customer, make_plan, make_subscription, record_usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(clock):
    return make_customer(time_zone="America/New_York")


@pytest.fixture
def subscription(customer):
    # The period runs 2026-01-15 12:00 UTC to 2026-02-15 12:00 UTC.
    return make_subscription(customer=customer, plan=make_plan(data_mb=10_240))


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer.user)
    return client


def at(day: int, hour: int = 15) -> datetime:
    return datetime(2026, 1, day, hour, 0, tzinfo=UTC)


def test_daily_use_is_drawn_and_tabled_with_the_date_the_data_runs_out(signed_in, subscription, clock):
    clock.set(at(19, 12))
    iccid = subscription.esim.iccid
    for day, mb in ((15, 500), (16, 1000), (17, 1500), (18, 1000)):
        record_usage(iccid=iccid, mb=mb, occurred_at=at(day))

    page = signed_in.get(reverse("portal:usage", args=[subscription.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert '<svg viewBox="0 0 600 220" role="img"' in html
    assert len(re.findall(r'<rect [^>]*class="bar"', html)) == 5  # Jan 15 … Jan 19, local days
    assert '<th scope="row">Jan 17, 2026</th><td>1.5 GB</td>' in html
    assert '<th scope="row">Jan 19, 2026</th><td>0 MB</td>' in html
    # 4,000 MB in 4 days is 1,000 MB a day; 6,240 MB left lasts 6.24 days more.
    assert "At this rate your data runs out on Jan 25, 2026." in html
    assert "3.9 GB used of 10 GB; 6.1 GB left." in html
    # The chart is drawn without script: the only scripts are the site's own files (base.html's).
    assert re.search(r"<script(?![^>]*\bsrc=\"/static/)", html) is None


def test_light_use_lasts_past_the_period_end(signed_in, subscription, clock):
    clock.set(at(19, 12))
    record_usage(iccid=subscription.esim.iccid, mb=100, occurred_at=at(16))

    html = signed_in.get(reverse("portal:usage", args=[subscription.pk])).content.decode()

    assert "At this rate your data lasts past the period end." in html


def test_days_follow_the_customers_time_zone(signed_in, subscription, clock):
    clock.set(at(17, 12))
    # 03:00 UTC on Jan 16 is still Jan 15 in New York.
    record_usage(iccid=subscription.esim.iccid, mb=300, occurred_at=at(16, 3))

    html = signed_in.get(reverse("portal:usage", args=[subscription.pk])).content.decode()

    assert '<th scope="row">Jan 15, 2026</th><td>300 MB</td>' in html
    assert '<th scope="row">Jan 16, 2026</th><td>0 MB</td>' in html


def test_all_data_used_is_said_plainly(signed_in, subscription, clock):
    clock.set(at(19, 12))
    record_usage(iccid=subscription.esim.iccid, mb=10_240, occurred_at=at(18))

    html = signed_in.get(reverse("portal:usage", args=[subscription.pk])).content.decode()

    assert "You have used all your data for this period." in html


def test_no_running_period_has_no_chart(signed_in, subscription):
    signed_in.post(reverse("portal:cancel", args=[subscription.pk]), {"when": "now"})

    html = signed_in.get(reverse("portal:usage", args=[subscription.pk])).content.decode()

    assert "no usage to show" in html
