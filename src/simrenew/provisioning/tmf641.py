"""Lines over TM Forum TMF641 Service Ordering v4: the neutral types the line domain works with,
the adapter Protocol, and the one place a line change becomes a `ServiceOrder_Create` body.

The domain speaks of a `LineChangeOrder` (add / modify / delete a line, with the state and plan it
should reach); `order_body` translates it into the standard's words (STYLE §20) and the adapters
(`tmf641_http.HttpServiceOrdering`, `sandbox_network.SandboxNetwork`) send it and read the carrier's
`ServiceOrder` back as an `OrderSnapshot`. Bodies are valid against the published TMF641 v4.1.0 schema
(tests/provisioning/test_order_bodies.py checks every shape against it and a strict copy of it).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from simrenew.kit.redaction import REDACTED

if TYPE_CHECKING:
    from simrenew.provisioning.models import NetworkConnection

# Order states (ServiceOrderStateType) after which an order never changes again.
FINAL_OK = frozenset({"completed"})
FINAL_BAD = frozenset({"failed", "rejected", "cancelled", "partial"})
FINAL_STATES = FINAL_OK | FINAL_BAD

Action = Literal["add", "modify", "delete"]
TargetState = Literal["active", "inactive"]
ACTIONS: frozenset[str] = frozenset({"add", "modify", "delete"})
TARGET_STATES: frozenset[str] = frozenset({"active", "inactive"})

CATEGORY = "mobileLine"
# serviceCharacteristic names: the line is identified by iccid and msisdn, the plan by its code,
# a port-in by the three values the losing carrier checks.
ICCID = "iccid"
MSISDN = "msisdn"
PLAN = "plan"
PORT_IN_MSISDN = "portInMsisdn"
PORT_IN_ACCOUNT = "portInAccount"
PORT_IN_PIN = "portInPin"
# Never written to our logs or our stored copy of a body: the old carrier's account number and PIN
# are kept encrypted on the PortRequest and deleted after the port (issue 16).
SECRET_CHARACTERISTICS = frozenset({PORT_IN_PIN, PORT_IN_ACCOUNT})


@dataclass(frozen=True, slots=True)
class PortIn:
    """Keep-my-number: the number moved from the losing carrier and what that carrier checks."""

    msisdn: str
    account: str
    pin: str


@dataclass(frozen=True, slots=True)
class LineChangeOrder:
    """One change of a line's service, as the network must hear it.

    start on a new line: add + active; suspend: modify + inactive; restore: modify + active;
    renewal onto another plan: modify + plan; terminate: delete.
    """

    external_id: str
    action: Action
    iccid: str
    target_state: TargetState | None = None
    msisdn: str | None = None
    plan_code: str | None = None
    service_id: str | None = None
    requested_start: datetime | None = None
    port: PortIn | None = None

    def __post_init__(self) -> None:
        # Programming errors, not customer input: the line domain builds these.
        if not self.external_id:
            raise ValueError("A service order needs an externalId (retries reuse it).")
        if self.action not in ACTIONS:
            raise ValueError(f"Unknown TMF641 action {self.action!r}.")
        if self.target_state is not None and self.target_state not in TARGET_STATES:
            raise ValueError(f"Unknown target state {self.target_state!r}.")
        if self.action == "delete" and self.target_state is not None:
            raise ValueError("A delete order carries no target state.")
        if self.port is not None and self.action != "add":
            raise ValueError("A number is ported in only when the line is added.")
        if self.requested_start is not None and self.requested_start.tzinfo is None:
            raise ValueError("requested_start must be timezone-aware.")

    @property
    def description(self) -> str:
        if self.action == "add":
            verb = "Start the line with a ported number" if self.port else "Start the line"
        elif self.action == "delete":
            verb = "Terminate the line"
        elif self.target_state == "inactive":
            verb = "Suspend the line"
        elif self.target_state == "active":
            verb = "Restore the line" if self.plan_code is None else "Restore the line on plan " + self.plan_code
        elif self.plan_code is not None:
            verb = "Change the line's plan to " + self.plan_code
        else:
            verb = "Update the line"  # e.g. a new SIM for the same number
        return f"{verb} of eSIM {self.iccid}"


def _characteristic(name: str, value: str) -> dict[str, str]:
    return {"name": name, "valueType": "string", "value": value}


def wire_datetime(when: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second (TMF `date-time`)."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def order_body(order: LineChangeOrder) -> dict[str, Any]:
    """The `ServiceOrder_Create` for one change: one `serviceOrderItem` acting on the line's service.

    The body carries the port-in secrets in clear: it is what goes on the wire. Store or log
    `redacted(body)` only.
    """
    characteristics = [_characteristic(ICCID, order.iccid)]
    if order.msisdn:
        characteristics.append(_characteristic(MSISDN, order.msisdn))
    if order.plan_code:
        characteristics.append(_characteristic(PLAN, order.plan_code))
    if order.port is not None:
        characteristics += [
            _characteristic(PORT_IN_MSISDN, order.port.msisdn),
            _characteristic(PORT_IN_ACCOUNT, order.port.account),
            _characteristic(PORT_IN_PIN, order.port.pin),
        ]
    service: dict[str, Any] = {}
    if order.service_id:
        service["id"] = order.service_id
    if order.target_state is not None:
        service["state"] = order.target_state
    service["serviceCharacteristic"] = characteristics
    body: dict[str, Any] = {
        "externalId": order.external_id,
        "description": order.description,
        "category": CATEGORY,
    }
    if order.requested_start is not None:
        body["requestedStartDate"] = wire_datetime(order.requested_start)
    body["serviceOrderItem"] = [{"id": "1", "action": order.action, "service": service}]
    return body


def _items(body: Mapping[str, Any]) -> list[Any]:
    items = body.get("serviceOrderItem")
    return items if isinstance(items, list) else []


def _service_characteristics(item: Any) -> list[Any]:
    if not isinstance(item, Mapping):
        return []
    service = item.get("service")
    if not isinstance(service, Mapping):
        return []
    found = service.get("serviceCharacteristic")
    return found if isinstance(found, list) else []


def characteristics_of(body: Mapping[str, Any]) -> dict[str, str]:
    """Every serviceCharacteristic of every item as name → value (text)."""
    found: dict[str, str] = {}
    for item in _items(body):
        for characteristic in _service_characteristics(item):
            if isinstance(characteristic, Mapping) and isinstance(characteristic.get("name"), str):
                value = characteristic.get("value")
                found[characteristic["name"]] = "" if value is None else str(value)
    return found


def redacted(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the body fit for logs and storage: the port-in account and PIN replaced."""
    copied: dict[str, Any] = copy.deepcopy(dict(body))
    for item in _items(copied):
        for characteristic in _service_characteristics(item):
            if isinstance(characteristic, dict) and characteristic.get("name") in SECRET_CHARACTERISTICS:
                characteristic["value"] = REDACTED
    return copied


def with_port_secrets(body: Mapping[str, Any], port: PortIn) -> dict[str, Any]:
    """The stored (redacted) body made ready to send again: the port-in secrets put back."""
    secrets = {PORT_IN_ACCOUNT: port.account, PORT_IN_PIN: port.pin}
    copied: dict[str, Any] = copy.deepcopy(dict(body))
    for item in _items(copied):
        for characteristic in _service_characteristics(item):
            if isinstance(characteristic, dict) and characteristic.get("name") in secrets:
                characteristic["value"] = secrets[characteristic["name"]]
    return copied


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """A carrier's service order as last read: its id, state and what it says of the line."""

    order_id: str
    external_id: str | None
    state: str
    service_id: str | None
    characteristics: dict[str, str]
    errors: list[str]

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state in FINAL_OK

    @property
    def msisdn(self) -> str | None:
        return self.characteristics.get(MSISDN) or None


class NetworkUnavailable(Exception):
    """The order's fate is unknown: never sent (`reached` False: connection refused, DNS) or sent
    and the answer lost, timed out or a 5xx (`reached` True). Retry with the same externalId."""

    def __init__(
        self, message: str, *, reached: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.reached = reached
        self.status = status
        self.retry_after = retry_after


class OrderRefused(Exception):
    """The carrier refused the request itself (400, 401, 403, 404, 422 …): sending it again as it
    is will not help; the operator must look."""

    def __init__(self, *, status: int, code: str, reason: str) -> None:
        super().__init__(f"{status} {code}: {reason}")
        self.status = status
        self.code = code
        self.reason = reason


class ServiceOrdering(Protocol):
    """A carrier's TMF641 Service Ordering API. Results come back in the order asked, one per input,
    each an `OrderSnapshot` or the exception (`NetworkUnavailable`, `OrderRefused`) for that one."""

    def create_many(self, bodies: Sequence[Mapping[str, Any]]) -> list[OrderSnapshot | Exception]: ...

    def get_many(self, order_ids: Sequence[str]) -> list[OrderSnapshot | Exception]: ...

    def find_by_external_id(self, external_id: str) -> OrderSnapshot | None: ...

    def register_hub(self, callback: str) -> str: ...

    def unregister_hub(self, hub_id: str) -> None: ...

    def close(self) -> None: ...


SANDBOX_PREFIX = "sandbox:"

# One HTTP adapter per connection for the life of the process: each holds an event loop, a thread
# and a pool of keep-alive connections, so it is reused by every worker pass and every thread.
# Keyed by what the adapter was built from, so an edited connection gets a fresh one.
_shared: dict[int, tuple[tuple[str, str], ServiceOrdering]] = {}
_shared_lock = threading.Lock()


def service_ordering(connection: NetworkConnection | None) -> ServiceOrdering:
    """The adapter for a carrier: its TMF641 API when connected, else the sandbox network.

    The HTTP adapter is shared (thread-safe): callers do not close it; `close_shared()` does,
    at the end of a worker's life or a test.
    """
    # Imported here: each adapter pulls in what only it needs (httpx and its event loop, the ledger).
    if connection is None or connection.base_url.startswith(SANDBOX_PREFIX):
        from simrenew.provisioning.sandbox_network import SandboxNetwork

        return SandboxNetwork()
    from simrenew.kit import crypto
    from simrenew.provisioning.tmf641_http import HttpServiceOrdering

    made_from = (connection.base_url, connection.token)
    with _shared_lock:
        known = _shared.get(connection.pk)
        if known is not None and known[0] == made_from:
            return known[1]
        token = crypto.decrypt(connection.token) if connection.token else ""
        adapter = HttpServiceOrdering(connection.base_url, token)
        _shared[connection.pk] = (made_from, adapter)
    if known is not None:
        known[1].close()
    return adapter


def close_shared() -> None:
    with _shared_lock:
        adapters = [adapter for _, adapter in _shared.values()]
        _shared.clear()
    for adapter in adapters:
        adapter.close()
