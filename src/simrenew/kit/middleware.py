"""Refuse NUL characters at the door: PostgreSQL cannot store them in text, so
they would otherwise surface as a 500 deep inside a write."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse

PROBLEM = {
    "type": "/problems/nul-character",
    "title": "The request is not valid",
    "status": 400,
    "detail": "The request contains a NUL character (\\u0000), which no field accepts.",
}


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path or b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
        return True
    body = request.body
    return b"\x00" in body or b"\\u0000" in body.lower()


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request):
            if request.path.startswith("/api/"):
                return HttpResponse(json.dumps(PROBLEM), status=400, content_type="application/problem+json")
            return HttpResponse("The request contains a NUL character.", status=400, content_type="text/plain")
        return self.get_response(request)
