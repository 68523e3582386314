"""The typed border to a carrier's SMS service (DESIGN.md §3, provisioning).

Callers use `get_messaging()`; the sandbox carrier is what sandbox mode and the
tests register. Statuses are plain strings a carrier reports: `queued`,
`delivered`, `failed` (and `unknown` for a message id the carrier never issued).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Final, Protocol

from django.conf import settings

QUEUED: Final = "queued"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
UNKNOWN: Final = "unknown"
FINAL_STATUSES: Final = frozenset({DELIVERED, FAILED})


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    message_id: str
    msisdn: str
    status: str
    sent_at: datetime


class CarrierMessaging(Protocol):
    name: str

    def send_test_sms(self, msisdn: str, text: str) -> SmsReceipt:
        """Queue a short text message to the number; the receipt names it for later look-ups."""
        ...

    def delivery_status(self, message_id: str) -> str:
        """Where the message is now: queued, delivered, failed, or unknown."""
        ...


@cache
def get_messaging() -> CarrierMessaging:
    name = getattr(settings, "SIMRENEW_CARRIER_MESSAGING", "sandbox")
    if name == "sandbox":
        from simrenew.provisioning.sandbox import SandboxCarrier

        return SandboxCarrier()
    raise ValueError(f"unknown carrier messaging adapter {name!r}")
