"""A carrier's TMF641 Service Ordering v4 API over HTTP.

The worker sends thousands of orders a pass and a carrier answers each in a few hundred
milliseconds, so requests go out together: `create_many`/`get_many` (called from any thread) hand
the batch to one transfer thread driving libcurl's multi interface (PyPI `pycurl`), up to
SIMRENEW_NETWORK_CONCURRENCY requests at once over keep-alive connections (200 ms x 500 orders/s
needs 100 in flight; polling doubles that).

Why libcurl and not httpx (DESIGN.md's outbound client): the bench needs ~1,000 requests/s (each
order is POSTed, then polled) from the worker's one process, whose interpreter also runs the
worker's database work. Measured on the project's 2-core machine (5,000 POSTs, 256 in flight,
200 ms each, to a local server), the client's own CPU per request was 0.37 ms with pycurl's multi
interface (the HTTP work happens in C, outside the interpreter's lock), 0.6-0.9 ms for
`http.client` in threads (as this adapter did first), about the same for h11 or aiohttp, and
2.7 ms or more for `httpx`.

What the answers mean for the caller (`tmf641.NetworkUnavailable` / `OrderRefused`):
- 201/200 → an `OrderSnapshot`;
- 409 to a POST (the externalId is known) → the order already there, looked up by externalId;
- 5xx, 429, a timeout, a dropped connection, an unreadable answer → unknown fate, `reached=True`
  (Retry-After kept): send again with the same externalId;
- connection refused, DNS or TLS failure, connect timeout → never sent, `reached=False`;
- any other 4xx → `OrderRefused` (the request itself is wrong; sending it again will not help).
"""

from __future__ import annotations

import http
import io
import json
import logging
import os
import ssl
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import certifi
import pycurl
from django.conf import settings

from simrenew.provisioning.tmf641 import NetworkUnavailable, OrderRefused, OrderSnapshot

logger = logging.getLogger(__name__)

# A connection idle longer than this is closed rather than reused: carriers' proxies drop idle
# keep-alive connections (nginx after 75 s), and a request sent on a dropped one is lost.
KEEPALIVE_SECONDS = 5
# How long the transfer thread waits on its sockets before looking for new requests.
_TICK_SECONDS = 0.005


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
    body: bytes
    retry_after: float | None = None

    @property
    def reason(self) -> str:
        try:
            return http.HTTPStatus(self.status).phrase
        except ValueError:
            return ""

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
        f"The carrier answered {answer.status}.", reached=True, status=answer.status, retry_after=answer.retry_after
    )


def _ca_file() -> str:
    """The trusted CAs for HTTPS: SSL_CERT_FILE, else the system's bundle (as Python's ssl finds
    it), else certifi's (libcurl's own default path is where the wheel was built, not here)."""
    for found in (os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile):
        if found and os.path.exists(found):
            return found
    return certifi.where()


@dataclass(slots=True)
class _Request:
    method: str
    url: str
    payload: bytes | None
    answer: Future[Answer]


class _Transfers:
    """One thread driving a libcurl multi handle: requests queued from any thread go out up to
    `concurrency` at once over a shared cache of keep-alive connections; each request's Future
    gets its `Answer` or a `NetworkUnavailable`."""

    def __init__(self, *, headers: list[str], timeout_seconds: float, concurrency: int, ca_file: str | None) -> None:
        self._headers = headers
        self._timeout_ms = max(1, int(timeout_seconds * 1000))
        self._ca_file = ca_file
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, concurrency)
        self._multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, concurrency)
        self._multi.setopt(pycurl.M_MAXCONNECTS, concurrency)
        self._concurrency = concurrency
        self._idle: list[pycurl.Curl] = []  # handles made as needed, kept for reuse
        self._running: dict[pycurl.Curl, tuple[_Request, io.BytesIO]] = {}
        self._queued: deque[_Request] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="tmf641-transfers", daemon=True)
        self._thread.start()

    def submit(self, method: str, url: str, payload: bytes | None = None) -> Future[Answer]:
        request = _Request(method, url, payload, Future())
        with self._wake:
            if self._closing:
                raise RuntimeError("This HttpServiceOrdering is closed.")
            self._queued.append(request)
            self._wake.notify()
        return request.answer

    def close(self) -> None:
        with self._wake:
            if self._closing:
                return
            self._closing = True
            self._wake.notify()
        self._thread.join()

    # --- the transfer thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._step():
                pass
        finally:
            for request in [*self._queued, *(request for request, _ in self._running.values())]:
                if not request.answer.done():
                    request.answer.set_exception(NetworkUnavailable("The adapter was closed.", reached=False))
            for handle in self._running:
                self._multi.remove_handle(handle)
            for handle in [*self._idle, *self._running]:
                handle.close()
            self._multi.close()

    def _step(self) -> bool:
        with self._wake:
            while not self._queued and not self._running and not self._closing:
                self._wake.wait()
            if self._closing:
                return False
            free = self._concurrency - len(self._running)
            starting = [self._queued.popleft() for _ in range(min(len(self._queued), free))]
        for request in starting:
            try:
                self._start(request)
            except Exception as exc:  # pycurl refused an option: this request fails, the others go on
                logger.exception("TMF641 request could not be started")
                request.answer.set_exception(NetworkUnavailable(f"{type(exc).__name__}: {exc}", reached=False))
        while self._multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        self._collect()
        if self._running:
            self._multi.select(_TICK_SECONDS)
        return True

    def _start(self, request: _Request) -> None:
        if not self._idle:
            self._idle.append(pycurl.Curl())
        handle = self._idle[-1]
        handle.reset()
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.PROXY, "")  # straight to the carrier, whatever the environment says
        handle.setopt(pycurl.TIMEOUT_MS, self._timeout_ms)
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, self._timeout_ms)
        handle.setopt(pycurl.MAXAGE_CONN, KEEPALIVE_SECONDS)
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        if self._ca_file:
            handle.setopt(pycurl.CAINFO, self._ca_file)
        headers = self._headers
        if request.payload is not None:
            handle.setopt(pycurl.POSTFIELDS, request.payload)
            headers = [*headers, "Content-Type: application/json"]
        if request.method not in ("GET", "POST"):
            handle.setopt(pycurl.CUSTOMREQUEST, request.method)
        handle.setopt(pycurl.HTTPHEADER, headers)
        body = io.BytesIO()
        handle.setopt(pycurl.WRITEDATA, body)
        self._multi.add_handle(handle)
        self._idle.pop()
        self._running[handle] = (request, body)

    def _collect(self) -> None:
        while True:
            left, succeeded, failed = self._multi.info_read()
            for handle in succeeded:
                request, body = self._finish(handle)
                retry_after = handle.getinfo(pycurl.RETRY_AFTER)
                request.answer.set_result(
                    Answer(handle.getinfo(pycurl.RESPONSE_CODE), body.getvalue(), float(retry_after) or None)
                )
            for handle, code, message in failed:
                request, _ = self._finish(handle)
                # No byte of the request went out (refused, DNS, TLS, connect timeout): never
                # sent. Anything after that may have reached the carrier: a lost answer.
                reached = handle.getinfo(pycurl.REQUEST_SIZE) > 0
                request.answer.set_exception(NetworkUnavailable(f"libcurl error {code}: {message}", reached=reached))
            if not left:
                return

    def _finish(self, handle: pycurl.Curl) -> tuple[_Request, io.BytesIO]:
        self._multi.remove_handle(handle)
        self._idle.append(handle)
        return self._running.pop(handle)


def _is_duplicate(sent: Future[Answer]) -> bool:
    try:
        return sent.result().status == 409
    except NetworkUnavailable:
        return False


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
        ca_file: str | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "simrenew-tmf641", "Expect": ""}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        timeout = float(settings.SIMRENEW_NETWORK_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds)
        self._transfers = _Transfers(
            headers=[f"{name}: {value}" if value else f"{name}:" for name, value in headers.items()],
            timeout_seconds=timeout,
            concurrency=max(1, int(settings.SIMRENEW_NETWORK_CONCURRENCY if concurrency is None else concurrency)),
            ca_file=ca_file or (_ca_file() if parts.scheme == "https" else None),
        )

    # --- the Protocol -----------------------------------------------------------------------

    def create_many(self, bodies: Sequence[Mapping[str, Any]]) -> list[OrderSnapshot | Exception]:
        sent = [self._submit("POST", "serviceOrder", body=body) for body in bodies]
        # A 409 says the carrier has the externalId already (an answer of ours was lost): those
        # orders are looked up together, after every POST has its answer.
        lookups: dict[int, Future[Answer]] = {}
        for position, (body, future) in enumerate(zip(bodies, sent, strict=True)):
            external_id = body.get("externalId")
            if _is_duplicate(future) and isinstance(external_id, str) and external_id:
                lookups[position] = self._submit("GET", "serviceOrder", query={"externalId": external_id})
        answers: list[OrderSnapshot | Exception] = []
        for position, (body, future) in enumerate(zip(bodies, sent, strict=True)):
            lookup = lookups.get(position)
            if lookup is None:
                answers.append(self._outcome(self._created, future))
            else:
                answers.append(self._outcome(self._found_again, lookup, body["externalId"]))
        return answers

    def get_many(self, order_ids: Sequence[str]) -> list[OrderSnapshot | Exception]:
        sent = [self._submit("GET", "serviceOrder/" + quote(order_id, safe="")) for order_id in order_ids]
        return [self._outcome(self._read, answer) for answer in sent]

    def find_by_external_id(self, external_id: str) -> OrderSnapshot | None:
        return self._find(external_id)

    def register_hub(self, callback: str) -> str:
        answer = self._submit("POST", "hub", body={"callback": callback}).result()
        data = self._json(answer, expected=(200, 201))
        hub_id = data.get("id") if isinstance(data, Mapping) else None
        if not isinstance(hub_id, str | int) or hub_id == "":
            raise NetworkUnavailable("The hub answer names no subscription id.", reached=True)
        return str(hub_id)

    def unregister_hub(self, hub_id: str) -> None:
        answer = self._submit("DELETE", "hub/" + quote(hub_id, safe="")).result()
        if answer.status == 404:
            return  # already gone: what we wanted
        self._json(answer, expected=(200, 204), empty_ok=True)

    def close(self) -> None:
        self._transfers.close()

    def __enter__(self) -> HttpServiceOrdering:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- requests and answers ---------------------------------------------------------------

    def _submit(
        self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None
    ) -> Future[Answer]:
        url = self.base_url + "/" + path + (("?" + urlencode(query)) if query else "")
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        return self._transfers.submit(method, url, payload)

    @staticmethod
    def _outcome(read: Callable[..., OrderSnapshot], *arguments: Any) -> OrderSnapshot | Exception:
        """What one request came to: its snapshot, or the exception saying why not (never raised)."""
        try:
            result = read(*arguments)
        except (NetworkUnavailable, OrderRefused) as exc:
            return exc
        except Exception as exc:
            # A bug of ours, one order's worth: that order is retried, the rest go on.
            logger.exception("TMF641 request failed unexpectedly")
            return NetworkUnavailable(f"{type(exc).__name__}: {exc}", reached=True)
        return result

    def _created(self, sent: Future[Answer]) -> OrderSnapshot:
        return self._snapshot(sent.result(), expected=(200, 201))

    def _read(self, sent: Future[Answer]) -> OrderSnapshot:
        return self._snapshot(sent.result(), expected=(200,))

    def _found_again(self, lookup: Future[Answer], external_id: str) -> OrderSnapshot:
        found = self._matching(lookup.result(), external_id)
        if found is None:
            raise NetworkUnavailable(
                "The carrier says this externalId exists but does not find it.", reached=True, status=409
            )
        return found

    def _find(self, external_id: str) -> OrderSnapshot | None:
        answer = self._submit("GET", "serviceOrder", query={"externalId": external_id}).result()
        return self._matching(answer, external_id)

    def _matching(self, answer: Answer, external_id: str) -> OrderSnapshot | None:
        data = self._json(answer, expected=(200,))
        # A carrier that ignores the filter lists other orders too: keep only ours.
        for entry in data if isinstance(data, list) else []:
            if isinstance(entry, Mapping) and entry.get("externalId") == external_id:
                try:
                    return snapshot_from(entry)
                except ValueError as exc:
                    raise NetworkUnavailable(str(exc), reached=True, status=answer.status) from exc
        return None

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
