"""The sandbox carrier delivers test SMS after a delay measured on the test clock."""

from __future__ import annotations

from simrenew.provisioning.messaging import CarrierMessaging, get_messaging
from simrenew.provisioning.models import TestMessage
from simrenew.provisioning.sandbox import SandboxCarrier


def test_a_message_is_queued_then_delivered_after_three_seconds(clock):
    carrier: CarrierMessaging = SandboxCarrier()
    receipt = carrier.send_test_sms("+1 201 555 0123", "hello")

    assert receipt.status == "queued"
    assert receipt.msisdn == "+12015550123"
    assert carrier.delivery_status(receipt.message_id) == "queued"
    clock.advance(seconds=2)
    assert carrier.delivery_status(receipt.message_id) == "queued"
    clock.advance(seconds=1)
    assert carrier.delivery_status(receipt.message_id) == "delivered"
    stored = TestMessage.objects.get(message_id=receipt.message_id)
    assert (stored.status, stored.text, stored.sent_at) == ("delivered", "hello", receipt.sent_at)


def test_a_number_ending_in_0000_never_receives_and_fails_after_thirty_seconds(clock):
    carrier = SandboxCarrier()
    receipt = carrier.send_test_sms("+12015550000", "hello")

    clock.advance(seconds=29)
    assert carrier.delivery_status(receipt.message_id) == "queued"
    clock.advance(seconds=1)
    assert carrier.delivery_status(receipt.message_id) == "failed"
    assert TestMessage.objects.get(message_id=receipt.message_id).status == "failed"


def test_an_unknown_message_id_is_unknown(clock):
    assert SandboxCarrier().delivery_status("sms_nothing") == "unknown"


def test_sandbox_mode_registers_the_sandbox_carrier():
    assert isinstance(get_messaging(), SandboxCarrier)
