"""Log lines: JSON, one event per line, for a log pipeline; or text for a person (`make run`).

`SIMRENEW_LOG_FORMAT=json|text` chooses; unset, it is text in the sandbox and JSON outside it.
Read here from the environment, not from Django's settings, because gunicorn's own logger
(`kit.gunicorn_logging`) formats its access and error lines before Django is loaded.

A JSON line holds `time` (UTC, ISO 8601), `level`, `logger`, `message`; `request_id` inside a
request; `trace_id` and `span_id` while a span is active (`kit.tracing`); `customer_id` where the
edge knows who the customer is (`bind_customer`); and the event's own fields: a record's `extra`,
or the fields of a `worker.logfmt` event, each its own key. `exc_info` holds a traceback.

Secrets stay out: the handler's `RedactSecrets` filter has already rewritten the message, and this
formatter redacts each field: a field named like a secret (`token`, `password`, `api_key`, …)
is written as `[redacted]` whatever its value (`SECRET_FIELD_WORDS`), a value that looks like a key
(`sk_live_…`, `Bearer …`) too, and tokens in links are cut out of every other text value.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from simrenew.kit import tracing
from simrenew.kit.redaction import REDACTED, SECRET_QUERY_PARAMETERS, redact

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# A field is a secret whatever it holds when its name is one of these words, or ends with one after
# an underscore (`api_key`, `stripe_secret`, `session_cookie`; not `api_key_id` or `failure_code`).
SECRET_FIELD_WORDS = frozenset(
    {
        *(name for name in SECRET_QUERY_PARAMETERS if name not in {"code", "sig"}),  # a failure code is no secret
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "passwd",
        "pan",
        "cvc",
        "cvv",
    }
)
# A card's number by name (an invoice's or a phone's number is no secret).
CARD_NUMBER_FIELD = "card_number"
# Values that are keys whatever their field is called: Stripe's, a webhook signing secret, ours.
SECRET_VALUE = re.compile(r"\b(?:sk|rk)_(?:live|test)_\w|\bwhsec_\w|\bsr_(?:live|test)_\w|\bBearer\s+\S", re.I)
# The fields this formatter writes itself; a record's extra of the same name does not replace them.
OWN_FIELDS = frozenset({"time", "level", "logger", "message", "trace_id", "span_id"})
# Attributes of a record that are not an event's fields (logging's own, and the ones added below).
NOT_FIELDS = frozenset({*RESERVED_ATTRS, "message", "asctime", "event", "event_fields", "color_message"})


class LogFormatError(ValueError):
    pass


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def log_format(environ: Mapping[str, str] = os.environ) -> str:
    """`json` or `text`: SIMRENEW_LOG_FORMAT, else text in the sandbox and JSON outside it."""
    chosen = environ.get("SIMRENEW_LOG_FORMAT", "").strip().lower()
    if not chosen:
        return "text" if _flag(environ.get("SIMRENEW_SANDBOX", "0")) else "json"
    if chosen not in FORMATS:
        raise LogFormatError(f"SIMRENEW_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {chosen!r}.")
    return chosen


# --- what the edges know about the work in hand -----------------------------------------------------
# One dict per request or job, made by `bound` and read by the formatter: `bind` fills it
# in later in the same request (the API learns the customer once it has read the subscription).
_context: ContextVar[dict[str, Any] | None] = ContextVar("simrenew_log_context", default=None)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Log lines written inside the block carry these fields (a request's id, a job's customer)."""
    outer = _context.get()
    token = _context.set({**(outer or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add fields for the rest of the current request or job (`customer_id` once the edge knows
    whose it is); a no-op outside one, and for a value of None."""
    current = _context.get()
    if current is not None:
        current.update((name, value) for name, value in fields.items() if value is not None)


def context_fields() -> Mapping[str, Any]:
    return _context.get() or {}


# --- redaction of fields ------------------------------------------------------------------------------


def secret_field(name: str) -> bool:
    lowered = name.lower()
    last = lowered.rsplit("_", 1)[-1]
    return last in SECRET_FIELD_WORDS or lowered.endswith(CARD_NUMBER_FIELD)


def redact_field(name: str, value: Any) -> Any:
    """A field's value as it may be logged."""
    if secret_field(name):
        return REDACTED
    if isinstance(value, str):
        # Every key SECRET_VALUE knows holds "_" or "Bearer": most values skip the expression.
        if ("_" in value or "earer" in value) and SECRET_VALUE.search(value):
            return REDACTED
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_field(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_field(name, item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else as its text, redacted: a request's text holds its URL, and a dataclass would
    # otherwise be written field by field (a card's number among them; its repr hides it).
    return redact_field(name, str(value))


# --- the JSON formatter ---------------------------------------------------------------------------------


class JsonLines(JsonFormatter):
    """python-json-logger's formatter with simrenew's fields, one JSON object per line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", sorted(NOT_FIELDS))
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        event = getattr(record, "event", None)
        # A `worker.logfmt` event: its name is the message, its fields become keys (its text line,
        # `event=… name=value …`, is what the text format shows).
        log_data["message"] = event if isinstance(event, str) else redact(record.message)
        fields: dict[str, Any] = {}
        for name, value in record.__dict__.items():
            if name not in self._skip_fields and not name.startswith("_"):
                fields[name] = value
        event_fields = getattr(record, "event_fields", None)
        if isinstance(event_fields, Mapping):
            fields.update(event_fields)
        fields.update(message_dict)
        for name, value in fields.items():
            if name in OWN_FIELDS:
                continue
            log_data[name] = redact(value) if name in {"exc_info", "stack_info"} else redact_field(name, value)
        # What the request or job in hand says wins over a record's field of the same name (gunicorn's
        # access line brings its request_id as a field: the request's context has ended by then).
        log_data.update(context_fields())
        if "request_id" not in log_data:
            # Django logs a 4xx answer ("Not Found: …") after the middleware is done, with the request.
            request_id = getattr(getattr(record, "request", None), "request_id", None)
            if isinstance(request_id, str):
                log_data["request_id"] = request_id
        ids = tracing.current_ids()
        if ids is not None:
            log_data["trace_id"], log_data["span_id"] = ids
