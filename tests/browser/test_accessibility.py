"""Every page passes axe-core (issue 15): the portal signed out and signed in, every console page,
the 404 and the API docs, in English and Chinese, at a phone and a desktop viewport.

One sweep visits each page once per language and viewport, with one data set and the shared
live server and browser (a page per test with its own data would cost minutes); each page is
then a test of its own, which names the page, the language and viewport, and axe's findings.
The sweep also writes var/screenshots/axe_report.md (pages, violations per page with rule ids).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser

from tests.browser.a11y import Violation, axe_violations, explain
from tests.browser.conftest import SCREENSHOTS, VIEWPORTS

REPORT = SCREENSHOTS / "axe_report.md"
LANGUAGES = {"en": "en-US", "zh-hans": "zh-CN"}
PASSWORD = "correct-horse-battery-9"
STAFF_PASSWORD = "correct horse battery staple"
# The mark makes pytest-django create the test database; each test only reads the sweep's results.
# The sweep runs in the first test's setup: its timeout covers ~240 page visits.
# What axe checks is the HTML and CSS a page renders, the same whichever database served the data:
# `make test` runs the sweep (~5 minutes) in the SQLite suite only; the other browser stories run on both.
pytestmark = [pytest.mark.django_db, pytest.mark.timeout(1800), pytest.mark.database_independent]


@dataclass(frozen=True)
class Sweep:
    pages: int
    visits: int
    found: dict[str, dict[str, list[Violation]]]  # page -> "en phone" -> violations


# ---------------------------------------------------------------- the pages

SIGNED_OUT = {
    "landing": "/",
    "login": "/accounts/login/",
    "sign-up": "/accounts/signup/",
    "password reset": "/accounts/password/reset/",
    "404": "/no-such-page/",
}
# Filled in from the data set: {subscription}, {esim}, {invoice}, {attempt}, {check}.
SIGNED_IN = {
    "dashboard with a flash message": "/dashboard/",  # first visit after signing in: "Successfully signed in"
    "dashboard": "/dashboard/",
    "usage": "/subscriptions/{subscription}/usage/",
    "manage": "/subscriptions/{subscription}/manage/",
    "renew": "/subscriptions/{subscription}/renew/",
    "pay": "/subscriptions/{subscription}/pay/",
    "cancel confirm": "/subscriptions/{subscription}/cancel/",
    "top-up": "/subscriptions/{subscription}/top-up/",
    "connection check": "{check}",
    "receipt": "/receipts/{invoice}/",
    "payment confirmation": "/payments/{attempt}/",
    "payments": "/payments/",
    "payment methods": "/payment-methods/",
    "hosted card page": "/sandbox-gateway/card/",
    "wallet": "/wallet/",
    "settings": "/settings/",
    "delete account": "/settings/delete-account/",
    "add eSIM": "/esims/add/",
    "install": "/esims/{esim}/install/",
    "404 signed in": "/no-such-page/",
}
CHANGE_FORMS = {
    "customers.Customer",
    "subscriptions.Subscription",
    "catalog.Plan",
    "payments.PaymentAttempt",
    "billing.Invoice",
    "webhooks.WebhookEndpoint",
    "api.ApiKey",
    "auth.User",
    "audit.AuditEntry",
    "kit.TestClock",
}
MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)
CONSOLE = {
    "console overview": "/admin/",
    "console expiring": "/admin/expiring/",
    "console search": "/admin/search/?q=demo",
    # Carriers' connections: the sweep's data has none to open, so their forms are checked empty.
    "console provisioning.SmdpConnection add": "/admin/provisioning/smdpconnection/add/",
    "console provisioning.NetworkConnection add": "/admin/provisioning/networkconnection/add/",
    # The customer page's data-rights confirmations (the first customer's).
    "console customer data export": "admin:customers_customer_data_export",
    "console customer erase": "admin:customers_customer_erase",
    **{
        f"console {model._meta.label} list": f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        for model in MODELS
    },
    # A change form per kind of admin (editable, read-only, the customer page with its actions,
    # staff, the append-only trail): every model's would double the sweep's time for little more.
    **{
        f"console {model._meta.label} change": f"admin:{model._meta.app_label}_{model._meta.model_name}_change"
        for model in MODELS
        if model._meta.label in CHANGE_FORMS
    },
}
API_DOCS = {"API docs": "/api/v1/docs"}
# Swagger UI draws the operations once it has fetched the OpenAPI document.
READY = {"API docs": ".swagger-ui .opblock"}
ALL_PAGES = [*SIGNED_OUT, *SIGNED_IN, *CONSOLE, *API_DOCS]


def _arrange() -> dict[str, Any]:
    """One data set for the whole sweep: the demo (catalog, a customer with a paid plan, staff, an
    API key) plus a row in every table the console lists."""
    from django.contrib.auth import get_user_model

    from simrenew.customers.models import Customer
    from simrenew.demo_accounts import DEMO_EMAIL
    from simrenew.kit import clock as kit_clock
    from simrenew.kit.audit import record_change
    from simrenew.portal.accounts import verified_login
    from simrenew.subscriptions.models import Subscription
    from simrenew.webhooks.services import create_endpoint
    from tests.factories import make_promotion, make_wallet
    from tests.notifications.helpers import run_worker

    call_command("demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 (closed with the process)
    customer = Customer.objects.get(email__iexact=DEMO_EMAIL)
    customer.user.set_password(PASSWORD)
    customer.user.save(update_fields=["password"])
    make_wallet(customer=customer, balance_minor=2_000)
    make_promotion(code="SPRING10")
    create_endpoint(url="https://hooks.example.com/simrenew", event_types=[])
    run_worker()
    staff = get_user_model().objects.create_superuser("axe", "axe@example.com", STAFF_PASSWORD)
    verified_login(staff)
    record_change(actor=staff, action="extended the sweep's period", target=customer, reason="axe sweep")
    kit_clock.set_now(kit_clock.system_now())  # the test clock's page shows a frozen clock
    subscription = Subscription.objects.filter(customer=customer).select_related("esim").get()
    from simrenew.billing.models import Invoice
    from simrenew.payments.models import PaymentAttempt

    return {
        "customer": customer,
        "staff": staff,
        "subscription": subscription.pk,
        "esim": subscription.esim_id,
        "invoice": Invoice.objects.filter(customer=customer).order_by("pk").values_list("pk", flat=True).first(),
        "attempt": PaymentAttempt.objects.filter(customer=customer).order_by("pk").values_list("pk", flat=True).first(),
    }


def _signed_in(client: Client, email: str, password: str, language: str) -> list[dict[str, Any]]:
    """Sign in through allauth's form with Django's test client (its flash message waits in the
    messages cookie) and hand the cookies to the browser."""
    response = client.post("/accounts/login/", {"login": email, "password": password}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 302, f"could not sign in {email}: {response.status_code}"
    return [{"name": key, "value": morsel.value} for key, morsel in client.cookies.items()]


def _console_url(name: str) -> str | None:
    target = CONSOLE[name]
    if target.startswith("/"):
        return target
    if target.endswith("_changelist"):
        return reverse(target)
    if target.endswith(("_data_export", "_erase")):
        from simrenew.customers.models import Customer

        return reverse(target, args=[Customer.objects.order_by("pk").values_list("pk", flat=True).first()])
    model = next(model for model in MODELS if target.endswith(f"_{model._meta.model_name}_change"))
    first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    return None if first is None else reverse(target, args=[first])


@pytest.fixture(scope="module")
def sweep(
    browser: Browser, request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any
) -> Iterator[Sweep]:
    # The live server is requested here, not by the tests: a test naming it gets a transactional
    # database, flushed after every test, and the data set must outlive each of them. It is
    # flushed once, at the end.
    live_server = request.getfixturevalue("live_server")
    found: dict[str, dict[str, list[Violation]]] = {name: {} for name in ALL_PAGES}
    visits = 0
    seconds: dict[str, float] = {}
    with django_db_blocker.unblock():
        try:
            data = _arrange()
            customer, staff = data["customer"], data["staff"]
            for language, browser_locale in LANGUAGES.items():
                customer.locale = language
                customer.save(update_fields=["locale"])
                for viewport, size in VIEWPORTS.items():
                    combo = f"{language} {viewport}"
                    context = browser.new_context(
                        viewport=size,  # type: ignore[arg-type]
                        base_url=live_server.url,
                        locale=browser_locale,
                        is_mobile=viewport == "phone",
                        has_touch=viewport == "phone",
                    )
                    context.set_default_timeout(10_000)
                    context.add_cookies(
                        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
                    )
                    page = context.new_page()

                    def check(name: str, url: str, page: Any = page, combo: str = combo) -> None:
                        nonlocal visits
                        started = time.perf_counter()
                        page.goto(url)
                        if name in READY:  # drawn by a script after the load event
                            page.locator(READY[name]).first.wait_for(timeout=60_000)
                        found[name][combo] = axe_violations(page)
                        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
                        visits += 1

                    for name, url in {**SIGNED_OUT, **API_DOCS}.items():
                        check(name, url)
                    # The customer signs in (a fresh session each time: the flash shows once).
                    client = Client()
                    cookies = _signed_in(client, customer.email, PASSWORD, language)
                    context.add_cookies([{**cookie, "url": live_server.url} for cookie in cookies])
                    started = client.post(f"/subscriptions/{data['subscription']}/connection-check/")
                    urls = {**data, "check": started.headers.get("Location", "/connection-check-not-started/")}
                    for name, url in SIGNED_IN.items():
                        check(name, url.format(**urls))
                    context.clear_cookies()
                    context.add_cookies(
                        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
                    )
                    staff_cookies = _signed_in(Client(), staff.email, STAFF_PASSWORD, language)
                    context.add_cookies([{**cookie, "url": live_server.url} for cookie in staff_cookies])
                    for name in CONSOLE:
                        url = _console_url(name)
                        if url is not None:
                            check(name, url)
                    context.close()
            _write_report(found, visits, seconds)
            yield Sweep(pages=sum(1 for per in found.values() if per), visits=visits, found=found)
        finally:
            call_command("flush", interactive=False, verbosity=0)


def _write_report(found: dict[str, dict[str, list[Violation]]], visits: int, seconds: dict[str, float]) -> None:
    faulted = {name: per for name, per in found.items() if any(per.values())}
    lines = [
        "# axe-core sweep (tests/browser/test_accessibility.py)",
        "",
        f"Pages: {sum(1 for per in found.values() if per)}; visits (page x language x viewport): {visits}; "
        f"pages with violations: {len(faulted)}; violations (rule x visit): "
        f"{sum(len(v) for per in found.values() for v in per.values())}.",
        "",
        "| page | visits faulted | rules (nodes, first node) |",
        "|---|---|---|",
    ]
    for name, per in faulted.items():
        rules: dict[str, tuple[int, str]] = {}
        for violations in per.values():
            for violation in violations:
                count, first = rules.get(violation.rule, (0, violation.nodes[0].target if violation.nodes else ""))
                rules[violation.rule] = (max(count, len(violation.nodes)), first)
        described = "; ".join(f"{rule} ({count}, `{first}`)" for rule, (count, first) in rules.items())
        lines.append(f"| {name} | {sum(1 for v in per.values() if v)}/{len(per)} | {described} |")
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:8]
    lines += ["", "Slowest pages (seconds, all visits): " + ", ".join(f"{name} {took:.1f}" for name, took in slowest)]
    missing = [name for name, per in found.items() if not per]
    if missing:
        lines += ["", "Not visited (no row to show): " + ", ".join(missing)]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("name", ALL_PAGES)
def test_the_page_has_no_axe_violation_in_either_language_or_viewport(name: str, sweep: Sweep) -> None:
    per = sweep.found[name]
    assert per, f"{name} was not visited (no row to show?)"
    faulted = {combo: violations for combo, violations in per.items() if violations}
    assert faulted == {}, "\n".join(explain(f"{name} ({combo})", violations) for combo, violations in faulted.items())
