"""`Idempotency-Key` for API writes: a retried request gets the first answer again.

How it works, per (API key, Idempotency-Key):

1. Before the handler runs, a record is claimed in its own committed
   transaction (so another process sees it at once). It fingerprints the method,
   the path and the body (JSON compared by value, so key order and spacing do not
   matter).
2. The request runs as usual (authentication, validation, the handler with its
   own `transaction.atomic()`).
3. Afterwards the record is completed with the status and body of the answer.
   It is deleted instead, so the client may simply retry, when the answer is a
   5xx or when the handler never started (the request was refused before it ran:
   wrong scope, body that did not validate).

A second request with the same key then:
- same method, path and body, first one finished → the stored answer, with
  `Idempotent-Replayed: true`;
- different method, path or body → 409 `/problems/idempotency-key-reused`;
- first one still running → 409 `/problems/idempotency-key-in-use` (retry later).

Records are kept for `RETENTION` (30 days); after that the key may be used
afresh and `purge_expired_records()` (for the worker) deletes them. A record left
incomplete by a crashed process is taken over after `LEASE`. Times here are
real (system clock), not the sandbox test clock: they concern real clients'
retries, not simulated subscription time.

Routers apply it with the `@idempotent()` decorator placed *under* the route
decorator; the handler reads the key with `idempotency_key(request)` or, for a
gateway call, `scoped_idempotency_key(request)`. An answer that shows a secret once
(a webhook signing secret) calls `withhold_from_replay(request, …)`: the stored answer,
and so every replay, has those fields replaced, and the secret is never stored.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from ninja.decorators import decorate_view
from ninja.operation import Operation
from ninja.utils import contribute_operation_callback

from simrenew.api import ratelimit
from simrenew.api.auth import api_key_from_request, rate_limit_id
from simrenew.api.models import ApiKey, IdempotencyRecord
from simrenew.api.problems import PROBLEM_CONTENT_TYPE, error_response
from simrenew.kit import clock
from simrenew.kit.errors import Conflict, SimrenewError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(days=30)
# An incomplete record older than this belongs to a request that died; it may be taken over.
LEASE = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_KEY_ATTR = "idempotency_key"
_STARTED_ATTR = "_simrenew_handler_started"
_WITHHOLD_ATTR = "_simrenew_withhold_from_replay"

F = TypeVar("F", bound=Callable[..., Any])


class IdempotencyKeyReused(Conflict):
    slug = "idempotency-key-reused"
    title = "The idempotency key was used for a different request"


class IdempotencyKeyInUse(Conflict):
    slug = "idempotency-key-in-use"
    title = "A request with this idempotency key is still in progress"


class IdempotencyKeyMissingError(SimrenewError):
    status = 400
    slug = "idempotency-key-missing"
    title = "An Idempotency-Key header is required"


class IdempotencyKeyInvalidError(SimrenewError):
    status = 400
    slug = "idempotency-key-invalid"
    title = "The Idempotency-Key header is not valid"


# --- what a handler may ask ---------------------------------------------------------------------


def idempotency_key(request: HttpRequest) -> str | None:
    """The `Idempotency-Key` the client sent with this request, if any."""
    value = getattr(request, _KEY_ATTR, None)
    return value if isinstance(value, str) else None


def scoped_idempotency_key(request: HttpRequest) -> str | None:
    """The client's key made unique across API keys, e.g. for the payment gateway:
    `api:<api key id>:<SHA-256 of the Idempotency-Key>`. Hashed so that it has a
    fixed length and only safe characters, whatever the client sent."""
    value = idempotency_key(request)
    api_key = api_key_from_request(request)
    if value is None or api_key is None:
        return None
    return scope_key(api_key.pk, value)


def scope_key(api_key_id: int, client_key: str) -> str:
    return f"api:{api_key_id}:{hashlib.sha256(client_key.encode()).hexdigest()}"


def withhold_from_replay(request: HttpRequest, replacements: dict[str, Any]) -> None:
    """This answer is shown once: the copy kept for replays (of a JSON object) has these
    top-level fields replaced by these values, e.g. `{"secret": None, …}`."""
    setattr(request, _WITHHOLD_ATTR, replacements)


def withheld_body(content: bytes, replacements: dict[str, Any] | None) -> bytes:
    """The answer as kept for replays: a JSON object with `replacements` laid over its top-level
    fields (also used by migration api 0002 on answers stored before withholding existed)."""
    if not replacements:
        return content
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return b""  # a body not understood is not kept: it might hold what must not be
    if not isinstance(data, dict):
        return b""
    return json.dumps(data | replacements).encode()


# --- the record ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    record: IdempotencyRecord
    replay: bool  # True: the request was already answered; send `record`'s answer


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Keyed SHA-256 (HMAC with the secret key) of the method, the path (with query)
    and the body; JSON bodies by value. Keyed because a body may hold a card
    number, whose plain hash could be reversed by trying every number."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    digest = hmac.new(settings.SECRET_KEY.encode(), digestmod=hashlib.sha256)
    for part in (method.encode(), b"\n", path.encode(), b"\n", canonical):
        digest.update(part)
    return digest.hexdigest()


def claim(*, api_key: ApiKey, key: str, method: str, path: str, fingerprint: str) -> Claim:
    """Claim `key` for this request, committed at once, or say why not.

    Raises IdempotencyKeyReused or IdempotencyKeyInUse.
    """
    stored_path = path[:300]
    for _ in range(3):
        now = clock.system_now()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    api_key=api_key,
                    key=key,
                    method=method,
                    path=stored_path,
                    request_hash=fingerprint,
                    created_at=now,
                )
            return Claim(record, replay=False)
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if existing is None:
            continue  # deleted meanwhile (its request failed); claim it afresh
        if existing.created_at <= now - RETENTION:
            IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if (existing.method, existing.path, existing.request_hash) != (method, stored_path, fingerprint):
            raise IdempotencyKeyReused(
                f"The Idempotency-Key {key!r} was first used for {existing.method} {existing.path} "
                "with a different body. Use a new key for a new request."
            )
        if existing.completed_at is None:
            if existing.created_at <= now - LEASE:
                taken = IdempotencyRecord.objects.filter(
                    pk=existing.pk, created_at=existing.created_at, completed_at__isnull=True
                ).update(created_at=now)
                if taken:
                    existing.created_at = now
                    return Claim(existing, replay=False)
                continue
            raise IdempotencyKeyInUse(
                f"A request with the Idempotency-Key {key!r} is still being processed; retry in a moment."
            )
        return Claim(existing, replay=True)
    raise IdempotencyKeyInUse(f"The Idempotency-Key {key!r} is busy; retry in a moment.")


def complete(record: IdempotencyRecord, response: HttpResponseBase, *, withhold: dict[str, Any] | None = None) -> None:
    content = response.content if isinstance(response, HttpResponse) else b""
    content = withheld_body(content, withhold) if response.status_code < 400 else content
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=response.status_code,
        response_body=content,
        completed_at=clock.system_now(),
    )


def release(record: IdempotencyRecord) -> None:
    """Forget an unfinished claim so that the client may retry with the same key."""
    IdempotencyRecord.objects.filter(pk=record.pk, completed_at__isnull=True).delete()


def _is_problem_body(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and {"type", "title", "status", "detail"} <= data.keys()


def replay(record: IdempotencyRecord) -> HttpResponse:
    status = record.response_status or 200
    body = bytes(record.response_body or b"")
    # Not every 4xx is a problem: a refused renewal is a 402 with the renewal as plain JSON.
    content_type = (
        PROBLEM_CONTENT_TYPE if status >= 400 and _is_problem_body(body) else "application/json; charset=utf-8"
    )
    response = HttpResponse(body, status=status, content_type=content_type)
    response[REPLAYED_HEADER] = "true"
    return response


def purge_expired_records() -> int:
    """Delete records past `RETENTION`; returns how many. For the worker's periodic run."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=clock.system_now() - RETENTION).delete()
    return deleted


# --- the decorator ------------------------------------------------------------------------------


def _validate_key(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise IdempotencyKeyInvalidError("The Idempotency-Key header is empty.")
    if len(value) > MAX_KEY_LENGTH:
        raise IdempotencyKeyInvalidError(f"The Idempotency-Key may be at most {MAX_KEY_LENGTH} characters.")
    if not all(" " <= ch <= "~" for ch in value):
        raise IdempotencyKeyInvalidError("The Idempotency-Key may hold only printable ASCII characters.")
    return value


def _guard_run(run: Callable[..., HttpResponseBase], *, required: bool) -> Callable[..., HttpResponseBase]:
    """Wrap ninja's `Operation.run` (auth, validation, handler, error handling)."""

    @functools.wraps(run)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        setattr(request, _KEY_ATTR, None)
        if request.method not in WRITE_METHODS:
            return run(request, *args, **kwargs)
        api_key = api_key_from_request(request)
        if api_key is None:
            return run(request, *args, **kwargs)  # answers 401
        try:
            # Before the claim: a refused request should not cost a committed write.
            ratelimit.enforce(request, rate_limit_id(api_key))
        except SimrenewError as error:
            return error_response(error)
        raw = request.headers.get(HEADER)
        if raw is None:
            if required:
                return error_response(
                    IdempotencyKeyMissingError(
                        f"This request must carry an {HEADER} header (a unique value per intended "
                        "operation, e.g. a UUID), so that a retry can never repeat it."
                    )
                )
            return run(request, *args, **kwargs)
        try:
            key = _validate_key(raw)
            result = claim(
                api_key=api_key,
                key=key,
                method=request.method or "",
                path=request.get_full_path(),
                fingerprint=request_fingerprint(request.method or "", request.get_full_path(), request.body),
            )
        except SimrenewError as error:
            return error_response(error)
        if result.replay:
            return replay(result.record)
        setattr(request, _KEY_ATTR, key)
        try:
            response = run(request, *args, **kwargs)
        except BaseException:
            release(result.record)
            raise
        # A 429 (e.g. too many promotion codes) asks for a retry later: the key is not spent on it.
        if response.status_code >= 500 or response.status_code == 429 or not getattr(request, _STARTED_ATTR, False):
            release(result.record)
        else:
            complete(result.record, response, withhold=getattr(request, _WITHHOLD_ATTR, None))
        return response

    return guarded


def _mark_handler_start(operation: Operation) -> None:
    handler = operation.view_func

    @functools.wraps(handler)
    def started(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        setattr(request, _STARTED_ATTR, True)
        return handler(request, *args, **kwargs)

    operation.view_func = started


def _document(required: bool) -> Callable[[Operation], None]:
    def add_header(operation: Operation) -> None:
        parameter = {
            "in": "header",
            "name": HEADER,
            "required": required,
            "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
            "description": (
                "A unique value per intended operation (e.g. a UUID). A retry with the same key and body "
                "replays the first answer; with another body it is refused (409). Kept 30 days."
            ),
        }
        extra = dict(operation.openapi_extra or {})
        extra["parameters"] = [*extra.get("parameters", []), parameter]
        operation.openapi_extra = extra

    return add_header


def idempotent(*, required: bool = False) -> Callable[[F], F]:
    """Make a write route honour `Idempotency-Key` (demand it with `required=True`).

    Put it under the route decorator::

        @router.post("/customers", response={201: CustomerOut})
        @idempotent()
        def create_customer(request: HttpRequest, payload: CustomerIn) -> Customer: ...
    """

    def decorator(func: F) -> F:
        contribute_operation_callback(func, _mark_handler_start)
        contribute_operation_callback(func, _document(required))
        return decorate_view(functools.partial(_guard_run, required=required))(func)

    return decorator
