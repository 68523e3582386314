"""Alipay and WeChat Pay through Stripe, for payments made by hand by customers who read the portal in
Chinese: paid on Alipay's page (a redirect and back) or by scanning WeChat Pay's code, never saved,
never charged by auto-renew. The local Stripe plays Alipay's test page and the phone's scan."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from simrenew.payments.charging import reconcile, run_charge
from simrenew.payments.gateway import gateway_named
from simrenew.payments.models import PAY_ELSEWHERE, AttemptStatus, MethodType, PaymentMethod
from simrenew.payments.services import one_off_method
from simrenew.portal.views_renewal.shared import payment_choices
from simrenew.subscriptions.renewals import begin_renewal
from tests.factories import make_customer, make_plan, make_subscription
from tests.payments.local_stripe import local_stripe, save_stripe_card
from tests.payments.stripe_server import StripeServer

__all__ = ["local_stripe"]

BACK = "http://testserver/payments/{}/"


def chinese_subscriber(server: StripeServer):
    customer = make_customer(locale="zh-hans")
    plan = make_plan(price_minor=3500, period_unit="month")
    return make_subscription(customer=customer, plan=plan, payment_method=save_stripe_card(customer, server))


def pay_by_hand(subscription, kind: str, key: str):
    method = one_off_method(subscription.customer, kind)
    return run_charge(
        lambda: begin_renewal(subscription=subscription, idempotency_key=key, payment_method=method),
        return_to=BACK.format,
    )


def test_alipay_is_paid_on_alipays_page_and_the_way_back_settles_it(clock, local_stripe: StripeServer):
    subscription = chinese_subscriber(local_stripe)

    attempt = pay_by_hand(subscription, MethodType.ALIPAY, "alipay-1")

    assert (attempt.status, attempt.next_action) == (AttemptStatus.PENDING, PAY_ELSEWHERE)
    step = gateway_named("stripe").next_step(attempt.gateway_charge_id)  # type: ignore[attr-defined]
    assert step.redirect_url == f"{local_stripe.url}/alipay/{attempt.gateway_charge_id}"
    page = httpx.get(step.redirect_url)
    assert page.status_code == 200 and "Authorize Test Payment" in page.text
    back = httpx.post(f"{step.redirect_url}/authorize")  # the customer pays at Alipay
    assert back.status_code == 302
    returned = urlsplit(back.headers["Location"])
    assert returned.path == f"/payments/{attempt.pk}/"
    assert parse_qs(returned.query)["redirect_status"] == ["succeeded"]

    settled = reconcile(attempt)

    assert settled.status == AttemptStatus.SUCCEEDED and settled.next_action == ""
    assert subscription.periods.count() == 2


def test_wechat_pay_shows_a_code_to_scan_and_is_settled_once_scanned(clock, local_stripe: StripeServer):
    subscription = chinese_subscriber(local_stripe)

    attempt = pay_by_hand(subscription, MethodType.WECHAT_PAY, "wechat-1")
    step = gateway_named("stripe").next_step(attempt.gateway_charge_id)  # type: ignore[attr-defined]

    assert step.qr_image.startswith("data:image/svg+xml")
    assert not step.redirect_url
    local_stripe.authenticate(attempt.gateway_charge_id)  # scanned and paid on the phone
    assert reconcile(attempt).status == AttemptStatus.SUCCEEDED


def test_failing_at_alipay_charges_nothing(clock, local_stripe: StripeServer):
    subscription = chinese_subscriber(local_stripe)
    attempt = pay_by_hand(subscription, MethodType.ALIPAY, "alipay-2")

    httpx.post(f"{local_stripe.url}/alipay/{attempt.gateway_charge_id}/fail")

    failed = reconcile(attempt)

    assert (failed.status, failed.failure_code) == (AttemptStatus.FAILED, "payment_not_completed")
    assert "Alipay or WeChat Pay" in failed.failure_message
    assert subscription.periods.count() == 1


def test_offered_by_hand_to_chinese_readers_never_saved_nor_used_by_auto_renew(clock, local_stripe: StripeServer):
    chinese = make_customer(locale="zh-hans")
    english = make_customer(locale="en")

    offered = [value for value, _ in payment_choices(chinese)]
    assert "alipay" in offered and "wechat_pay" in offered
    assert "alipay" not in [value for value, _ in payment_choices(english)]
    one_off_method(chinese, MethodType.ALIPAY)
    assert not PaymentMethod.objects.filter(customer=chinese).exists()  # not in any saved list
    assert PaymentMethod.every.filter(customer=chinese, type="alipay").count() == 1


def test_without_stripe_they_are_not_offered(clock):
    assert "alipay" not in [value for value, _ in payment_choices(make_customer(locale="zh-hans"))]


@pytest.mark.django_db
def test_from_the_pay_page_to_alipay_and_back(clock, local_stripe: StripeServer, settings):
    settings.SIMRENEW_PUBLIC_URL = "http://testserver"
    subscription = chinese_subscriber(local_stripe)
    client = Client()
    client.force_login(subscription.customer.user, backend="django.contrib.auth.backends.ModelBackend")
    pay = reverse("portal:pay", args=[subscription.pk])
    form = client.get(pay, {"plan": subscription.plan_id}).content.decode()
    assert "支付宝" in form or "Alipay" in form
    key = form.split('name="idempotency_key" value="')[1].split('"')[0]

    sent = client.post(
        pay, {"plan": subscription.plan_id, "payment_method": "alipay", "idempotency_key": key, "promo_code": ""}
    )
    assert sent.status_code == 302
    confirmation = client.get(sent["Location"]).content.decode()
    to_alipay = confirmation.split(f'href="{local_stripe.url}/alipay/')[1].split('"')[0]
    back = httpx.post(f"{local_stripe.url}/alipay/{to_alipay}/authorize").headers["Location"]
    done = client.get(back.removeprefix("http://testserver")).content.decode()

    assert "已收到付款" in done  # "Payment received — thank you", in Chinese
    assert subscription.periods.count() == 2
