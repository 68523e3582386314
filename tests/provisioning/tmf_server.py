"""A local carrier speaking TM Forum TMF641 Service Ordering v4 over real HTTP, for tests and the bench.

It holds the client to the published standard: every POSTed body is validated against the
TMF641 v4.1.0 `ServiceOrder_Create` (tests/provisioning/specs/, copied from ../shared/specs) and
against a strict copy of it (`additionalProperties: false` on every object, since the published
schema allows anything, so a misspelt `serviceCharacteristics` would pass). Violations are kept in
`violations` (tests assert there are none) and answered 400, as a carrier would. The server's own
answers are validated against `ServiceOrder` too, so the tests never learn a shape the standard
does not have.

Behaviour, scripted per test:
- an order moves through `states` (default acknowledged → inProgress → completed), one step per
  GET of it (or per `advance()`), and each change is POSTed to the listener given to
  `send_events_to` as a `ServiceOrderStateChangeEvent`;
- a POST with an externalId already known answers 409 (the client then finds it by externalId);
  `posts[external_id]` counts every POST received for it, answered or not;
- `fail_with(503, times)` answers the next requests with that status; `lose_answer(times)` reads
  and carries out the next POSTs, then drops the connection without answering;
  `fail_order(external_id, "failed" | "rejected", message)`; `latency_ms` delays every answer;
- the `add` of a line gets a service id and, once completed, its number (`msisdn`, or the
  ported one).

Built for load (the bench pushes 10,000 orders with ~256 in flight at 200 ms): HTTP/1.1 keep-alive,
a thread per connection, a deep accept queue.

Run apart (the bench, so the server's threads do not share the worker's interpreter):
    python -m tests.provisioning.tmf_server --port 8641 --latency-ms 200 --states acknowledged,completed
(the bench adds --no-answer-check: the tests have shown the answers valid; bodies are still checked).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema_rs

SPECS = Path(__file__).parent / "specs"
TMF641_FILE = SPECS / "TMF641-ServiceOrdering-v4.1.0.swagger.json"
BASE_PATH = "/tmf-api/serviceOrdering/v4"
DEFAULT_STATES = ("acknowledged", "inProgress", "completed")
SECRET_NAMES = {"portInPin", "portInAccount"}


@cache
def tmf641_definitions() -> dict[str, Any]:
    definitions: dict[str, Any] = json.loads(TMF641_FILE.read_text())["definitions"]
    return definitions


def strict_definitions() -> dict[str, Any]:
    """The published definitions with `additionalProperties: false` on every object."""
    strict = copy.deepcopy(tmf641_definitions())
    for definition in strict.values():
        if definition.get("type") == "object" or "properties" in definition:
            definition["additionalProperties"] = False
    return strict


_validators: dict[tuple[str, bool], jsonschema_rs.Draft4Validator] = {}
_validators_lock = threading.Lock()


def validator(definition: str, *, strict: bool) -> jsonschema_rs.Draft4Validator:
    # Built once under a lock: hundreds of connections arriving together would otherwise each
    # build it (a deep copy of the whole spec and a compile, ~0.1 s of CPU apiece).
    with _validators_lock:
        found = _validators.get((definition, strict))
        if found is None:
            definitions = strict_definitions() if strict else tmf641_definitions()
            schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions}
            found = _validators[(definition, strict)] = jsonschema_rs.Draft4Validator(schema, validate_formats=True)
        return found


def schema_errors(instance: Any, definition: str) -> list[str]:
    """What is wrong with `instance` as the definition, published and strict (empty when valid)."""
    errors: list[str] = []
    for strict in (False, True):
        label = "strict" if strict else "published"
        for error in validator(definition, strict=strict).iter_errors(instance):
            errors.append(f"{definition} ({label}) at /{'/'.join(map(str, error.instance_path))}: {error.message}")
    return errors


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _error(code: int, reason: str, message: str = "") -> dict[str, str]:
    body = {"code": str(code), "reason": reason, "status": str(code)}
    if message:
        body["message"] = message
    return body


@dataclass
class Order:
    id: str
    external_id: str | None
    body: dict[str, Any]
    script: list[str]
    step: int = 0
    service_id: str | None = None
    msisdn: str | None = None
    error: str = ""
    gets: int = 0

    @property
    def state(self) -> str:
        return self.script[min(self.step, len(self.script) - 1)]

    def characteristics(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for item in self.body.get("serviceOrderItem", []):
            for characteristic in item.get("service", {}).get("serviceCharacteristic", []):
                found[characteristic.get("name", "")] = str(characteristic.get("value"))
        return found


@dataclass
class Script:
    fail_status: int = 0
    fail_times: int = 0
    retry_after: str | None = None
    lose_times: int = 0
    order_failures: dict[str, tuple[str, str]] = field(default_factory=dict)


class TmfServer:
    """A TMF641 carrier on 127.0.0.1; use as a context manager. `url` is the API base."""

    def __init__(
        self,
        *,
        token: str | None = None,
        latency_ms: int = 0,
        states: Sequence[str] = DEFAULT_STATES,
        port: int = 0,
        duplicate_answer: int = 409,
        tls: ssl.SSLContext | None = None,
        check_answers: bool = True,
    ) -> None:
        self.token = token
        self.latency_ms = latency_ms
        self.states = list(states)
        self.duplicate_answer = duplicate_answer
        self.check_answers = check_answers
        self.orders: dict[str, Order] = {}
        self.by_external_id: dict[str, str] = {}
        self.posts: Counter[str] = Counter()
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.authorizations: list[str | None] = []
        self.hubs: dict[str, str] = {}
        self.events_sent: list[tuple[str, str, int]] = []  # (order id, state, HTTP status or 0)
        self.in_flight = 0
        self.max_in_flight = 0
        self._script = Script()
        self._listener: str | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._numbers = itertools.count(100)
        self._httpd = _Httpd(("127.0.0.1", port), _Handler)
        self._httpd.tmf = self
        self._scheme = "http"
        if tls is not None:  # HTTPS, as a carrier's API is served
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    # --- life -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}{BASE_PATH}"

    def start(self) -> TmfServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="tmf-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> TmfServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- script ---------------------------------------------------------------------------------

    def fail_with(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        with self._lock:
            self._script.fail_status, self._script.fail_times = status, times
            self._script.retry_after = retry_after

    def lose_answer(self, times: int = 1) -> None:
        with self._lock:
            self._script.lose_times = times

    def fail_order(self, external_id: str, state: str = "failed", message: str = "Refused by the network") -> None:
        if state not in ("failed", "rejected"):
            raise ValueError("An order fails as 'failed' or 'rejected'.")
        with self._lock:
            self._script.order_failures[external_id] = (state, message)
            known = self.by_external_id.get(external_id)
            if known is not None:  # already sent: it fails from where it stands
                order = self.orders[known]
                order.error = message
                order.script = [*order.script[: order.step + 1], state]

    def send_events_to(self, listener_url: str | None) -> None:
        self._listener = listener_url

    def advance(self, external_id: str | None = None) -> None:
        """The carrier works on its own: move one order (or all) a step, telling the listener."""
        with self._lock:
            orders = (
                [self.orders[self.by_external_id[external_id]]]
                if external_id is not None
                else list(self.orders.values())
            )
            moved = [order for order in orders if self._step(order)]
        for order in moved:
            self._notify(order)

    def order(self, external_id: str) -> Order:
        return self.orders[self.by_external_id[external_id]]

    def posted_bodies(self) -> Iterator[dict[str, Any]]:
        for order in self.orders.values():
            yield order.body

    # --- behaviour (called by the handler) -----------------------------------------------------

    def _scripted_failure(self, method: str) -> tuple[int, str | None] | None:
        with self._lock:
            if self._script.fail_times > 0:
                self._script.fail_times -= 1
                return self._script.fail_status, self._script.retry_after
        return None

    def _count_post(self, raw: bytes) -> None:
        try:
            external_id = json.loads(raw).get("externalId")
        except (ValueError, AttributeError):
            return
        if isinstance(external_id, str):
            with self._lock:
                self.posts[external_id] += 1

    def _take_lost(self) -> bool:
        with self._lock:
            if self._script.lose_times > 0:
                self._script.lose_times -= 1
                return True
        return False

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        external_id = body.get("externalId")
        with self._lock:
            if external_id is not None:
                known = self.by_external_id.get(external_id)
                if known is not None:
                    if self.duplicate_answer == 409:
                        return 409, _error(409, "Duplicate externalId", f"Order {known} has externalId {external_id}.")
                    return 201, self._render(self.orders[known])
            number = next(self._ids)
            order = Order(id=f"so-{number:06d}", external_id=external_id, body=body, script=list(self.states))
            failure = self._script.order_failures.get(external_id or "")
            if failure is not None:
                state, order.error = failure
                order.script = ["rejected"] if state == "rejected" else [*self.states[:-1], "failed"]
            item = body["serviceOrderItem"][0]
            service = item.get("service", {})
            order.service_id = service.get("id") or (f"svc-{number:06d}" if item.get("action") == "add" else None)
            if item.get("action") == "add":
                characteristics = order.characteristics()
                order.msisdn = (
                    characteristics.get("msisdn")
                    or characteristics.get("portInMsisdn")
                    or f"+1415555{next(self._numbers) % 100 + 100:04d}"
                )
            self.orders[order.id] = order
            if external_id is not None:
                self.by_external_id[external_id] = order.id
            rendered = self._render(order)
        self._notify(order)
        return 201, rendered

    def _get(self, order_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            order = self.orders.get(order_id)
            if order is None:
                return 404, _error(404, "Not found", f"No service order {order_id}.")
            order.gets += 1
            moved = self._step(order)
            rendered = self._render(order)
        if moved:
            self._notify(order)
        return 200, rendered

    def _list(self, external_id: str | None) -> list[dict[str, Any]]:
        with self._lock:
            if external_id is not None:
                known = self.by_external_id.get(external_id)
                return [self._render(self.orders[known])] if known else []
            return [self._render(order) for order in self.orders.values()]

    def _step(self, order: Order) -> bool:
        if order.step >= len(order.script) - 1:
            return False
        order.step += 1
        return True

    def _render(self, order: Order) -> dict[str, Any]:
        state = order.state
        item_in = order.body["serviceOrderItem"][0]
        service_in = item_in.get("service", {})
        characteristics = [
            dict(characteristic)
            for characteristic in service_in.get("serviceCharacteristic", [])
            if characteristic.get("name") not in SECRET_NAMES  # a carrier does not echo secrets
        ]
        if state == "completed" and order.msisdn and item_in.get("action") == "add":
            characteristics = [c for c in characteristics if c.get("name") != "msisdn"]
            characteristics.append({"name": "msisdn", "valueType": "string", "value": order.msisdn})
        service: dict[str, Any] = {"serviceCharacteristic": characteristics}
        if order.service_id:
            service["id"] = order.service_id
        if state == "completed":  # the service as it now stands
            if item_in.get("action") == "delete":
                service["state"] = "terminated"
            elif "state" in service_in:
                service["state"] = service_in["state"]
        item: dict[str, Any] = {"id": item_in.get("id", "1"), "action": item_in.get("action"), "state": state}
        item["service"] = service
        rendered: dict[str, Any] = {
            "id": order.id,
            "href": f"{BASE_PATH}/serviceOrder/{order.id}",
            "category": order.body.get("category", ""),
            "description": order.body.get("description", ""),
            "orderDate": _now(),
            "state": state,
            "serviceOrderItem": [item],
        }
        if order.external_id is not None:
            rendered["externalId"] = order.external_id
        if "requestedStartDate" in order.body:
            rendered["requestedStartDate"] = order.body["requestedStartDate"]
        if state == "completed":
            rendered["completionDate"] = _now()
        if state in ("failed", "rejected"):
            rendered["errorMessage"] = [{"code": state.upper(), "reason": order.error, "timestamp": _now()}]
        if self.check_answers:
            problems = schema_errors(rendered, "ServiceOrder")
            if problems:
                self.violations += [f"answer: {problem}" for problem in problems]
        return rendered

    def _notify(self, order: Order) -> None:
        listener = self._listener
        if listener is None:
            return
        with self._lock:
            rendered, state = self._render(order), order.state
        event = {
            "eventId": f"evt-{order.id}-{order.step}",
            "eventTime": _now(),
            "eventType": "ServiceOrderStateChangeEvent",
            "event": {"serviceOrder": rendered},
        }
        problems = schema_errors(event, "ServiceOrderStateChangeEvent")
        if problems:
            self.violations += [f"event: {problem}" for problem in problems]

        def deliver() -> None:
            request = urllib.request.Request(
                listener,
                data=json.dumps(event).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            status = 0
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            with self._lock:
                self.events_sent.append((order.id, state, status))

        threading.Thread(target=deliver, name="tmf-event", daemon=True).start()


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the bench opens ~256 connections at once
    tmf: TmfServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a pooled client reuses its connections
    # Without TCP_NODELAY the body, written after the headers, waits for the client's delayed
    # ACK: 40 ms per answer.
    disable_nagle_algorithm = True
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the bench sends tens of thousands

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        tmf = self.server.tmf
        with tmf._lock:
            tmf.in_flight += 1
            tmf.max_in_flight = max(tmf.max_in_flight, tmf.in_flight)
            tmf.requests.append((method, self.path))
            tmf.authorizations.append(self.headers.get("Authorization"))
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if tmf.latency_ms:
                time.sleep(tmf.latency_ms / 1000)
            self._route(tmf, method, raw)
        finally:
            with tmf._lock:
                tmf.in_flight -= 1

    def _route(self, tmf: TmfServer, method: str, raw: bytes) -> None:
        if tmf.token is not None and self.headers.get("Authorization") != f"Bearer {tmf.token}":
            self._answer(401, _error(401, "Unauthorized", "A valid Bearer token is required."))
            return
        if method == "POST" and self.path.rstrip("/").endswith("/serviceOrder"):
            tmf._count_post(raw)
        failure = tmf._scripted_failure(method)
        if failure is not None:
            status, retry_after = failure
            headers = {"Retry-After": retry_after} if retry_after else {}
            self._answer(status, _error(status, "Service unavailable"), headers=headers)
            return
        parts = urlsplit(self.path)
        if not parts.path.startswith(BASE_PATH + "/"):
            self._answer(404, _error(404, "Not found", parts.path))
            return
        path = parts.path.removeprefix(BASE_PATH).rstrip("/")
        if method == "POST" and path == "/serviceOrder":
            self._post_order(tmf, raw)
        elif method == "GET" and path == "/serviceOrder":
            external_id = parse_qs(parts.query).get("externalId", [None])[0]
            self._answer(200, tmf._list(external_id))
        elif method == "GET" and path.startswith("/serviceOrder/"):
            self._answer(*tmf._get(path.removeprefix("/serviceOrder/")))
        elif method == "POST" and path == "/hub":
            self._post_hub(tmf, raw)
        elif method == "DELETE" and path.startswith("/hub/"):
            hub_id = path.removeprefix("/hub/")
            with tmf._lock:
                found = tmf.hubs.pop(hub_id, None)
            if found is None:
                self._answer(404, _error(404, "Not found", f"No hub {hub_id}."))
            else:
                self._answer(204, None)
        else:
            self._answer(405, _error(405, "Method not allowed", f"{method} {parts.path}"))

    def _read_json(self, tmf: TmfServer, raw: bytes) -> Any:
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            tmf.violations.append(f"{self.path}: Content-Type {self.headers.get('Content-Type')!r}")
        try:
            return json.loads(raw)
        except ValueError:
            tmf.violations.append(f"{self.path}: the body is not JSON")
            return None

    def _post_order(self, tmf: TmfServer, raw: bytes) -> None:
        body = self._read_json(tmf, raw)
        problems = ["not JSON"] if body is None else schema_errors(body, "ServiceOrder_Create")
        if problems:
            with tmf._lock:
                tmf.violations += problems
            self._answer(400, _error(400, "Invalid ServiceOrder_Create", "; ".join(problems)[:2000]))
            return
        status, answer = tmf._create(body)
        if tmf._take_lost():
            self.close_connection = True  # done, but the answer never reaches the client
            return
        self._answer(status, answer)

    def _post_hub(self, tmf: TmfServer, raw: bytes) -> None:
        body = self._read_json(tmf, raw)
        problems = ["not JSON"] if body is None else schema_errors(body, "EventSubscriptionInput")
        if problems:
            with tmf._lock:
                tmf.violations += problems
            self._answer(400, _error(400, "Invalid EventSubscriptionInput", "; ".join(problems)))
            return
        with tmf._lock:
            hub_id = f"hub-{len(tmf.hubs) + 1}"
            tmf.hubs[hub_id] = body["callback"]
        self._answer(201, {"id": hub_id, "callback": body["callback"]})

    def _answer(self, status: int, body: Any, *, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local TMF641 Service Ordering v4 carrier.")
    parser.add_argument("--port", type=int, default=8641)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--token", default=None)
    parser.add_argument("--states", default=",".join(DEFAULT_STATES), help="comma-separated, first to last")
    parser.add_argument(
        "--no-answer-check",
        action="store_true",
        help="do not validate the server's own answers (the tests do; every request body is still checked)",
    )
    args = parser.parse_args(argv)
    server = TmfServer(
        token=args.token,
        latency_ms=args.latency_ms,
        states=args.states.split(","),
        port=args.port,
        check_answers=not args.no_answer_check,
    )
    print(f"TMF641 carrier at {server.url}", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
        print(f"orders: {len(server.orders)}  violations: {len(server.violations)}", flush=True)


if __name__ == "__main__":
    main()
