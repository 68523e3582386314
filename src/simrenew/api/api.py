"""The partner REST API: one NinjaAPI under /api/v1, Bearer API keys, problem+json errors.

OpenAPI is served at /api/v1/openapi.json and interactive docs at /api/v1/docs.
Routers live in `simrenew.api.routers`; they are thin and call domain services.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI
from ninja.errors import ValidationError, ValidationErrorContext
from ninja.openapi.docs import Swagger
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder
from ninja.types import DictStrAny

from simrenew.api import openapi, ratelimit
from simrenew.api.auth import ApiKeyAuth
from simrenew.api.problems import (
    InternalError,
    MalformedJsonError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    RouteNotFoundError,
    UnsupportedMediaTypeError,
    error_response,
    field_name,
    install_problem_handlers,
    is_problem,
)
from simrenew.api.routers import (
    customer_data,
    customers,
    esims,
    events,
    invoices,
    payment_methods,
    plans,
    subscription_payments,
    subscriptions,
    test_clock,
    usage,
    webhook_endpoints,
)
from simrenew.kit.errors import ValidationFailed

logger = logging.getLogger("simrenew.api")

DOCS_PATH = "/api/v1/docs"


class JsonEncoder(NinjaJSONEncoder):
    """Timestamps as ISO 8601 with an explicit offset (`+00:00`), to the microsecond."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


class JsonRenderer(JSONRenderer):
    encoder_class = JsonEncoder


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class JsonBodyParser(Parser):
    """Bodies must be JSON objects sent as `application/json` (or a `+json` type)."""

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        content_type = (request.content_type or "").lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"Send the body as JSON with `Content-Type: application/json` (got {content_type or 'none'!r})."
            )
        try:
            data = json.loads(request.body.decode("utf-8"), parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise MalformedJsonError(
                f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from exc
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise MalformedJsonError("The body is not valid UTF-8 JSON.") from exc
        if not isinstance(data, dict):
            raise ValidationFailed.on("body", "The body must be a JSON object ({…}).")
        return data


class DocsPage(Swagger):
    """ninja's Swagger UI page in our template (the page's language, a main landmark, colours that read).
    No deep links: Swagger UI puts each one inside the operation's button (axe: nested-interactive)."""

    template = "api/docs.html"
    default_settings = {"layout": "BaseLayout", "deepLinking": False}


class PartnerAPI(NinjaAPI):
    def set_default_exception_handlers(self) -> None:
        install_problem_handlers(self)

    def validation_error_from_error_contexts(self, error_contexts: list[ValidationErrorContext]) -> ValidationError:
        """As ninja does, plus `field`: the dotted path the client knows (no internal parameter names)."""
        errors: list[dict[str, Any]] = []
        for context in error_contexts:
            model = context.model
            source = model.__ninja_param_source__
            single_body = getattr(model, "__read_from_single_attr__", None)
            for error in context.pydantic_validation_error.errors(include_url=False, include_input=False):
                item: dict[str, Any] = dict(error)
                loc = (source, *model.__ninja_flatten_map_reverse__.get(error["loc"], error["loc"]))
                item["loc"] = loc
                item["field"] = field_name(loc, single_body_param=single_body)
                if "ctx" in item:
                    item["ctx"] = {k: str(v) for k, v in item["ctx"].items()}
                errors.append(item)
        return ValidationError(errors)

    def get_openapi_operation_id(self, operation: Operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: DictStrAny | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        openapi.finish(schema)
        return schema

    @property
    def urls(self) -> tuple[list[URLResolver | URLPattern], str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                if pattern.name == "api-root":
                    pattern.callback = api_index
                else:
                    pattern.callback = problem_safe(pattern.callback)
        return patterns, app_name, namespace


def problem_safe(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Make sure nothing under /api/v1 answers with anything but JSON, even outside ninja's handlers."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return error_response(RouteNotFoundError("No such resource."))
        except RequestDataTooBig:
            return error_response(PayloadTooLargeError("The request body is too large; send less at a time."))
        except Exception:
            logger.exception("Unhandled error in %s %s", request.method, request.path)
            return error_response(InternalError("Something went wrong on our side. It has been logged."))
        ratelimit.add_headers(request, response)
        if response.status_code == 405 and isinstance(response, HttpResponse) and not is_problem(response):
            allow = str(response.get("Allow", ""))
            return error_response(
                MethodNotAllowedError(f"{request.method} is not allowed on {request.path}; allowed: {allow}"),
                headers={"Allow": allow},
            )
        return response

    return wrapped


def api_index(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return error_response(
            MethodNotAllowedError(f"{request.method} is not allowed on {request.path}; allowed: GET."),
            headers={"Allow": "GET"},
        )
    return JsonResponse(
        {"name": api.title, "version": api.version, "docs": DOCS_PATH, "openapi": "/api/v1/openapi.json"}
    )


def unknown_route(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """Anything under /api/v1 that no route matches."""
    return error_response(RouteNotFoundError(f"There is no {request.path} in this API; see {DOCS_PATH}."))


api = PartnerAPI(
    title="simrenew partner API",
    version="1",
    description=(
        "Sell, renew and manage eSIM data plans. Authenticate with `Authorization: Bearer <API key>`. "
        "Every error is RFC 9457 problem+json. Writes accept an `Idempotency-Key` header "
        "(required for renewals): a retry with the same key and body replays the first answer."
    ),
    urls_namespace="api",
    docs=DocsPage(),
    auth=ApiKeyAuth(),
    parser=JsonBodyParser(),
    renderer=JsonRenderer(),
)

# --- routers ------------------------------------------------------------------------------------
# Each router is thin: it parses, calls a domain service inside `transaction.atomic()` and
# shapes the answer. Write routes take `@idempotent()` under the route decorator.
api.add_router("/plans", plans.router)
api.add_router("/customers", customers.router)
api.add_router("/customers", payment_methods.wallet_router)  # /customers/{id}/wallet…
api.add_router("/customers", customer_data.router)  # /customers/{id}/data-export, /erasure
api.add_router("/test-clock", test_clock.router)
api.add_router("/esims", esims.router)
api.add_router("/payment-methods", payment_methods.router)
api.add_router("/subscriptions", subscriptions.router)
api.add_router("/subscriptions", subscription_payments.router)
api.add_router("/usage", usage.router)
api.add_router("/invoices", invoices.router)
api.add_router("/webhook-endpoints", webhook_endpoints.router)
api.add_router("/events", events.router)
