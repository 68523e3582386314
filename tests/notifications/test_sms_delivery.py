"""SMS through the sandbox provider: every text it accepts is a SandboxSms row;
its test numbers fail on purpose (…0000 for now, …9999 for good)."""

from __future__ import annotations

import pytest

from simrenew.customers.models import NotificationKind
from simrenew.notifications import payloads
from simrenew.notifications.models import Delivery, SandboxSms
from simrenew.notifications.services import emit
from simrenew.notifications.sms import SMS_MAX_LENGTH, SandboxSmsProvider, SmsPermanentError, SmsTemporaryError
from tests.factories import make_plan, make_subscription
from tests.notifications.helpers import run_worker, texting_customer


def test_a_customer_who_chose_sms_gets_the_receipt_as_a_text(clock, caplog):
    customer = texting_customer(phone="+12125550100", email=False, kinds=(NotificationKind.RECEIPT,))
    make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month", price_minor=2500))

    with caplog.at_level("INFO"):
        run = run_worker()

    assert run.sent == 1
    sms = SandboxSms.objects.get()
    assert sms.to == "+12125550100"
    # The plan name's middle dot is not GSM-7: a comma keeps the text at 160 characters a segment.
    assert sms.text.startswith("simrenew: AT&T 1 month, 10 GB is active until Feb 15, 2026")
    assert sms.text.isascii()
    assert "Paid: $25.00." in sms.text and sms.text.endswith("http://127.0.0.1:8000/")
    assert len(sms.text) <= SMS_MAX_LENGTH
    assert sms.created_at == clock.now()
    delivery = Delivery.objects.get()
    assert delivery.channel == "sms" and delivery.status == "sent"
    assert delivery.provider_reference == sms.message_id
    assert sms.text not in caplog.text  # logs say that a text went out, never what it said
    assert "deliveries sent=1 retrying=0 dead=0" in caplog.text


def test_a_chinese_speaking_customer_gets_the_text_in_chinese(clock):
    customer = texting_customer(locale="zh-hans", time_zone="Asia/Shanghai", kinds=(NotificationKind.RECEIPT,))
    make_subscription(customer=customer, plan=make_plan(name="AT&T 1 month"))

    run_worker()

    text = SandboxSms.objects.get().text
    assert text.startswith("simrenew：AT&T 1 个月 · 10 GB 已开通，有效期至 2026年2月15日 20:00")  # noqa: RUF001


def test_a_number_the_provider_cannot_reach_now_is_tried_again_later(clock):
    customer = texting_customer(phone="+12125550000", email=False, kinds=(NotificationKind.RECEIPT,))
    make_subscription(customer=customer)

    first = run_worker()

    delivery = Delivery.objects.get()
    assert first.retrying == 1 and delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_error == "sandbox: the SMS provider is unreachable"
    assert not SandboxSms.objects.exists()


def test_a_number_the_provider_refuses_is_given_up_at_once(clock):
    customer = texting_customer(phone="+12125559999", email=False, kinds=(NotificationKind.RECEIPT,))
    make_subscription(customer=customer)

    run = run_worker()

    delivery = Delivery.objects.get()
    assert run.dead == 1 and delivery.status == "dead" and delivery.attempts == 1
    assert "is not a mobile number" in delivery.last_error
    assert not SandboxSms.objects.exists()


def test_a_long_text_is_cut_to_two_segments_and_keeps_the_link(clock):
    customer = texting_customer(kinds=(NotificationKind.PAYMENT_FAILED,), email=False)
    subscription = make_subscription(customer=customer)
    long_reason = "Your bank says: " + "please call us about this payment " * 12
    emit(
        "subscription.renewal_failed",
        customer=customer,
        subscription=subscription,
        data=payloads.renewal_failed(
            subscription_id=subscription.pk,
            failure_code="call_issuer",  # a gateway's own code, with its own words
            failure_message=long_reason,
            amount_minor=2500,
            currency="USD",
            expires_at=subscription.paid_through,
        ),
    )

    run_worker()

    text = SandboxSms.objects.get().text
    assert len(text) == SMS_MAX_LENGTH
    assert text.startswith("simrenew: the payment to renew") and text.endswith("… http://127.0.0.1:8000/")


def test_the_sandbox_provider_names_its_failures(clock):
    provider = SandboxSmsProvider()

    with pytest.raises(SmsTemporaryError) as temporary:
        provider.send("+12125550000", "hello")
    with pytest.raises(SmsPermanentError) as permanent:
        provider.send("+12125559999", "hello")

    assert not temporary.value.permanent and permanent.value.permanent
    assert provider.send("+12125550100", "hello").startswith("SM")
