"""Django's own console pages, made to pass axe-core (issue 15) by the project's admin template
overrides (src/simrenew/templates/admin/): every page loads the console's stylesheet and script,
the list's search box has a label people can see, date and time boxes have their own labels,
and a table's header row has no header cell without words. The browser sweep
(tests/browser/test_accessibility.py) checks the pages with axe; these say which change did it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from pytest_django.asserts import assertInHTML

from simrenew.notifications.models import OutboxMessage
from tests.customers.console_helpers import staff_client
from tests.factories import make_subscription
from tests.notifications.helpers import run_worker

pytestmark = pytest.mark.django_db
HEADER_CELL = re.compile(r"<th\b[^>]*>(.*?)</th>", re.DOTALL)
TAG = re.compile(r"<[^>]*>")


def headers_without_words(html: str) -> list[str]:
    """Header cells that neither show words nor hold a named control (as axe's empty-table-header)."""
    return [cell for cell in HEADER_CELL.findall(html) if not TAG.sub("", cell).strip() and "aria-label" not in cell]


def test_every_console_page_loads_the_console_stylesheet_and_script(clock):
    admin = staff_client("admin")
    user = get_user_model().objects.create_user("grace", "grace@example.com", "a long pass phrase 1")

    for page in ("/admin/", "/admin/account/emailaddress/", f"/admin/auth/user/{user.pk}/change/"):
        html = admin.get(page).content.decode()

        # Once each, whether Django drew the page or the console did.
        assert html.count('href="/static/console/console.css"') == 1, page
        assert html.count('src="/static/console/admin.js"') == 1, page


def test_the_lists_search_box_has_a_label_people_can_see(clock):
    admin = staff_client("admin")

    html = admin.get("/admin/customers/customer/").content.decode()

    assertInHTML('<label for="searchbar"><img src="/static/admin/img/search.svg" alt=""> Search</label>', html)


def test_the_date_and_the_time_box_each_have_a_label(clock):
    admin = staff_client("admin")
    user = get_user_model().objects.create_user("grace", "grace@example.com", "a long pass phrase 1")

    html = admin.get(f"/admin/auth/user/{user.pk}/change/").content.decode()

    for field in ("last_login", "date_joined"):
        assertInHTML(f'<label for="id_{field}_0">Date:</label>', html)
        assertInHTML(f'<label for="id_{field}_1">Time:</label>', html)


def test_a_subscriptions_period_tables_have_no_header_without_words_and_scroll_with_the_keyboard(clock):
    subscription = make_subscription()
    admin = staff_client("admin")

    html = admin.get(f"/admin/subscriptions/subscription/{subscription.pk}/change/").content.decode()

    assert 'id="periods-group"' in html and headers_without_words(html) == []
    assert re.search(r'id="periods-group"\s+tabindex="0" role="region" aria-labelledby="periods-heading"', html)


def test_the_customer_page_and_the_message_list_have_no_header_without_words(clock):
    subscription = make_subscription()
    run_worker()  # the welcome message is sent: a row with its resend button
    assert OutboxMessage.objects.exists()
    admin = staff_client("admin")

    customer_page = admin.get(f"/admin/customers/customer/{subscription.customer_id}/change/").content.decode()
    message_list = admin.get("/admin/notifications/outboxmessage/").content.decode()

    assert headers_without_words(customer_page) == []
    assert 'tabindex="0" role="region" aria-labelledby="console-invoices-heading"' in customer_page
    assert headers_without_words(message_list) == [] and "Resend" in message_list
