"""One base error with an HTTP status; the API turns it into RFC 9457 problem+json
and the portal into a message in the page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class SimrenewError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        # A machine-readable reason inside a problem type (e.g. a decline code).
        self.code = code

    @property
    def type_uri(self) -> str:
        return f"/problems/{self.slug}"


class ValidationFailed(SimrenewError):
    status = 422
    slug = "validation-error"
    title = "The request is not valid"

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        return cls(message, errors=[FieldError(field, message)])


class NotFound(SimrenewError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(SimrenewError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Forbidden(SimrenewError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class PaymentFailed(SimrenewError):
    status = 402
    slug = "payment-failed"
    title = "The payment failed"


class ServiceUnavailable(SimrenewError):
    """An outside system we depend on (an SM-DP+, a carrier) did not answer: nothing was done, and
    the same request may be sent again after `retry_after` seconds (the API's Retry-After)."""

    status = 503
    slug = "service-unavailable"
    title = "A system we depend on is not answering"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code)
        self.retry_after = retry_after
