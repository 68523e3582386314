"""The sandbox carrier: test SMS that arrive after a realistic delay.

Time is the project clock (`kit.clock`), so the test clock moves deliveries on:
a message is `queued` for DELIVERY_DELAY after it was sent, then `delivered`.
A number ending in 0000 never receives anything: its messages stay `queued`
until FAILURE_AFTER, then `failed` (as a carrier gives up on an unreachable
handset). Messages are kept in `TestMessage`, so every process sees them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from simrenew.esims.identifiers import normalize_msisdn
from simrenew.kit import clock
from simrenew.provisioning.messaging import DELIVERED, FAILED, QUEUED, UNKNOWN, SmsReceipt
from simrenew.provisioning.models import TestMessage

DELIVERY_DELAY = timedelta(seconds=3)
FAILURE_AFTER = timedelta(seconds=30)
UNREACHABLE_SUFFIX = "0000"
TEXT_MAX_LENGTH = 320


def simulated_status(msisdn: str, sent_at: datetime, now: datetime) -> str:
    if msisdn.endswith(UNREACHABLE_SUFFIX):
        return FAILED if now >= sent_at + FAILURE_AFTER else QUEUED
    return DELIVERED if now >= sent_at + DELIVERY_DELAY else QUEUED


class SandboxCarrier:
    name = "sandbox"

    def send_test_sms(self, msisdn: str, text: str) -> SmsReceipt:
        number = normalize_msisdn(msisdn)
        now = clock.now()
        message = TestMessage.objects.create(
            message_id=f"sms_{secrets.token_hex(12)}",
            msisdn=number,
            text=text[:TEXT_MAX_LENGTH],
            status=QUEUED,
            sent_at=now,
            status_changed_at=now,
        )
        return SmsReceipt(message_id=message.message_id, msisdn=number, status=QUEUED, sent_at=now)

    def delivery_status(self, message_id: str) -> str:
        message = TestMessage.objects.filter(message_id=message_id).first()
        if message is None:
            return UNKNOWN
        if message.status != QUEUED:
            return message.status  # final: time never takes it back
        now = clock.now()
        status = simulated_status(message.msisdn, message.sent_at, now)
        if status != QUEUED:
            # Conditional, so two readers racing record the same outcome once.
            TestMessage.objects.filter(pk=message.pk, status=QUEUED).update(status=status, status_changed_at=now)
        return status
