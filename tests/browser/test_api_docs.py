"""The partner API's docs (Swagger UI at /api/v1/docs) load in a browser under the pages'
Content-Security-Policy: the `page` fixture fails the test on any violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Shots


@pytest.fixture
def viewport() -> str:
    return "desktop"


@pytest.mark.django_db
def test_the_api_docs_load_and_list_the_operations_with_no_policy_violation(page: Page, shot: Shots) -> None:
    response = page.goto("/api/v1/docs")

    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("simrenew")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.locator(".opblock-summary").first.click()  # an operation opens (scripts run, styles apply)
    expect(page.locator(".opblock-body").first).to_be_visible()
    shot(page, "docs")
