"""When something breaks on our side the visitor gets our 500 page in their language, with the
language switch every page has, even when the database itself is down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client, RequestFactory

from simrenew.portal.views_help import server_error
from tests.factories import make_customer

pytestmark = pytest.mark.urls("tests.portal.failing_urls")


@contextmanager
def the_database_down() -> Iterator[None]:
    """Every new query fails as with a stopped database server (undone before the test's own teardown)."""

    def refuse(self: BaseDatabaseWrapper) -> None:
        raise OperationalError("connection refused")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
        yield


def visitor(*, language: str) -> Client:
    return Client(raise_request_exception=False, headers={"Accept-Language": language})


def language_switch(page: str) -> str:
    match = re.search(r'<form class="language-switch".*?</form>', page, re.DOTALL)
    assert match, "the 500 page has the language switch"
    return match.group(0)


def test_a_bug_shows_our_page_in_the_visitors_language_with_the_switch_to_english(db):
    response = visitor(language="zh-hans").get("/broken/?from=here")

    page = response.content.decode()
    assert response.status_code == 500
    assert '<html lang="zh-hans">' in page and "我们这边出了点问题" in page
    switch = language_switch(page)
    assert 'action="/language/"' in switch and 'name="csrfmiddlewaretoken"' in switch
    assert 'name="next" value="/broken/?from=here"' in switch
    assert 'value="en"' in switch and 'value="zh-hans"' not in switch  # only the other language


def test_the_switch_on_the_500_page_changes_the_language(db):
    client = visitor(language="en")
    page = client.get("/broken/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', language_switch(page)).group(1)  # type: ignore[union-attr]

    answer = client.post("/language/", {"language": "zh-hans", "next": "/help/", "csrfmiddlewaretoken": token})

    assert (answer.status_code, answer["Location"]) == (302, "/help/")
    assert "我们这边出了点问题" in client.get("/broken/").content.decode()


def test_with_the_database_down_the_page_still_renders_for_a_visitor(db):
    with the_database_down():
        response = visitor(language="zh-hans").get("/needs-the-database/")

    assert response.status_code == 500
    assert "我们这边出了点问题" in response.content.decode()
    assert 'value="en"' in language_switch(response.content.decode())


def test_with_the_database_down_the_page_still_renders_for_a_signed_in_customer(db):
    client = visitor(language="en")
    client.force_login(make_customer().user)  # reading the session now needs the database

    with the_database_down():
        response = client.get("/help/")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert "简体中文" in language_switch(response.content.decode())


def test_the_handler_reads_nothing_but_the_request(django_assert_num_queries, db):
    request = RequestFactory().get("/somewhere/")  # no session, no user: it must not need them

    with django_assert_num_queries(0):
        response = server_error(request)

    assert response.status_code == 500 and 'name="next" value="/somewhere/"' in response.content.decode()
