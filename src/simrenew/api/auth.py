"""Bearer authentication for the partner API and the scope each request needs."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from simrenew.api import ratelimit
from simrenew.api.keys import authenticate_cached, has_scope
from simrenew.api.models import ApiKey
from simrenew.kit import logs
from simrenew.kit.actors import Actor, act_as
from simrenew.kit.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CACHE_ATTR = "_simrenew_api_key"
_MISSING = object()


class InsufficientScope(Forbidden):
    slug = "insufficient-scope"
    title = "The API key lacks the scope for this"


def api_key_from_request(request: HttpRequest) -> ApiKey | None:
    """The key in `Authorization: Bearer <key>`, looked up once per request."""
    cached = getattr(request, _CACHE_ATTR, _MISSING)
    if cached is not _MISSING:
        return cached if isinstance(cached, ApiKey) else None
    header = request.META.get("HTTP_AUTHORIZATION", "")  # not request.headers: it copies every header
    scheme, _, token = header.partition(" ")
    key = authenticate_cached(token) if scheme.lower() == "bearer" and token else None
    setattr(request, _CACHE_ATTR, key)
    return key


def rate_limit_id(key: ApiKey) -> str:
    """What a key's requests are counted under: part of its hash, unique per key and never reused
    (row ids may be, after a rolled-back insert on SQLite)."""
    return key.key_hash[:24]


def required_scope(request: HttpRequest) -> str:
    """Reads need `read`; anything that changes state needs `write` (or `admin`)."""
    return "read" if request.method in SAFE_METHODS else "write"


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer sr_…`. A missing or bad key is a 401; a key over its rate
    limit is a 429; a key without the scope the request needs is a 403.

    `scope=None` derives the scope from the method (see `required_scope`); an
    operation may demand more, e.g. `auth=ApiKeyAuth(scope="admin")`.
    """

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__()

    def __call__(self, request: HttpRequest) -> ApiKey | None:
        key = api_key_from_request(request)
        if key is None:
            return None
        return self.authenticate(request, "")

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = api_key_from_request(request)
        if key is None:
            return None
        ratelimit.enforce(request, rate_limit_id(key))
        scope = self.scope or required_scope(request)
        if not has_scope(key, scope):
            held = ", ".join(key.scopes) if key.scopes else "none"
            raise InsufficientScope(
                f"This request needs an API key with the {scope!r} scope (or a broader one); this key has: {held}."
            )
        # The key acts in what follows (the audit trail names it); no query, the row is at hand.
        act_as(Actor.for_api_key(key_id=key.pk, prefix=key.prefix, name=key.name))
        logs.bind(api_key_id=key.pk)  # the partner, in the log lines (never the key itself)
        return key


def request_api_key(request: HttpRequest) -> ApiKey:
    """The authenticated key of a request that passed `ApiKeyAuth`."""
    key = getattr(request, "auth", None)
    if not isinstance(key, ApiKey):
        raise RuntimeError("request_api_key() called on a request that was not authenticated")
    return key
