"""Middleware of our own: refuse NUL characters at the door (PostgreSQL cannot store them in
text, so they would otherwise surface as a 500 deep inside a write), and keep page-only
middleware off the partner API's requests."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from csp.constants import HEADER
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from simrenew.kit import logs
from simrenew.kit.actors import Actor, acting_as

# --- a request's id -------------------------------------------------------------------------------
# An id a proxy or a partner sent is kept only when it is a plain token: it is written into every log
# line and echoed in a header, so nothing that could forge a field or a header line gets through.
REQUEST_ID_HEADER = "X-Request-Id"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class RequestIdMiddleware:
    """Each request's id: the caller's `X-Request-Id` when it is a sane token, else a new one. Every
    log line written while the request is served carries it (`kit.logs`), and the response echoes
    it, so a partner's support question and our logs meet on one value."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        with logs.bound(request_id=request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


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


# --- the partner API skips what only pages need ----------------------------------------------------
# The API answers JSON to machines: no language negotiation (its messages are English), no flash
# messages, and one strict, constant CSP instead of the pages' policy built per response. What is
# skipped here costs every API request CPU (about a fifth of GET /api/v1/subscriptions/{id}).

API_PREFIX = "/api/"
# For JSON answers nothing may load, embed or frame anything (OWASP REST Security Cheat Sheet).
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Served under /api/ but a page (Swagger UI): it keeps the page handling, CSP exclusion included.
API_PAGES = ("/api/v1/docs",)


def is_api_request(request: HttpRequest) -> bool:
    path = request.path_info
    return path.startswith(API_PREFIX) and not path.startswith(API_PAGES)


class PageLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware for pages; an API request gets the default language, activated
    here so that a thread which served a page in another language does not keep it."""

    def process_request(self, request: HttpRequest) -> None:
        if is_api_request(request):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if is_api_request(request):
            return response
        return super().process_response(request, response)


class PageMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware (flash messages shown on the next page), not for the API."""

    def process_request(self, request: HttpRequest) -> None:
        if not is_api_request(request):
            super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if is_api_request(request):
            return response
        return super().process_response(request, response)


# The console (Django's admin under /admin/) has the portal's policy plus one inline <style>:
# Django's change list sets its first column's width that way when a list has no actions.
# Allowed by its hash, so nothing else inline runs; Django is pinned, and the console's
# browser tests fail on any policy violation if an upgrade changes the block.
CONSOLE_PREFIX = "/admin/"
CONSOLE_INLINE_STYLES = ["'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='"]


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware for pages (their policy is CONTENT_SECURITY_POLICY, the console's
    with CONSOLE_INLINE_STYLES); API answers get API_CONTENT_SECURITY_POLICY, a constant,
    without building a policy per response."""

    def process_request(self, request: HttpRequest) -> None:
        if not is_api_request(request):
            super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if is_api_request(request):
            if HEADER not in response:
                response[HEADER] = API_CONTENT_SECURITY_POLICY
            return response
        if request.path_info.startswith(CONSOLE_PREFIX) and getattr(response, "_csp_update", None) is None:
            response._csp_update = {"style-src": CONSOLE_INLINE_STYLES}  # type: ignore[attr-defined]
        return super().process_response(request, response)


# --- who acts -------------------------------------------------------------------------------------


class ActorMiddleware:
    """Each request's actor (`kit.actors`) for the audit trail: the signed-in user, looked up only
    if something is audited (so a request that changes nothing costs no query). The partner API
    names its key instead (`api.auth`). The request's actor ends with it: a thread serving the
    next request never inherits it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(lambda: Actor.for_user(getattr(request, "user", None))):
            return self.get_response(request)
