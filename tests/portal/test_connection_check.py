"""'Check my connection': a test SMS through the carrier adapter, and its delivery status."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from simrenew.provisioning.connection_checks import ConnectionCheckLimited, reserve_connection_check
from simrenew.provisioning.messaging import SmsReceipt
from simrenew.provisioning.models import ConnectionCheck, TestMessage
from simrenew.provisioning.sandbox import SandboxCarrier
from tests.factories import make_customer, make_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(clock):
    return make_customer()


@pytest.fixture
def subscription(customer):
    return make_subscription(customer=customer)


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer.user)
    return client


def test_the_test_sms_is_queued_then_delivered(signed_in, subscription, clock):
    manage = signed_in.get(reverse("portal:manage", args=[subscription.pk])).content.decode()
    assert "Check my connection" in manage

    sent = signed_in.post(reverse("portal:connection_check", args=[subscription.pk]))

    assert sent.status_code == 302
    message = TestMessage.objects.get()
    assert message.msisdn == subscription.esim.msisdn
    queued = signed_in.get(sent["Location"])
    assert queued.status_code == 200
    assert "Waiting for delivery" in queued.content.decode()
    assert queued["Refresh"] == "3"

    clock.advance(seconds=5)
    delivered = signed_in.get(sent["Location"])

    assert "Delivered: your eSIM is connected." in delivered.content.decode()
    assert not delivered.has_header("Refresh")


def test_an_unreachable_number_fails_after_thirty_seconds(signed_in, subscription, clock):
    esim = subscription.esim
    esim.msisdn = "+12015550000"
    esim.save(update_fields=["msisdn"])
    sent = signed_in.post(reverse("portal:connection_check", args=[subscription.pk]))

    clock.advance(seconds=5)
    assert "Waiting for delivery" in signed_in.get(sent["Location"]).content.decode()
    clock.advance(seconds=30)
    failed = signed_in.get(sent["Location"])

    html = failed.content.decode()
    assert "Not delivered: your phone could not be reached." in html
    assert "Check again" in html


def test_the_check_is_a_post_with_csrf(client, customer, subscription):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer.user)
    assert strict.post(reverse("portal:connection_check", args=[subscription.pk])).status_code == 403
    client.force_login(customer.user)
    assert client.get(reverse("portal:connection_check", args=[subscription.pk])).status_code == 405


def test_a_forged_or_foreign_status_link_is_404(signed_in, customer, subscription, client):
    sent = signed_in.post(reverse("portal:connection_check", args=[subscription.pk]))
    token = sent["Location"].rstrip("/").rsplit("/", 1)[1]
    other = make_subscription(customer=customer)

    assert signed_in.get(reverse("portal:connection_status", args=[subscription.pk, "forged:token"])).status_code == 404
    # A genuine token for one eSIM does not show under another of the customer's plans.
    assert signed_in.get(reverse("portal:connection_status", args=[other.pk, token])).status_code == 404


def _check(client, subscription):
    """Press 'Check my connection' and follow where it leads."""
    return client.post(reverse("portal:connection_check", args=[subscription.pk]), follow=True)


def test_an_esim_gets_three_test_messages_an_hour(signed_in, subscription, clock):
    for _ in range(3):
        assert _check(signed_in, subscription).status_code == 200
        clock.advance(minutes=10)

    refused = _check(signed_in, subscription)

    html = refused.content.decode()
    assert refused.redirect_chain[-1][0] == reverse("portal:manage", args=[subscription.pk])
    assert "No test message was sent: this eSIM has had 3 in the last hour, the most it can get." in html
    # The first of the three was sent at 12:00 UTC (7 AM in the customer's New York): it leaves the hour at 8.
    assert "You can send another after Jan 15, 2026, 8:00\u202fAM." in html
    assert TestMessage.objects.count() == 3

    clock.advance(minutes=31)  # 13:01 UTC: the first check is more than an hour old
    assert "Waiting for delivery" in _check(signed_in, subscription).content.decode()
    assert TestMessage.objects.count() == 4


def test_a_customer_gets_ten_test_messages_a_day_across_their_esims(signed_in, customer, subscription, clock):
    others = [make_subscription(customer=customer) for _ in range(3)]
    for plan in [subscription, *others]:
        for _ in range(3 if plan is not others[-1] else 1):
            _check(signed_in, plan)
    assert TestMessage.objects.count() == 10

    clock.advance(hours=2)  # every eSIM's hour is over, the customer's day is not
    refused = _check(signed_in, others[-1])

    assert "No test message was sent: you have sent 10 in the last 24 hours, the most allowed." in (
        refused.content.decode()
    )
    assert TestMessage.objects.count() == 10

    clock.advance(hours=22, minutes=1)
    assert "Waiting for delivery" in _check(signed_in, others[-1]).content.decode()


def test_the_refusal_speaks_the_customers_language(client, clock):
    customer = make_customer(locale="zh-hans", time_zone="Asia/Shanghai")
    subscription = make_subscription(customer=customer)
    client.force_login(customer.user)
    for _ in range(3):
        _check(client, subscription)

    refused = _check(client, subscription).content.decode()

    # A no-break space keeps the number with its measure word.
    assert "未发送测试短信：此 eSIM 在过去一小时内已收到 3\u00a0条，已达上限。" in refused  # noqa: RUF001
    assert TestMessage.objects.count() == 3


class WatchedCarrier(SandboxCarrier):
    """The sandbox carrier, noting what the database looked like while each SMS was sent;
    with `down=True` it raises as an unreachable carrier would."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.seen: list[dict[str, object]] = []

    def send_test_sms(self, msisdn: str, text: str) -> SmsReceipt:
        self.seen.append(
            {
                "in_transaction": connection.in_atomic_block,
                "reserved": list(ConnectionCheck.objects.values_list("message_id", flat=True)),
            }
        )
        if self.down:
            raise ConnectionError("carrier unreachable")
        return super().send_test_sms(msisdn, text)


@pytest.fixture
def carrier(monkeypatch):
    def register(**kwargs: bool) -> WatchedCarrier:
        watched = WatchedCarrier(**kwargs)
        monkeypatch.setattr("simrenew.provisioning.connection_checks.get_messaging", lambda: watched)
        return watched

    return register


@pytest.mark.django_db(transaction=True)  # so that a transaction around the send would show
def test_the_sms_goes_out_after_the_reservation_committed_and_outside_any_transaction(signed_in, subscription, carrier):
    watched = carrier()

    sent = signed_in.post(reverse("portal:connection_check", args=[subscription.pk]))

    assert sent.status_code == 302
    # No transaction (so no row lock) during the send, and the place was already taken and committed.
    assert watched.seen == [{"in_transaction": False, "reserved": [""]}]
    check = ConnectionCheck.objects.get()
    assert check.message_id == TestMessage.objects.get().message_id  # step 3 named the message


def test_a_send_that_fails_tells_the_customer_and_does_not_use_up_a_place(signed_in, subscription, carrier):
    carrier(down=True)

    failed = _check(signed_in, subscription)

    assert failed.status_code == 200
    assert failed.redirect_chain[-1][0] == reverse("portal:manage", args=[subscription.pk])
    assert "No test message was sent: the mobile network could not take it just now." in failed.content.decode()
    assert not ConnectionCheck.objects.exists() and not TestMessage.objects.exists()

    carrier()
    for _ in range(3):  # the eSIM's three checks an hour are all still there
        assert "Waiting for delivery" in _check(signed_in, subscription).content.decode()
    assert ConnectionCheck.objects.count() == 3


def test_the_limits_count_reservations_not_yet_sent(subscription, clock):
    for _ in range(3):
        reserve_connection_check(esim=subscription.esim)

    with pytest.raises(ConnectionCheckLimited):
        reserve_connection_check(esim=subscription.esim)

    assert set(ConnectionCheck.objects.values_list("message_id", flat=True)) == {""}
