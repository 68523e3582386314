"""A carrier's TMF641 Service Ordering v4 API over HTTP.

The worker sends thousands of orders a pass and a carrier answers each in a few hundred
milliseconds, so requests go out concurrently: `create_many`/`get_many` (called from any thread)
hand the batch to a pool of SIMRENEW_NETWORK_CONCURRENCY threads, each holding one keep-alive
connection (200 ms x 500 orders/s needs 100 in flight; polling doubles that).

Why the standard library's `http.client` and not httpx (DESIGN.md's outbound client): the bench
needs ~1,000 requests/s (each order is POSTed, then polled) from the worker's one process, and on
the project's 2-core machine (1,000 POSTs, 256 in flight, to the local TMF641 server) the client's
own CPU per request was ~0.7 ms for `http.client` in threads, ~1 ms for urllib3 (not a declared
dependency), ~2.7 ms for a shared `httpx.Client` in threads and 3-4 ms for `httpx.AsyncClient` (its
connection pool also slows down with hundreds of connections: 300 requests took 13 s in one pool).
A plain HTTP/1.1 exchange of JSON needs nothing more than `http.client` gives.

What the answers mean for the caller (`tmf641.NetworkUnavailable` / `OrderRefused`):
- 201/200 → an `OrderSnapshot`;
- 409 to a POST (the externalId is known) → the order already there, looked up by externalId;
- 5xx, 429, a timeout, a dropped connection, an unreadable answer → unknown fate, `reached=True`
  (Retry-After kept): send again with the same externalId;
- connection refused, DNS or TLS failure, connect timeout → never sent, `reached=False`;
- any other 4xx → `OrderRefused` (the request itself is wrong; sending it again will not help).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings

from simrenew.kit import clock
from simrenew.provisioning.tmf641 import NetworkUnavailable, OrderRefused, OrderSnapshot

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A connection idle longer than this is closed rather than reused: carriers' proxies drop idle
# keep-alive connections (nginx after 75 s), and a request sent on a dropped one is lost.
KEEPALIVE_SECONDS = 5.0


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or clock.system_now())).total_seconds())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def snapshot_from(data: Any) -> OrderSnapshot:
    """An `OrderSnapshot` from a TMF641 `ServiceOrder`; ValueError when it is not one."""
    if not isinstance(data, Mapping) or not _text(data.get("id")):
        raise ValueError("The answer is not a ServiceOrder (no id).")
    items = data.get("serviceOrderItem")
    items = items if isinstance(items, list) else []
    service_id: str | None = None
    characteristics: dict[str, str] = {}
    errors: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        service = item.get("service")
        if isinstance(service, Mapping):
            service_id = service_id or _text(service.get("id"))
            found = service.get("serviceCharacteristic")
            for characteristic in found if isinstance(found, list) else []:
                if isinstance(characteristic, Mapping) and _text(characteristic.get("name")):
                    value = characteristic.get("value")
                    characteristics[characteristic["name"]] = "" if value is None else str(value)
        errors += _error_texts(item.get("errorMessage"))
    errors = _error_texts(data.get("errorMessage")) + errors
    state = _text(data.get("state")) or "acknowledged"
    if not errors and state not in ("acknowledged", "inProgress", "completed"):
        # Some carriers explain a failure in a note rather than an errorMessage.
        notes = data.get("note")
        for note in notes if isinstance(notes, list) else []:
            if isinstance(note, Mapping) and _text(note.get("text")):
                errors.append(note["text"])
    return OrderSnapshot(
        order_id=data["id"],
        external_id=_text(data.get("externalId")),
        state=state,
        service_id=service_id,
        characteristics=characteristics,
        errors=errors,
    )


def _error_texts(messages: Any) -> list[str]:
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, Mapping):
            continue
        parts = [_text(message.get(key)) for key in ("code", "reason", "message")]
        text = ": ".join(part for part in parts if part)
        if text:
            texts.append(text)
    return texts


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _refusal(answer: Answer) -> OrderRefused:
    """A TMF `Error` body (code, reason, message) when there is one, else the HTTP status."""
    code, reason = str(answer.status), answer.reason or "Refused"
    try:
        data = answer.json()
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        code = _text(data.get("code")) or code
        reason = "; ".join(part for part in (_text(data.get("reason")), _text(data.get("message"))) if part) or reason
    return OrderRefused(status=answer.status, code=code, reason=reason[:500])


def _unavailable(answer: Answer) -> NetworkUnavailable:
    return NetworkUnavailable(
        f"The carrier answered {answer.status}.",
        reached=True,
        status=answer.status,
        retry_after=retry_after_seconds(answer.headers.get("Retry-After")),
    )


class _Connection:
    """One keep-alive connection, used by one pool thread at a time."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.http = connection
        self.last_used = 0.0


class HttpServiceOrdering:
    """TMF641 over HTTP for one carrier. Thread-safe; `close()` when done with it."""

    name = "tmf641"

    def __init__(
        self,
        base_url: str,
        token: str = "",
        *,
        timeout_seconds: float | None = None,
        concurrency: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/")
        self._ssl = ssl_context if ssl_context is not None else (ssl.create_default_context() if self._https else None)
        self._timeout = float(settings.SIMRENEW_NETWORK_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds)
        concurrency = max(1, int(settings.SIMRENEW_NETWORK_CONCURRENCY if concurrency is None else concurrency))
        headers = {"Accept": "application/json", "User-Agent": "simrenew-tmf641"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tmf641")
        self._local = threading.local()
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    # --- the Protocol -----------------------------------------------------------------------

    def create_many(self, bodies: Sequence[Mapping[str, Any]]) -> list[OrderSnapshot | Exception]:
        return self._gather([self._submit(self._create, body) for body in bodies])

    def get_many(self, order_ids: Sequence[str]) -> list[OrderSnapshot | Exception]:
        return self._gather([self._submit(self._get, order_id) for order_id in order_ids])

    def find_by_external_id(self, external_id: str) -> OrderSnapshot | None:
        return self._submit(self._find, external_id).result()

    def register_hub(self, callback: str) -> str:
        return self._submit(self._register_hub, callback).result()

    def unregister_hub(self, hub_id: str) -> None:
        self._submit(self._unregister_hub, hub_id).result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.http.close()

    def __enter__(self) -> HttpServiceOrdering:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- on the pool's threads ------------------------------------------------------------

    def _submit(self, task: Callable[[Any], T], argument: Any) -> Future[T]:
        if self._closed:
            raise RuntimeError("This HttpServiceOrdering is closed.")
        return self._pool.submit(task, argument)

    @staticmethod
    def _gather(futures: list[Future[OrderSnapshot]]) -> list[OrderSnapshot | Exception]:
        answers: list[OrderSnapshot | Exception] = []
        for future in futures:
            try:
                answers.append(future.result())
            except (NetworkUnavailable, OrderRefused) as exc:
                answers.append(exc)
            except Exception as exc:
                # A bug of ours, one order's worth: that order is retried, the rest go on.
                logger.exception("TMF641 request failed unexpectedly")
                answers.append(NetworkUnavailable(f"{type(exc).__name__}: {exc}", reached=True))
        return answers

    def _connection(self) -> _Connection:
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                made: http.client.HTTPConnection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._ssl
                )
            else:
                made = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            connection = _Connection(made)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _exchange(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None) -> Answer:
        connection = self._connection()
        if connection.http.sock is not None and time.monotonic() - connection.last_used > KEEPALIVE_SECONDS:
            connection.http.close()  # idle too long: the carrier may have dropped it
        if connection.http.sock is None:
            try:
                connection.http.connect()
            except (OSError, http.client.HTTPException) as exc:  # refused, DNS, TLS, connect timeout
                connection.http.close()
                raise NetworkUnavailable(f"{type(exc).__name__}: {exc}", reached=False) from exc
        target = self._path + "/" + path + (("?" + urlencode(query)) if query else "")
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.http.request(method, target, body=payload, headers=headers)
            response = connection.http.getresponse()
            answer = Answer(response.status, response.reason, response.headers, response.read())
        except (OSError, http.client.HTTPException) as exc:
            # Sent, or partly: the carrier may have acted on it (a lost answer, a read timeout).
            connection.http.close()
            raise NetworkUnavailable(f"{type(exc).__name__}: {exc}", reached=True) from exc
        if response.will_close:
            connection.http.close()
        connection.last_used = time.monotonic()
        return answer

    def _create(self, body: Mapping[str, Any]) -> OrderSnapshot:
        answer = self._exchange("POST", "serviceOrder", body=body)
        external_id = body.get("externalId")
        if answer.status == 409 and isinstance(external_id, str) and external_id:
            # Sent before (our answer was lost): the carrier has it under our externalId.
            found = self._find(external_id)
            if found is None:
                raise NetworkUnavailable(
                    "The carrier says this externalId exists but does not find it.", reached=True, status=409
                )
            return found
        return self._snapshot(answer, expected=(200, 201))

    def _get(self, order_id: str) -> OrderSnapshot:
        answer = self._exchange("GET", "serviceOrder/" + quote(order_id, safe=""))
        return self._snapshot(answer, expected=(200,))

    def _find(self, external_id: str) -> OrderSnapshot | None:
        answer = self._exchange("GET", "serviceOrder", query={"externalId": external_id})
        data = self._json(answer, expected=(200,))
        # A carrier that ignores the filter lists other orders too: keep only ours.
        for entry in data if isinstance(data, list) else []:
            if isinstance(entry, Mapping) and entry.get("externalId") == external_id:
                try:
                    return snapshot_from(entry)
                except ValueError as exc:
                    raise NetworkUnavailable(str(exc), reached=True, status=answer.status) from exc
        return None

    def _register_hub(self, callback: str) -> str:
        answer = self._exchange("POST", "hub", body={"callback": callback})
        data = self._json(answer, expected=(200, 201))
        hub_id = data.get("id") if isinstance(data, Mapping) else None
        if not isinstance(hub_id, str | int) or hub_id == "":
            raise NetworkUnavailable("The hub answer names no subscription id.", reached=True)
        return str(hub_id)

    def _unregister_hub(self, hub_id: str) -> None:
        answer = self._exchange("DELETE", "hub/" + quote(hub_id, safe=""))
        if answer.status == 404:
            return  # already gone: what we wanted
        self._json(answer, expected=(200, 204), empty_ok=True)

    @staticmethod
    def _json(answer: Answer, *, expected: tuple[int, ...], empty_ok: bool = False) -> Any:
        status = answer.status
        if status >= 500 or status == 429:
            raise _unavailable(answer)
        if 400 <= status < 500:
            raise _refusal(answer)
        if status not in expected:
            raise NetworkUnavailable(f"Unexpected answer {status}.", reached=True, status=status)
        if empty_ok and not answer.body:
            return None
        try:
            return answer.json()
        except ValueError as exc:
            raise NetworkUnavailable("The carrier's answer is not JSON.", reached=True, status=status) from exc

    def _snapshot(self, answer: Answer, *, expected: tuple[int, ...]) -> OrderSnapshot:
        data = self._json(answer, expected=expected)
        try:
            return snapshot_from(data)
        except ValueError as exc:
            raise NetworkUnavailable(str(exc), reached=True, status=answer.status) from exc
