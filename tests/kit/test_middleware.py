"""A NUL character anywhere in a request is refused before it reaches a view."""

from __future__ import annotations

import pytest

from simrenew.customers.models import Customer
from tests.api.helpers import make_api_key
from tests.customers.console_helpers import staff_client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/customers", '{"email": "a@example.com", "name": "A\\u0000B"}'),
        ("get", "/api/v1/customers?email=%00", None),
        ("get", "/api/v1/plans?carrier=%00", None),
    ],
)
def test_a_nul_character_is_a_400_problem_and_writes_nothing(client, method, path, body):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {make_api_key(scopes=('write',))}"}
    if body is None:
        response = getattr(client, method)(path, **headers)
    else:
        response = getattr(client, method)(path, data=body, content_type="application/json", **headers)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/nul-character"
    assert Customer.objects.count() == 0


def test_pages_outside_the_api_get_a_plain_400(client):
    response = client.get("/healthz?x=%00")

    assert response.status_code == 400
    assert b"NUL" in response.content


@pytest.mark.django_db
def test_console_pages_get_the_portals_policy_with_only_djangos_one_inline_style(client):
    overview = staff_client("support").get("/admin/")
    assert overview.status_code == 200  # a page Django's admin drew, inline style and all
    console = overview["Content-Security-Policy"]
    portal = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in console.split(";"))

    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self' 'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='"
    assert directives["frame-ancestors"] == "'none'"
    assert "sha256" not in portal
