"""The sandbox network: a carrier's TMF641 order handling, simulated, for carriers with no network
connection (`make run`, the demo, tests).

It behaves as the real API does where the worker can tell: an order is idempotent by externalId
(the same externalId is the same order, however often sent), it is `acknowledged` at once and
`completed` once SIMRENEW_SANDBOX_NETWORK_DELAY_SECONDS of the project clock (`kit.clock`, so the
test clock moves it on) have passed, and the `add` of a line without a number gets one, told in the
completed order's `msisdn` characteristic. Latency and lost answers come from
SIMRENEW_SANDBOX_NETWORK_LATENCY_MS / _FAULT_RATE.

Test numbers: a line whose number (or ported number) ends in 0000, or a port-in whose PIN is 0000,
ends `failed` with a reason, as the SMS sandbox's 0000 numbers never receive anything.

Orders are kept in `SandboxServiceOrder` (so every process sees them) without the port-in secrets;
a failure decided on arrival is kept as a TMF `note` on the stored body.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction

from simrenew.kit import clock
from simrenew.provisioning.models import SandboxServiceOrder
from simrenew.provisioning.tmf641 import (
    ICCID,
    MSISDN,
    PORT_IN_MSISDN,
    PORT_IN_PIN,
    SECRET_CHARACTERISTICS,
    NetworkUnavailable,
    OrderRefused,
    OrderSnapshot,
    characteristics_of,
    redacted,
)

ACKNOWLEDGED = "acknowledged"
COMPLETED = "completed"
FAILED = "failed"
FAILING_SUFFIX = "0000"
FAILING_PIN = "0000"
NOTE_AUTHOR = "sandbox network"
ITEM_ACTIONS = frozenset({"add", "modify", "delete", "noChange"})
# Numbers handed out: 555-0100 to 555-0199 (reserved for fiction) in every valid US area code but
# 201, which the demo inventory's numbers use.
DEMO_AREA_CODE = 201

_faults = random.Random()
# Values per `IN (…)`: below the 999 parameters Django assumes SQLite allows.
CHUNK = 900


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[start : start + CHUNK] for start in range(0, len(values), CHUNK)]


def _orders_where(field: str, values: Sequence[str]) -> list[SandboxServiceOrder]:
    found: list[SandboxServiceOrder] = []
    for chunk in _chunks(values):
        found += SandboxServiceOrder.objects.filter(**{f"{field}__in": chunk})
    return found


@cache
def _area_codes() -> tuple[int, ...]:
    return tuple(
        area
        for area in range(200, 1000)
        if area != DEMO_AREA_CODE and phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}5550100"))
    )


def sandbox_msisdn(serial: int) -> str:
    """The `serial`-th number the sandbox network gives out (E.164, valid for phonenumbers)."""
    areas = _area_codes()
    return f"+1{areas[(serial // 100) % len(areas)]}55501{serial % 100:02d}"


def failure_reason(body: Mapping[str, Any]) -> str | None:
    """Why the sandbox network fails this order (its test numbers and PIN), or None."""
    found = characteristics_of(body)
    if found.get(PORT_IN_PIN) == FAILING_PIN:
        return "The losing carrier refused the port-out PIN."
    ported = found.get(PORT_IN_MSISDN, "")
    if ported.endswith(FAILING_SUFFIX):
        return f"The losing carrier does not release {ported}: the number is not on that account."
    number = found.get(MSISDN, "")
    if number.endswith(FAILING_SUFFIX):
        return f"The network has no line with number {number}."
    return None


def _problem(body: Mapping[str, Any]) -> str | None:
    """What keeps a body from being an order the network can act on (a 400 from a real one)."""
    if not isinstance(body.get("externalId"), str) or not body["externalId"]:
        return "externalId is required: the sandbox network finds orders by it."
    items = body.get("serviceOrderItem")
    if not isinstance(items, list) or not items:
        return "serviceOrderItem must hold at least one item."
    for item in items:
        if not isinstance(item, Mapping) or item.get("action") not in ITEM_ACTIONS:
            return "Every serviceOrderItem needs an action: add, modify, delete or noChange."
        if not isinstance(item.get("service"), Mapping):
            return "Every serviceOrderItem needs a service."
    if not characteristics_of(body).get(ICCID):
        return "The service must name the line's iccid in its serviceCharacteristic."
    return None


def _action(body: Mapping[str, Any]) -> str:
    return str(body["serviceOrderItem"][0]["action"])


def _stored_body(body: Mapping[str, Any]) -> dict[str, Any]:
    stored = redacted(body)
    reason = failure_reason(body)  # decided now: the PIN is not kept
    if reason is not None:
        stored["note"] = [*stored.get("note", []), {"author": NOTE_AUTHOR, "text": reason}]
    return stored


def _stored_failure(body: Mapping[str, Any]) -> str | None:
    for note in body.get("note", []):
        if isinstance(note, Mapping) and note.get("author") == NOTE_AUTHOR:
            return str(note.get("text", ""))
    return None


def _line_msisdn(body: Mapping[str, Any], serial: int) -> str:
    """The number an `add` ends with: the one given or ported, else one the network allocates."""
    found = characteristics_of(body)
    return found.get(MSISDN) or found.get(PORT_IN_MSISDN) or sandbox_msisdn(serial)


class SandboxNetwork:
    name = "sandbox"

    def __init__(
        self, *, latency_ms: int | None = None, fault_rate: float | None = None, delay_seconds: float | None = None
    ) -> None:
        self._latency_ms = latency_ms
        self._fault_rate = fault_rate
        self._delay_seconds = delay_seconds

    @property
    def latency_seconds(self) -> float:
        ms = settings.SIMRENEW_SANDBOX_NETWORK_LATENCY_MS if self._latency_ms is None else self._latency_ms
        return float(ms) / 1000

    @property
    def fault_rate(self) -> float:
        """The share of requests whose answer is lost: half before the network saw them, half after."""
        rate = settings.SIMRENEW_SANDBOX_NETWORK_FAULT_RATE if self._fault_rate is None else self._fault_rate
        return float(rate)

    @property
    def delay(self) -> timedelta:
        seconds = (
            settings.SIMRENEW_SANDBOX_NETWORK_DELAY_SECONDS if self._delay_seconds is None else self._delay_seconds
        )
        return timedelta(seconds=float(seconds))

    def _wait(self, count: int) -> None:
        # Requests go out concurrently, as the HTTP adapter sends them.
        if self.latency_seconds and count:
            rounds = math.ceil(count / max(1, settings.SIMRENEW_NETWORK_CONCURRENCY))
            time.sleep(self.latency_seconds * rounds)

    def _draw_fault(self) -> float | None:
        if not self.fault_rate:
            return None
        draw = _faults.random()
        return draw if draw < self.fault_rate else None

    # --- the Protocol -----------------------------------------------------------------------

    def create_many(self, bodies: Sequence[Mapping[str, Any]]) -> list[OrderSnapshot | Exception]:
        self._wait(len(bodies))
        answers: list[OrderSnapshot | Exception | None] = [None] * len(bodies)
        accepted: dict[str, list[int]] = {}  # externalId → positions asking for it
        for position, body in enumerate(bodies):
            problem = _problem(body)
            if problem is not None:
                answers[position] = OrderRefused(status=400, code="400", reason=problem)
                continue
            fault = self._draw_fault()
            if fault is not None and fault < self.fault_rate / 2:
                answers[position] = NetworkUnavailable("The sandbox network lost the request.", reached=False)
                continue
            if fault is not None:
                answers[position] = NetworkUnavailable("The sandbox network's answer was lost.", reached=True)
            accepted.setdefault(body["externalId"], []).append(position)
        if accepted:
            now = clock.now()
            orders = self._record(
                {external_id: bodies[positions[0]] for external_id, positions in accepted.items()}, now
            )
            self._settle(list(orders.values()), now)
            for external_id, positions in accepted.items():
                for position in positions:
                    if answers[position] is None:  # a lost answer stays lost, the order was made
                        answers[position] = self._snapshot(orders[external_id])
        return [answer for answer in answers if answer is not None]

    def get_many(self, order_ids: Sequence[str]) -> list[OrderSnapshot | Exception]:
        self._wait(len(order_ids))
        found = {order.order_id: order for order in _orders_where("order_id", sorted(set(order_ids)))}
        self._settle(list(found.values()), clock.now())
        answers: list[OrderSnapshot | Exception] = []
        for order_id in order_ids:
            order = found.get(order_id)
            if order is None:
                answers.append(OrderRefused(status=404, code="404", reason=f"Unknown service order {order_id}."))
            elif self._draw_fault() is not None:
                answers.append(NetworkUnavailable("The sandbox network's answer was lost.", reached=True))
            else:
                answers.append(self._snapshot(order))
        return answers

    def find_by_external_id(self, external_id: str) -> OrderSnapshot | None:
        self._wait(1)
        order = SandboxServiceOrder.objects.filter(external_id=external_id).first()
        if order is None:
            return None
        self._settle([order], clock.now())
        return self._snapshot(order)

    def register_hub(self, callback: str) -> str:
        # The sandbox sends no events: the worker's polling follows its orders.
        return f"hub-sandbox-{secrets.token_hex(6)}"

    def unregister_hub(self, hub_id: str) -> None:
        return None

    def close(self) -> None:
        return None

    # --- the ledger ---------------------------------------------------------------------------

    def _record(self, bodies: dict[str, Mapping[str, Any]], now: datetime) -> dict[str, SandboxServiceOrder]:
        """The ledger's order for each externalId: the one already there, or a new one (one INSERT)."""
        known = {order.external_id: order for order in _orders_where("external_id", list(bodies))}
        new = {external_id: body for external_id, body in bodies.items() if external_id not in known}
        if not new:
            return known
        serial = SandboxServiceOrder.objects.count() if any(_action(b) == "add" for b in new.values()) else 0
        rows = [
            self._new_order(external_id, body, now, serial + index)
            for index, (external_id, body) in enumerate(new.items())
        ]
        try:
            with transaction.atomic():  # the network's own books, whatever our transaction does
                SandboxServiceOrder.objects.bulk_create(rows)
            known.update({order.external_id: order for order in rows})
        except IntegrityError:
            # Another worker sent one of these at the same moment: take each one by one.
            for order in rows:
                with transaction.atomic():
                    kept, _ = SandboxServiceOrder.objects.get_or_create(
                        external_id=order.external_id,
                        defaults={
                            field: getattr(order, field)
                            for field in (
                                "order_id",
                                "body",
                                "state",
                                "completes_at",
                                "msisdn",
                                "created_at",
                                "updated_at",
                            )
                        },
                    )
                known[order.external_id] = kept
        return known

    def _new_order(self, external_id: str, body: Mapping[str, Any], now: datetime, serial: int) -> SandboxServiceOrder:
        msisdn = _line_msisdn(body, serial) if _action(body) == "add" else ""
        return SandboxServiceOrder(
            external_id=external_id,
            order_id=f"so-sandbox-{secrets.token_hex(8)}",
            body=_stored_body(body),
            state=ACKNOWLEDGED,
            completes_at=now + self.delay,
            msisdn=msisdn,
            created_at=now,
            updated_at=now,
        )

    def _settle(self, orders: list[SandboxServiceOrder], now: datetime) -> None:
        """Orders whose time has come end completed (or failed, for the test numbers): two UPDATEs at most."""
        due = [o for o in orders if o.state == ACKNOWLEDGED and o.completes_at is not None and o.completes_at <= now]
        for final in (COMPLETED, FAILED):
            ending = [o for o in due if (FAILED if _stored_failure(o.body) else COMPLETED) == final]
            if not ending:
                continue
            # Conditional: two readers racing record the same outcome once; time never takes it back.
            for chunk in _chunks([o.pk for o in ending]):
                SandboxServiceOrder.objects.filter(pk__in=chunk, state=ACKNOWLEDGED).update(state=final, updated_at=now)
            for order in ending:
                order.state = final

    def _snapshot(self, order: SandboxServiceOrder) -> OrderSnapshot:
        body = order.body
        found = {name: value for name, value in characteristics_of(body).items() if name not in SECRET_CHARACTERISTICS}
        item = body["serviceOrderItem"][0]
        service = item.get("service", {})
        # The carrier names the line's service after the SIM it runs on: stable across its orders.
        service_id = service.get("id") or f"sandbox-line-{found.get(ICCID, '')}"
        errors: list[str] = []
        if order.state == COMPLETED and order.msisdn:
            found[MSISDN] = order.msisdn
        if order.state == FAILED:
            errors.append(_stored_failure(body) or "The sandbox network failed the order.")
        return OrderSnapshot(
            order_id=order.order_id,
            external_id=order.external_id,
            state=order.state,
            service_id=service_id,
            characteristics=found,
            errors=errors,
        )
