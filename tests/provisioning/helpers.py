"""Arranging the eSIM world in tests: carriers connected to an SM-DP+."""

from __future__ import annotations

from typing import Any

from simrenew.kit import clock
from simrenew.provisioning.models import SmdpConnection
from tests.factories import make_carrier


def connect_smdp(*, carrier: str = "att", base_url: str = "sandbox:", **fields: Any) -> SmdpConnection:
    """The carrier's eSIMs ordered from an SM-DP+ (the sandbox twin unless `base_url` says otherwise)."""
    now = clock.now()
    values: dict[str, Any] = {
        "base_url": base_url,
        "requester_id": "simrenew",
        "smdp_id": "sandbox-smdp",
        "profile_type": "att-consumer-5g",
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    connection, _ = SmdpConnection.objects.update_or_create(carrier=make_carrier(code=carrier), defaults=values)
    return connection
