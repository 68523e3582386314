"""Paying with a new card through the gateway's hosted page, payment methods, the wallet and the history."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import reverse

from simrenew.payments.models import PaymentAttempt, PaymentMethod, SandboxCharge, Wallet
from tests.factories import make_card, make_customer, make_paypal, make_subscription, make_wallet

KEY = re.compile(r'name="idempotency_key" value="([0-9a-f-]{36})"')
NUMBERS = ["4242424242424242", "4000000000000002", "4000056655665556", "4242424242424241"]


def signed_in(customer) -> Client:
    client = Client()
    client.force_login(customer.user)
    return client


def database_text() -> str:
    chunks: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        columns = [field.attname for field in model._meta.concrete_fields]
        for row in model.objects.values_list(*columns):
            chunks.extend(repr(value) for value in row)
    return "\n".join(chunks)


def spellings(number: str) -> list[str]:
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    return [number, " ".join(groups), "-".join(groups)]


def hosted_card(client: Client, *, number: str, next_url: str, kind: str = "card", **extra):
    form = {"type": kind, "number": number, "exp_month": "11", "exp_year": "2039", "cvc": "321", "next": next_url}
    form.update(extra)
    return client.post(reverse("portal:sandbox_gateway_card"), form)


def test_a_new_card_through_the_hosted_page_is_never_stored_logged_or_shown(clock, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    forced = connection.force_debug_cursor
    connection.force_debug_cursor = True
    try:
        subscription = make_subscription()
        customer = subscription.customer
        client = signed_in(customer)
        pay_url = reverse("portal:pay", args=[subscription.pk])
        shown: list[str] = []
        next_url = f"{pay_url}?plan={subscription.plan_id}&promo_code="
        for index, number in enumerate(NUMBERS):
            typed = spellings(number)[index % 2]
            response = hosted_card(client, number=typed, next_url=next_url, kind="debit" if index == 2 else "card")
            shown.append(response.content.decode())
            if number.endswith("4241"):  # a bad check digit: refused on the page, not echoed
                assert response.status_code == 200
                assert "The card number is not valid." in response.content.decode()
                continue
            assert response.status_code == 302
            method = PaymentMethod.objects.filter(customer=customer).order_by("-id").first()
            assert method.last4 == number[-4:] and method.token.startswith("tok_sandbox_")
            assert response["Location"].startswith(pay_url) and f"method={method.pk}" in response["Location"]
            pay_page = client.get(response["Location"])
            shown.append(pay_page.content.decode())
            assert f'value="{method.pk}" checked' in pay_page.content.decode()
            paid = client.post(
                pay_url,
                {
                    "plan": subscription.plan_id,
                    "payment_method": str(method.pk),
                    "idempotency_key": KEY.search(pay_page.content.decode())[1],
                },
                follow=True,
            )
            shown.append(paid.content.decode())
        outcomes = set(PaymentAttempt.objects.filter(purpose="renewal").values_list("status", "failure_code"))
        assert outcomes == {("succeeded", ""), ("failed", "card_declined")}
        shown.append(client.get(reverse("portal:payment_methods")).content.decode())
        shown.append(client.get(reverse("portal:payments")).content.decode())
    finally:
        connection.force_debug_cursor = forced
    dump = database_text()
    log_text = "\n".join([caplog.text, *(f"{r.getMessage()} {r.args!r}" for r in caplog.records)])
    assert "payments_paymentmethod" in log_text
    pages = "\n".join(shown)
    for number in NUMBERS:
        for spelling in spellings(number):
            assert spelling not in dump, f"{spelling} is stored in the database"
            assert spelling not in log_text, f"{spelling} was logged"
            assert spelling not in pages, f"{spelling} was shown in a page"


def test_hosted_page_errors_keep_the_number_out_and_say_what_is_wrong(clock):
    customer = make_customer()
    client = signed_in(customer)
    response = hosted_card(client, number="4242424242424242", next_url="/payment-methods/", exp_month="13")
    page = response.content.decode()
    assert response.status_code == 200
    assert "4242424242424242" not in page and 'value="321"' not in page
    assert "Ensure this value is less than or equal to 12." in page
    missing = client.post(reverse("portal:sandbox_gateway_card"), {"type": "card"}).content.decode()
    assert "This field is required for a card." in missing
    paypal = client.post(reverse("portal:sandbox_gateway_card"), {"type": "paypal", "paypal_email": "nope"})
    assert "Enter a valid email address." in paypal.content.decode()
    assert not PaymentMethod.objects.filter(customer=customer).exists()


def test_hosted_page_only_continues_to_our_own_pages(clock):
    customer = make_customer()
    response = hosted_card(signed_in(customer), number="4242424242424242", next_url="https://evil.example/steal")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:payment_methods"))


def test_paypal_through_the_hosted_page(clock):
    customer = make_customer()
    client = signed_in(customer)
    response = client.post(
        reverse("portal:sandbox_gateway_card"),
        {"type": "paypal", "paypal_email": "traveller@example.com", "next": "/payment-methods/"},
    )
    assert response.status_code == 302
    page = client.get(reverse("portal:payment_methods")).content.decode()
    assert "PayPal (traveller@example.com)" in page


def test_payment_methods_list_remove_default_and_expiring_cards(clock):
    customer = make_customer()
    kept = make_card(customer=customer)
    other = make_paypal(customer=customer)
    client = signed_in(customer)
    # A card expiring at the end of next month (clock: Jan 15, 2026) is flagged.
    hosted_card(client, number="5555555555554444", next_url="/payment-methods/", exp_month="2", exp_year="2026")
    page = client.get(reverse("portal:payment_methods")).content.decode()
    assert "Visa card ending 4242" in page and "Mastercard card ending 4444" in page
    assert page.count("This card expires soon.") == 1
    assert "Default" in page

    response = client.post(reverse("portal:payment_method_default", args=[other.pk]))
    assert response.status_code == 302
    other.refresh_from_db()
    kept.refresh_from_db()
    assert other.is_default and not kept.is_default

    response = client.post(reverse("portal:payment_method_remove", args=[kept.pk]))
    assert response.status_code == 302
    kept.refresh_from_db()
    assert kept.removed_at is not None
    assert "Visa card ending 4242 is removed." in client.get(reverse("portal:payment_methods")).content.decode()
    assert "Visa card ending 4242" not in client.get(reverse("portal:payment_methods")).content.decode()
    # A removed method is gone: acting on it again is a 404, and GET is not allowed.
    assert client.post(reverse("portal:payment_method_remove", args=[kept.pk])).status_code == 404
    assert client.get(reverse("portal:payment_method_remove", args=[other.pk])).status_code == 405


def test_wallet_top_up_by_card_charges_once(clock):
    customer = make_customer()
    card = make_card(customer=customer)
    client = signed_in(customer)
    page = client.get(reverse("portal:wallet"))
    assert "$0.00" in page.content.decode()
    key = KEY.search(page.content.decode())[1]
    form = {"amount": "20.00", "payment_method": str(card.pk), "idempotency_key": key}
    first = client.post(reverse("portal:wallet"), form)
    second = client.post(reverse("portal:wallet"), form)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert SandboxCharge.objects.count() == 1
    assert Wallet.objects.get(customer=customer).balance_minor == 2000
    confirmation = client.get(first["Location"]).content.decode()
    assert "Payment received" in confirmation and "$20.00" in confirmation
    assert "$20.00" in client.get(reverse("portal:wallet")).content.decode()


@pytest.mark.parametrize("amount", ["0.50", "5000", "1.234", "abc", ""])
def test_wallet_top_up_bad_amounts_re_render_with_errors(clock, amount):
    customer = make_customer()
    card = make_card(customer=customer)
    response = signed_in(customer).post(
        reverse("portal:wallet"),
        {"amount": amount, "payment_method": str(card.pk), "idempotency_key": str(uuid.uuid4())},
    )
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not PaymentAttempt.objects.exists()


def test_wallet_top_up_declined_says_why(clock):
    customer = make_customer()
    declined = make_card(customer=customer, number="4000000000000002")
    page = signed_in(customer).post(
        reverse("portal:wallet"),
        {"amount": "10", "payment_method": str(declined.pk), "idempotency_key": str(uuid.uuid4())},
    )
    assert "Your card was declined. Try another card or contact your bank." in page.content.decode()


def test_payment_history_lists_payments_with_status_amount_and_receipt(clock):
    subscription = make_subscription()
    customer = subscription.customer
    make_wallet(customer=customer, balance_minor=1500)
    page = signed_in(customer).get(reverse("portal:payments")).content.decode()
    assert "New plan · $25.00" in page and "Wallet top-up · $15.00" in page
    assert page.count("Paid") >= 2
    invoice = PaymentAttempt.objects.filter(customer=customer).first().invoice
    assert reverse("portal:receipt", args=[invoice.pk]) in page
    assert "Jan 15, 2026, 7:00\u202fAM" in page


def test_pages_need_a_login_and_a_customer(clock, django_user_model):
    anonymous = Client()
    for name in ("portal:payments", "portal:payment_methods", "portal:wallet", "portal:sandbox_gateway_card"):
        response = anonymous.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    staff = django_user_model.objects.create_user(username="ops", email="ops@example.com", password="x")
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("portal:payments")).status_code == 403


def test_card_expiry_flags_use_the_customers_today(clock):
    clock.set(datetime(2026, 3, 31, 12, 0, tzinfo=UTC))
    customer = make_customer()
    client = signed_in(customer)
    hosted_card(client, number="4242424242424242", next_url="/payment-methods/", exp_month="3", exp_year="2026")
    hosted_card(client, number="5555555555554444", next_url="/payment-methods/", exp_month="12", exp_year="2030")
    page = client.get(reverse("portal:payment_methods")).content.decode()
    assert page.count("This card expires soon.") == 1


def test_with_a_real_gateway_our_server_never_offers_a_card_form(clock, monkeypatch):
    from types import SimpleNamespace

    from simrenew.portal.views_renewal import checkout

    monkeypatch.setattr(checkout, "get_gateway", lambda: SimpleNamespace(name="stripe"))
    client = signed_in(make_customer())
    assert client.get(reverse("portal:sandbox_gateway_card")).status_code == 404
    assert hosted_card(client, number="4242424242424242", next_url="/payments/").status_code == 404


def test_removing_the_card_auto_renew_uses_asks_what_pays_instead(clock):
    subscription = make_subscription()  # auto-renew on, paid by its card
    customer = subscription.customer
    card = subscription.payment_method
    other = make_paypal(customer=customer)
    client = signed_in(customer)

    asked = client.post(reverse("portal:payment_method_remove", args=[card.pk]))

    html = asked.content.decode()
    assert asked.status_code == 200
    assert "Auto-renew pays with this method" in html and subscription.esim.msisdn in html
    assert f'value="{other.pk}"' in html and 'value="off"' in html
    card.refresh_from_db()
    assert card.removed_at is None  # nothing removed before the customer decides
    # Deciding nothing is not an answer either.
    assert client.post(reverse("portal:payment_method_remove", args=[card.pk]), {"then": "nonsense"}).status_code == 400

    done = client.post(reverse("portal:payment_method_remove", args=[card.pk]), {"then": str(other.pk)})

    assert done.status_code == 302
    card.refresh_from_db()
    subscription.refresh_from_db()
    assert card.removed_at is not None
    assert (subscription.auto_renew, subscription.payment_method_id) == (True, other.pk)
    page = client.get(reverse("portal:payment_methods")).content.decode()
    assert "Auto-renew now pays with PayPal (buyer@example.com)." in page


def test_removing_the_card_auto_renew_uses_can_turn_auto_renew_off_instead(clock):
    subscription = make_subscription()
    card = subscription.payment_method
    client = signed_in(subscription.customer)

    done = client.post(reverse("portal:payment_method_remove", args=[card.pk]), {"then": "off"})

    assert done.status_code == 302
    subscription.refresh_from_db()
    card.refresh_from_db()
    assert card.removed_at is not None and not subscription.auto_renew
    assert "Auto-renew is off." in client.get(reverse("portal:payment_methods")).content.decode()


def test_the_wallet_is_not_offered_for_removal_and_cannot_be_removed(clock):
    customer = make_customer()
    wallet = make_wallet(customer=customer, balance_minor=1500)
    client = signed_in(customer)

    page = client.get(reverse("portal:payment_methods")).content.decode()
    assert reverse("portal:payment_method_remove", args=[wallet.pk]) not in page
    assert "Open the wallet" in page

    refused = client.post(reverse("portal:payment_method_remove", args=[wallet.pk]), follow=True)

    wallet.refresh_from_db()
    assert wallet.removed_at is None
    html = refused.content.decode()
    assert "Wallet balance is removed." not in html and "is removed." not in html
    assert "Your wallet cannot be removed" in html
    assert Wallet.objects.get(customer=customer).balance_minor == 1500


def test_the_card_page_shows_every_wrong_field_at_once(clock):
    customer = make_customer()
    client = signed_in(customer)

    page = hosted_card(
        client, number="4242424242424241", next_url="/payment-methods/", exp_month="13", exp_year="2020", cvc="12"
    )

    html = page.content.decode()
    assert page.status_code == 200
    assert "The card number is not valid." in html
    assert "Ensure this value is less than or equal to 12." in html
    assert "The security code must be 3 or 4 digits." in html
    assert not PaymentMethod.objects.filter(customer=customer).exists()
    # A right month with a past year: the expiry is judged too, beside the other errors.
    page = hosted_card(client, number="4242424242424241", next_url="/payment-methods/", exp_month="1", exp_year="2020")
    html = page.content.decode()
    assert "The card number is not valid." in html and "The card&#x27;s expiry date has passed" in html


def test_the_paypal_page_does_not_talk_about_cards(clock):
    client = signed_in(make_customer())

    html = client.get(reverse("portal:sandbox_gateway_card"), {"type": "paypal"}).content.decode()
    refused = hosted_card(client, number="", kind="paypal", next_url="/payment-methods/", paypal_email="not-an-email")

    for page in (html, refused.content.decode()):
        words = re.sub(r"<[^>]+>", " ", page.split('<main id="main">', 1)[1].split("</main>", 1)[0])
        assert "Add a PayPal account" in words
        assert "card" not in words.lower(), words
