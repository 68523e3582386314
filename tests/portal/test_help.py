"""The help page answers what customers of an eSIM service ask, with this operator's own figures
(refund policy, how long a number is kept, the support address); the error pages are ours, in
the visitor's language, and the 500 page renders with no request and no database."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.factories import make_customer, make_plan, make_promotion

pytestmark = pytest.mark.django_db


def help_page(client: Client | None = None, **headers: str) -> str:
    response = (client or Client()).get(reverse("portal:help"), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_a_visitor_reads_the_help_page_and_finds_it_from_every_page(clock, settings):
    settings.SIMRENEW_SUPPORT_EMAIL = "help@operator.example"

    page = help_page()

    for question in (
        "Moving to another carrier or adding an eSIM",
        "What happens if I do not renew in time?",
        "How does auto-renew work, and how do I stop it?",
        "Cancelling and refunds",
        "How much data and time do I have left?",
    ):
        assert question in page
    assert "new phone number" in page and "back up your phone" in page
    assert 'href="mailto:help@operator.example"' in page
    landing = Client().get(reverse("portal:landing")).content.decode()
    assert landing.count('href="/help/"') == 2  # the menu and the footer


def test_a_signed_in_customer_reads_it_in_chinese(clock):
    client = Client()
    client.force_login(make_customer(locale="zh-hans").user)

    page = help_page(client)

    assert '<html lang="zh-hans">' in page
    assert "如果没有及时续订会怎样？" in page  # noqa: RUF001


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ("none", "Payments already made are not refunded"),
        ("unstarted", "the running period is not refunded"),
        ("prorata", "refunded in proportion to the time left"),
    ],
)
def test_the_refund_answer_follows_the_operators_policy(clock, settings, policy, says):
    settings.SIMRENEW_CANCEL_REFUND_POLICY = policy

    assert says in help_page()


def test_the_number_is_kept_as_long_as_the_operator_keeps_it(clock, settings):
    settings.SIMRENEW_RETENTION_DAYS = 30
    settings.SIMRENEW_TERMINATION_WARNING_DAYS = 5

    page = help_page()

    assert "keeps its number for 30 days" in page
    assert "We write to you 5 days before we release it." in page


def test_only_published_promotions_are_listed(clock):
    from simrenew.catalog.models import Promotion

    make_plan()
    public = make_promotion(code="WELCOME10", percent_off=10, max_per_customer=1)
    Promotion.objects.filter(pk=public.pk).update(is_public=True)
    make_promotion(code="PARTNER50", percent_off=50)  # a partner's code: not for everyone's eyes

    page = help_page()

    assert "WELCOME10" in page and "10% off, once per customer" in page
    assert "PARTNER50" not in page


def test_no_support_address_means_no_promise_of_one(clock, settings):
    settings.SIMRENEW_SUPPORT_EMAIL = ""

    page = help_page()

    assert "mailto:" not in page
    assert "Contact the company that sold you your eSIM." in page


def test_a_missing_page_is_ours_in_the_visitors_language(clock):
    response = Client().get("/no-such-page/", headers={"Accept-Language": "zh-hans"})

    assert response.status_code == 404
    page = response.content.decode()
    assert '<meta name="viewport"' in page
    assert "找不到此页面" in page and 'href="/help/"' in page


def test_the_500_page_renders_without_a_request_or_a_database(settings, django_assert_num_queries):
    settings.SIMRENEW_SUPPORT_EMAIL = "help@operator.example"

    with django_assert_num_queries(0), translation.override("zh-hans"):
        page = render_to_string("500.html")  # as Django's server_error does: no request, no context

    assert '<meta name="viewport"' in page and '<html lang="zh-hans">' in page
    assert "我们这边出了点问题" in page and "help@operator.example" in page
