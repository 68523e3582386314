"""A customer who reads Chinese sees Chinese: every portal page, signed in or not, is walked in
zh-hans and the Latin words on it (text, button values, labels read aloud, the title) are listed
against an allowlist of brand names, carrier names, units and identifiers. A word that is not on
the list is an English string that escaped translation (or catalogue data shown as it is)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from simrenew.billing.models import Invoice
from simrenew.catalog.models import Promotion
from simrenew.customers.models import Customer
from simrenew.payments.models import PaymentAttempt
from tests.factories import make_customer, make_paypal, make_plan, make_promotion, make_subscription

pytestmark = pytest.mark.django_db

# Names and units a Chinese page writes in Latin letters, as Chinese sites do.
ALLOWED = {
    # brand, carriers, payment brands and the platforms a phone is backed up to
    "simrenew",
    "English",  # the language switch names each language in that language
    "AT&T",
    "T-Mobile",
    "Verizon",
    "PayPal",
    "Visa",
    "Mastercard",
    "Amex",
    "iCloud",
    "Finder",
    "iPhone",
    "Google",
    "One",
    "Android",
    "Apple",
    "iOS",
    "Wi-Fi",
    # units, standards and identifiers
    "eSIM",
    "GB",
    "MB",
    "SMS",
    "US",
    "QR",
    "ICCID",
    "ID",
    "SIM",
    "USD",
    "EID",
    "PDF",
    "JSON",
    "CSV",
    "ZIP",
    "UTC",
    "LPA",
    "SM-DP+",
    "CVC",
}
HIDDEN = {"script", "style", "template"}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"(?:https?://|LPA:|/)\S+")
# Identifiers shown as they are: activation codes (1$<SM-DP+ address>$<matching ID>) and their
# parts, host names, invoice numbers.
IDENTIFIER = re.compile(r"\b1\$\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)+\b|\bSR-\d+|\bMATCH-\d+")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9&+-]*[A-Za-z0-9+]|[A-Za-z]")


class VisibleText(HTMLParser):
    """The text a reader meets: page text, the title, button values, aria-labels and alt texts."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self._hidden += 1
        values = dict(attrs)
        for name in ("aria-label", "alt", "placeholder", "title"):
            if values.get(name):
                self.parts.append(str(values[name]))
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.parts.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN:
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


# The portal's voice: 账户 (never 帐号/账号 beside it), 您 (never 你), full-width punctuation after Chinese.
OFF_VOICE = re.compile(
    r"帐号|账号|帳號|你|(?<=[\u4e00-\u9fff])[:;,!?](?!\S*//)|(?<=[\u4e00-\u9fff])\((?=[\u4e00-\u9fff])"
)


def visible_text(html: str) -> str:
    reader = VisibleText()
    reader.feed(html)
    return " ".join(reader.parts)


def latin_words(html: str, *, also_allowed: set[str]) -> set[str]:
    text = URL.sub(" ", IDENTIFIER.sub(" ", EMAIL.sub(" ", visible_text(html))))
    words = {word for word in LATIN_WORD.findall(text) if word not in ALLOWED | also_allowed}
    return words | {f"off-voice: {match}" for match in OFF_VOICE.findall(visible_text(html))}


def visitor_pages() -> list[str]:
    return [
        reverse("portal:landing"),
        reverse("portal:help"),
        reverse("account_login"),
        reverse("account_signup"),
        reverse("account_reset_password"),
        "/no-such-page/",
    ]


def customer_pages(customer: Customer) -> list[str]:
    subscription = customer.subscriptions.first()  # type: ignore[attr-defined]
    attempt = PaymentAttempt.objects.filter(customer=customer).first()
    invoice = Invoice.objects.filter(subscription__customer=customer).first()
    assert subscription is not None and attempt is not None and invoice is not None
    sub = [subscription.pk]
    return [
        reverse("portal:dashboard"),
        reverse("portal:help"),
        reverse("portal:settings"),
        reverse("portal:payments"),
        reverse("portal:confirmation", args=[attempt.pk]),
        reverse("portal:receipt", args=[invoice.pk]),
        reverse("portal:payment_methods"),
        reverse("portal:wallet"),
        reverse("portal:add_esim"),
        reverse("portal:install", args=[subscription.esim_id]),
        reverse("portal:manage", args=sub),
        reverse("portal:renew", args=sub),
        reverse("portal:pay", args=sub) + f"?plan={subscription.plan_id}",
        reverse("portal:top_up", args=sub),
        reverse("portal:usage", args=sub),
        reverse("portal:cancel", args=sub),
        reverse("account_email"),
        reverse("account_change_password"),
        reverse("mfa_index"),
        reverse("portal:delete_account"),
        "/no-such-page/",
    ]


@pytest.fixture
def chinese_customer(clock: object) -> Customer:
    # Catalogue data as the operator writes it: in English.
    plan = make_plan(carrier="tmobile", name="T-Mobile 1 month · 20 GB", data_mb=20_480, price_minor=3500)
    make_plan(carrier="tmobile", name="T-Mobile 1 day · 1 GB", period_unit="day", data_mb=1024, price_minor=300)
    Promotion.objects.filter(pk=make_promotion(code="WELCOME10", max_per_customer=1).pk).update(is_public=True)
    customer = make_customer(name="王小明", locale="zh-hans", time_zone="Asia/Shanghai")
    make_subscription(customer=customer, plan=plan)
    make_paypal(customer=customer)
    return customer


def walk(client: Client, paths: list[str], *, also_allowed: set[str]) -> dict[str, set[str]]:
    found = {}
    for path in paths:
        response = client.get(path, follow=True)
        assert response.status_code in {200, 404}, f"{path} answered {response.status_code}"
        html = response.content.decode()
        assert '<html lang="zh-hans">' in html, path
        words = latin_words(html, also_allowed=also_allowed)
        if words:
            found[path] = words
    return found


def test_a_visitor_reading_chinese_meets_no_english(chinese_customer):
    visitor = Client(headers={"Accept-Language": "zh-hans"})
    codes = set(Promotion.objects.values_list("code", flat=True))

    found = walk(visitor, visitor_pages(), also_allowed=codes)

    assert found == {}, "\n".join(f"{path}: {' '.join(sorted(words))}" for path, words in found.items())


def test_a_chinese_customer_meets_no_english_on_any_page(chinese_customer):
    client = Client()
    client.force_login(chinese_customer.user)
    codes = set(Promotion.objects.values_list("code", flat=True))

    found = walk(client, customer_pages(chinese_customer), also_allowed=codes)

    assert found == {}, "\n".join(f"{path}: {' '.join(sorted(words))}" for path, words in found.items())


def test_the_walk_finds_english_where_it_is():
    assert latin_words("<p>剩余流量 Data left</p><script>var x;</script>", also_allowed=set()) == {"Data", "left"}
    assert latin_words("<p>AT&amp;T 1 个月 · 20 GB，T-Mobile eSIM</p>", also_allowed=set()) == set()  # noqa: RUF001
    assert latin_words('<button aria-label="Close">x</button>', also_allowed=set()) == {"Close", "x"}
    assert latin_words("<p>你的帐号:</p>", also_allowed=set()) == {"off-voice: 你", "off-voice: 帐号", "off-voice: :"}
