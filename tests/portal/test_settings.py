"""The settings page: language, time zone, phone, notification channels and what auto-renew
may fall back to, and the language switch for visitors and customers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from simrenew.customers.models import Customer, NotificationKind, NotificationPreference
from simrenew.customers.services import Channels, notification_preferences, set_notification_preferences
from simrenew.kit.errors import ValidationFailed
from tests.factories import make_customer


def client_for(customer: Customer, **headers: str) -> Client:
    client = Client(headers=headers or None)
    client.force_login(customer.user)
    return client


def settings_form(customer: Customer, **changes: Any) -> dict[str, Any]:
    """The settings form as the page would post it unchanged, with `changes` applied."""
    data: dict[str, Any] = {"locale": customer.locale, "time_zone": customer.time_zone, "phone": customer.phone}
    if customer.renew_with_other_methods:
        data["renew_with_other_methods"] = "on"
    for kind, channels in notification_preferences(customer).items():
        if channels.email:
            data[f"notify_{kind}_email"] = "on"
        if channels.sms:
            data[f"notify_{kind}_sms"] = "on"
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_the_settings_page_needs_a_login(clock):
    response = Client().get(reverse("portal:settings"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_a_login_without_a_customer_profile_has_no_settings(clock):
    staff = get_user_model().objects.create_user(username="ops@example.com", email="ops@example.com")
    client = Client()
    client.force_login(staff)

    assert client.get(reverse("portal:settings")).status_code == 403


def test_the_page_shows_the_current_settings_with_email_on_and_sms_off_by_default(clock):
    customer = make_customer(time_zone="Europe/Berlin")

    page = client_for(customer).get(reverse("portal:settings")).content.decode()

    assert '<option value="Europe/Berlin" selected>' in page
    assert "it is now Jan 15, 2026, 1:00\u202fPM there." in page  # the test clock's noon UTC, in Berlin
    assert '<option value="en" selected>' in page
    for kind in NotificationKind.values:
        assert f'name="notify_{kind}_email" id="id_notify_{kind}_email" checked' in page
        assert f'name="notify_{kind}_sms" id="id_notify_{kind}_sms">' in page
        assert f'<label for="id_notify_{kind}_email">Email</label>' in page
    assert reverse("mfa_index") in page  # two-factor set-up is one click away


def test_saving_stores_everything_and_the_next_pages_speak_chinese(clock):
    customer = make_customer(locale="en")
    client = client_for(customer)

    response = client.post(
        reverse("portal:settings"),
        settings_form(
            customer,
            locale="zh-hans",
            time_zone="Asia/Shanghai",
            phone="+86 138 0013 8000",
            notify_low_data_sms="on",
            notify_receipt_email=None,
        ),
        follow=True,
    )

    customer.refresh_from_db()
    assert (customer.locale, customer.time_zone, customer.phone) == ("zh-hans", "Asia/Shanghai", "+8613800138000")
    chosen = notification_preferences(customer)
    assert chosen[NotificationKind.LOW_DATA] == Channels(email=True, sms=True)
    assert chosen[NotificationKind.RECEIPT] == Channels(email=False, sms=False)
    assert chosen[NotificationKind.EXPIRY_REMINDER] == Channels(email=True, sms=False)
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "您的设置已保存。" in page
    assert "我的 eSIM" in client.get(reverse("portal:dashboard")).content.decode()


def test_switching_back_to_english(clock):
    customer = make_customer(locale="zh-hans")
    client = client_for(customer)

    client.post(reverse("portal:settings"), settings_form(customer, locale="en"))

    page = client.get(reverse("portal:dashboard")).content.decode()
    assert "My eSIMs" in page
    assert "我的 eSIM" not in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"phone": "12345"}, "phone", "Enter the phone number with its country code, e.g. +1 212 555 0100."),
        ({"phone": "+1 212 555 01"}, "phone", "This phone number is not valid."),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Select a valid choice."),
        ({"locale": "fr"}, "locale", "Select a valid choice."),
        ({"notify_low_data_sms": "on"}, "phone", "Add a phone number to get notifications by SMS."),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_nothing_is_saved(clock, changes, field, message):
    customer = make_customer(locale="en", time_zone="America/New_York")

    response = client_for(customer).post(
        reverse("portal:settings"), settings_form(customer, **{"locale": "zh-hans", **changes})
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert f'<ul class="errorlist" id="id_{field}_error">' in page  # beside the field, and tied to it
    assert 'aria-invalid="true"' in page
    assert 'role="alert"' in page
    customer.refresh_from_db()
    assert (customer.locale, customer.phone) == ("en", "")
    assert not NotificationPreference.objects.filter(customer=customer).exists()


def test_auto_renew_tries_only_the_plans_own_method_and_the_wallet_unless_the_customer_allows_more(clock):
    customer = make_customer(locale="en")
    client = client_for(customer)

    page = client.get(reverse("portal:settings")).content.decode()
    assert "If my card is declined, try my other saved cards and PayPal" in page
    assert "we always try your wallet balance first" in page
    assert (
        '<input type="checkbox" name="renew_with_other_methods"'
        ' aria-describedby="id_renew_with_other_methods_helptext" id="id_renew_with_other_methods">' in page
    ), "off by default, and its help is tied to it"

    saved = client.post(reverse("portal:settings"), settings_form(customer, renew_with_other_methods="on"), follow=True)

    customer.refresh_from_db()
    assert customer.renew_with_other_methods is True
    assert "Your settings are saved." in saved.content.decode()
    assert 'id="id_renew_with_other_methods" checked>' in saved.content.decode()

    client.post(reverse("portal:settings"), settings_form(customer, renew_with_other_methods=None))

    customer.refresh_from_db()
    assert customer.renew_with_other_methods is False


def test_turning_on_the_fallback_with_a_bad_phone_number_saves_nothing(clock):
    customer = make_customer(locale="en")

    response = client_for(customer).post(
        reverse("portal:settings"), settings_form(customer, renew_with_other_methods="on", phone="12345")
    )

    assert response.status_code == 200
    assert "Enter the phone number with its country code" in response.content.decode()
    customer.refresh_from_db()
    assert customer.renew_with_other_methods is False


def test_the_fallback_choice_in_chinese(clock):
    customer = make_customer(locale="zh-hans")

    page = client_for(customer).get(reverse("portal:settings")).content.decode()

    assert "如果我的银行卡被拒绝，尝试我保存的其他银行卡和 PayPal" in page  # noqa: RUF001 (Chinese punctuation)
    assert "我们总会先尝试您的钱包余额" in page


def test_errors_speak_the_customers_language(clock):
    customer = make_customer(locale="zh-hans")

    response = client_for(customer).post(reverse("portal:settings"), settings_form(customer, phone="12345"))

    assert "请输入带国家/地区代码的电话号码" in response.content.decode()


def test_a_visitor_switches_the_pages_to_chinese(clock):
    visitor = Client()

    response = visitor.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("portal:landing")})

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:landing")
    page = visitor.get(reverse("portal:landing")).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "创建账户" in page


def test_the_language_switch_on_the_login_page_works_for_visitors(clock):
    visitor = Client()
    assert 'action="/language/"' in visitor.get(reverse("account_login")).content.decode()

    visitor.post(reverse("portal:set_language"), {"language": "zh-hans", "next": reverse("account_login")})

    assert "<h1>登录</h1>" in visitor.get(reverse("account_login")).content.decode()


def test_a_customer_switching_language_keeps_it_on_their_profile(clock):
    customer = make_customer(locale="en")
    client = client_for(customer)

    response = client.post(reverse("portal:set_language"), {"language": "zh-hans", "next": "https://evil.example.com/"})

    assert response["Location"] == "/"  # never redirected off the site
    customer.refresh_from_db()
    assert customer.locale == "zh-hans"
    assert "我的 eSIM" in client.get(reverse("portal:dashboard")).content.decode()


def test_an_unknown_language_changes_nothing(clock):
    customer = make_customer(locale="en")

    client_for(customer).post(reverse("portal:set_language"), {"language": "xx"})

    customer.refresh_from_db()
    assert customer.locale == "en"


def test_the_settings_form_needs_its_csrf_token(clock):
    customer = make_customer()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer.user)

    assert strict.post(reverse("portal:settings"), settings_form(customer)).status_code == 403


def test_sms_preferences_need_a_phone_number_in_the_service_too(clock):
    customer = make_customer()

    with pytest.raises(ValidationFailed) as refused:
        set_notification_preferences(customer, {NotificationKind.LOW_DATA: Channels(email=True, sms=True)})

    assert refused.value.errors[0].field == "phone"
