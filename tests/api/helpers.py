"""API test helpers: keyword-only factories and a JSON client that sends a Bearer key."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.test import Client

from simrenew.api.keys import authenticate, create_api_key
from simrenew.api.models import IdempotencyRecord
from simrenew.kit import clock

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response
else:
    from django.http import HttpResponse as Response

_NO_BODY = object()


def make_api_key(*, scopes: Sequence[str] = ("write",), name: str = "test partner") -> str:
    """A new API key with these scopes; returns the raw key (what a partner sends)."""
    _, raw = create_api_key(name=name, scopes=list(scopes))
    return raw


def make_pending_idempotency_record(*, raw_key: str, key: str, method: str, path: str) -> IdempotencyRecord:
    """A claim as a request still being processed leaves it (no response yet)."""
    api_key = authenticate(raw_key)
    assert api_key is not None
    return IdempotencyRecord.objects.create(
        api_key=api_key,
        key=key,
        method=method,
        path=path,
        request_hash="0" * 64,
        created_at=clock.system_now(),
    )


class ApiClient:
    """`django.test.Client` speaking JSON to /api/v1 with `Authorization: Bearer <key>`."""

    def __init__(self, raw_key: str | None) -> None:
        self.raw_key = raw_key
        self.client = Client()

    def with_key(self, raw_key: str | None) -> ApiClient:
        return ApiClient(raw_key)

    def request(
        self,
        method: str,
        path: str,
        body: Any = _NO_BODY,
        *,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        all_headers = dict(headers or {})
        if self.raw_key is not None:
            all_headers.setdefault("Authorization", f"Bearer {self.raw_key}")
        if raw is not None:
            data: bytes | str = raw
        elif body is _NO_BODY:
            data = ""
        else:
            data = json.dumps(body)
        url = path if path.startswith("/") else f"/api/v1/{path}"
        response: Response = self.client.generic(method, url, data=data, content_type=content_type, headers=all_headers)
        return response

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> Response:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> Response:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> Response:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)


def assert_problem(
    response: Response, *, status: int, type: str, fields: Sequence[str] | None = None
) -> dict[str, Any]:
    """The answer is RFC 9457 problem+json of this status and type; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body: dict[str, Any] = json.loads(response.content)
    assert body["type"] == type, body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if fields is not None:
        assert [e["field"] for e in body.get("errors", [])] == list(fields), body
        assert all(e["message"] for e in body["errors"])
    return body
