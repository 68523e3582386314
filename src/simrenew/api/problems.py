"""RFC 9457 problem details: the one shape every API error takes.

Every error the partner API returns is `application/problem+json` with `type`,
`title`, `status` and `detail`; validation errors add `errors: [{field, message}]`
and domain errors may add a machine-readable `code` (e.g. a decline reason).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError

from simrenew.kit.errors import FieldError, Forbidden, ServiceUnavailable, SimrenewError, ValidationFailed

logger = logging.getLogger("simrenew.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
AUTH_CHALLENGE = 'Bearer realm="simrenew"'


class MalformedJsonError(SimrenewError):
    status = 400
    slug = "malformed-json"
    title = "The body is not valid JSON"


class UnsupportedMediaTypeError(SimrenewError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class UnauthorizedError(SimrenewError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class RouteNotFoundError(SimrenewError):
    status = 404
    slug = "not-found"
    title = "Not found"


class MethodNotAllowedError(SimrenewError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class TooManyRequestsError(SimrenewError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class PayloadTooLargeError(SimrenewError):
    status = 413
    slug = "payload-too-large"
    title = "The request body is too large"


class InternalError(SimrenewError):
    status = 500
    slug = "internal-error"
    title = "Internal server error"


def problem_body(
    *,
    status: int,
    type_uri: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    code: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    if code:
        body["code"] = code
    return body


def problem_response(
    *,
    status: int,
    type_uri: str,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    body = problem_body(status=status, type_uri=type_uri, title=title, detail=detail, errors=errors, code=code)
    response = HttpResponse(
        json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False).encode(),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: SimrenewError, *, headers: Mapping[str, str] | None = None) -> HttpResponse:
    return problem_response(
        status=error.status,
        type_uri=error.type_uri,
        title=error.title,
        detail=error.detail,
        errors=error.errors,
        code=error.code,
        headers=headers,
    )


def is_problem(response: HttpResponse) -> bool:
    return str(response.get("Content-Type", "")).startswith(PROBLEM_CONTENT_TYPE)


# --- translating ninja / pydantic validation errors -------------------------------------------

_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


def field_name(loc: Sequence[Any], *, single_body_param: str | None = None) -> str:
    """`("body", "payload", "records", 0, "bytes")` → `records.0.bytes`.

    `single_body_param` names the parameter a whole-body schema is bound to; it is
    an implementation detail the client never sees, so it is dropped.
    """
    parts = list(loc)
    source = parts.pop(0) if parts and parts[0] in _SOURCES else None
    if source == "body" and single_body_param and parts and parts[0] == single_body_param:
        parts.pop(0)
    if not parts:
        return "body" if source in (None, "body") else str(source)
    return ".".join(str(p) for p in parts)


def field_message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return "This field is not recognised."
    message = str(error.get("msg", "The value is not valid."))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message and not message.endswith("."):
        message += "."
    return message[:1].upper() + message[1:]


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> ValidationFailed:
    """Turn ninja's validation errors (each with `loc`, `type`, `msg` and our `field`) into one problem."""
    field_errors: list[FieldError] = []
    for error in errors:
        field = str(error.get("field") or field_name(error.get("loc", ())))
        if field == "body" and error.get("type") == "missing":
            field_errors.append(FieldError("body", "A JSON object body is required."))
        else:
            field_errors.append(FieldError(field, field_message(error)))
    if len(field_errors) == 1:
        only = field_errors[0]
        detail = f"{only.field}: {only.message}"
    else:
        detail = f"{len(field_errors)} fields are not valid; see `errors`."
    return ValidationFailed(detail, errors=field_errors)


# --- exception handlers -----------------------------------------------------------------------


def _on_simrenew_error(request: HttpRequest, exc: SimrenewError) -> HttpResponse:
    headers = {"WWW-Authenticate": AUTH_CHALLENGE} if exc.status == 401 else None
    if isinstance(exc, ServiceUnavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc, headers=headers)


def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(validation_problem(exc.errors))


def _on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    if request.headers.get("Authorization"):
        detail = "The API key is not valid or has been revoked."
        challenge = f'{AUTH_CHALLENGE}, error="invalid_token"'
    else:
        detail = "Send your API key as `Authorization: Bearer <key>`."
        challenge = AUTH_CHALLENGE
    return error_response(UnauthorizedError(detail), headers={"WWW-Authenticate": challenge})


def _on_authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return error_response(Forbidden(str(exc) or "This API key may not do that."))


def _on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return error_response(TooManyRequestsError("Too many requests; retry after the time in `Retry-After`."))


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja wraps a body it cannot parse in HttpError(400); our parser's reason is the cause.
    if isinstance(exc.__cause__, SimrenewError):
        return error_response(exc.__cause__)
    if exc.status_code == 400:
        return error_response(MalformedJsonError("The request body could not be parsed as JSON."))
    if exc.status_code >= 500:
        return _on_unexpected(request, exc)
    return problem_response(
        status=exc.status_code,
        type_uri="/problems/http-error",
        title=exc.message,
        detail=exc.message,
    )


def _on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    detail = "No such resource."
    if isinstance(exc, ObjectDoesNotExist):
        model = type(exc).__qualname__.split(".")[0]
        if model and model != "ObjectDoesNotExist":
            detail = f"No {model.lower()} with that id."
    return error_response(RouteNotFoundError(detail))


def _on_too_large(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(PayloadTooLargeError("The request body is too large; send less per request."))


def _on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return error_response(InternalError("Something went wrong on our side. It has been logged; please retry later."))


def install_problem_handlers(api: NinjaAPI) -> None:
    """Replace ninja's default handlers so that every error is problem+json."""
    handlers: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
        (Exception, _on_unexpected),
        (SimrenewError, _on_simrenew_error),
        (ValidationError, _on_validation_error),
        (HttpError, _on_http_error),
        (AuthenticationError, _on_authentication_error),
        (AuthorizationError, _on_authorization_error),
        (Throttled, _on_throttled),
        (Http404, _on_not_found),
        (ObjectDoesNotExist, _on_not_found),
        (RequestDataTooBig, _on_too_large),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
