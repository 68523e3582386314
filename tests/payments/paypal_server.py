"""A local PayPal over real HTTP, for tests and the bench: the official SDK (paypal-server-sdk) and our
adapter talk to it at its `url` as they would to api-m.paypal.com.

It holds the callers to PayPal's published API: every request's method and path must be an operation
of one of PayPal's OpenAPI documents (tests/payments/specs/paypal/: Orders v2, Payments v2, Payment
Method Tokens v3, Webhooks v1), besides the OAuth token endpoint and the buyer's approval page; its
path, query and header parameters must be the operation's, the required ones present; its JSON body
must match the operation's request schema. A request that does not is answered 400 INVALID_REQUEST
in PayPal's error shape and kept in `violations` (tests assert none). The server's own answers and
events are held to the documents' response schemas too, so a test never learns a shape PayPal does
not have; a mismatch is a violation as well. `ERRATA` lists where PayPal's live API, guides and SDK
disagree with a published document; each is applied to the copy loaded here, never to the file.

It behaves as PayPal does where our code depends on it:
- OAuth 2 client credentials (CLIENT_ID, CLIENT_SECRET) at /v1/oauth2/token; every other call needs
  the bearer token it gives (`expire_tokens()` makes the server forget them);
- saving PayPal without a purchase (Vault v3): a setup token, approved by the buyer on the approval
  page (<url>/checkoutnow?token=…, or `approve()` in a test), becomes a payment token, the vault id;
- orders: with a vault id the buyer is not there, so PayPal charges at once and the order comes back
  COMPLETED with its capture; without one the buyer approves first and the merchant captures. The
  buyer's email decides: "declined…" is refused 422 INSTRUMENT_DECLINED, "refused…" gets a DECLINED
  capture in a COMPLETED order (PayPal's trap: the order's status is not the money's);
- refunds, partial or full, never beyond what is left of the capture;
- `PayPal-Request-Id`: the same id with the same body answers the latest state of what the first
  request made (PayPal's idempotency; 200 where the operation declares it), with another body 422
  DUPLICATE_REQUEST_ID; a charge with a vault id and no request id is refused, as PayPal refuses it;
- `Prefer: return=minimal` (PayPal's default) answers the minimal representation, and
  `return=representation` the whole resource;
- webhook events in PayPal's envelope (PAYMENT.CAPTURE.COMPLETED/DENIED/REFUNDED,
  VAULT.PAYMENT-TOKEN.DELETED, CUSTOMER.DISPUTE.CREATED/RESOLVED) wait until the test calls
  `send_events()` (PayPal sends after answering; the test says when "after" is), and go out with
  PayPal's PAYPAL-TRANSMISSION-* headers; /v1/notifications/verify-webhook-signature answers SUCCESS
  only for exactly what was sent, to WEBHOOK_ID;
- scripted faults on API calls (not on the token endpoint): `fail_with(status, times)`,
  `lose_answer(times)` (carried out, the answer breaks off after its first bytes); `latency_ms` on
  every answer.

Run apart (the bench): python -m tests.payments.paypal_server --port 8913 --latency-ms 250
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import ssl
import string
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.message import Message
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import jsonschema_rs

SPEC_DIR = Path(__file__).parent / "specs" / "paypal"
SPEC_FILES = {
    "orders": "paypal-checkout_orders_v2.json",
    "payments": "paypal-payments_payment_v2.json",
    "vault": "paypal-vault_payment_tokens_v3.json",
    "webhooks": "paypal-notifications_webhooks_v1.json",
}
PAGES = Path(__file__).parent / "paypal_pages"

CLIENT_ID = "AVsimrenewLocalClientId0123456789"
CLIENT_SECRET = "EKsimrenewLocalClientSecret0123456789"
WEBHOOK_ID = "8PT597110X687430LKGECATA"  # the one webhook registered for CLIENT_ID's app
BUYER_EMAIL = "buyer@example.com"
MERCHANT_ID = "SRENEWLPAYPAL"  # a PayPal account id: 13 of [2-9A-HJ-NP-Z]
MERCHANT_EMAIL = "merchant@simrenew.example"
BRAND_NAME = "simrenew"
APP_ID = "APP-80W284485P519543T"
CERT_URL = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
AUTH_ALGO = "SHA256withRSA"
TOKEN_LIFETIME = 32400  # seconds, as PayPal's access tokens
OAUTH_PATH = "/v1/oauth2/token"
OAUTH_SCOPES = (
    "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund "
    "https://uri.paypal.com/services/vault/payment-tokens/readwrite "
    "https://uri.paypal.com/services/applications/verify-webhook-signature"
)
ZERO_DECIMAL_CURRENCIES = frozenset({"HUF", "JPY", "TWD"})
TAKEN = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})  # capture statuses where PayPal took money
PAYER_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # the spec's account_id: [2-9A-HJ-NP-Z]


@dataclass(frozen=True, slots=True)
class Erratum:
    spec: str
    pointer: str  # JSON pointer of the value replaced in the loaded copy
    value: Any
    why: str


ERRATA = (
    Erratum(
        "vault",
        "/components/schemas/token_id_request/properties/type/enum",
        ["BILLING_AGREEMENT", "SETUP_TOKEN"],
        "PayPal's vault guide and its own SDK (VaultTokenRequestType.SETUP_TOKEN) turn an approved setup token "
        "into a payment token with type SETUP_TOKEN; the published document lists only BILLING_AGREEMENT.",
    ),
)

# Event types with what their envelope says of the resource: (resource_type, resource_version,
# the spec and schema the resource is checked against, if any spec has one).
EVENT_TYPES: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "PAYMENT.CAPTURE.COMPLETED": ("capture", "2.0", ("payments", "capture-2")),
    "PAYMENT.CAPTURE.DENIED": ("capture", "2.0", ("payments", "capture-2")),
    "PAYMENT.CAPTURE.REFUNDED": ("refund", "2.0", ("payments", "refund")),
    "VAULT.PAYMENT-TOKEN.DELETED": ("payment_token", "3.0", ("vault", "payment_token_response")),
    "CUSTOMER.DISPUTE.CREATED": ("dispute", "1.0", None),  # the Disputes API is not among the four
    "CUSTOMER.DISPUTE.RESOLVED": ("dispute", "1.0", None),
}


# ---------------------------------------------------------------- the published API


@cache
def specs() -> dict[str, dict[str, Any]]:
    loaded = {name: dict(json.loads((SPEC_DIR / file).read_text())) for name, file in SPEC_FILES.items()}
    for erratum in ERRATA:
        *parents, last = erratum.pointer.strip("/").split("/")
        node = loaded[erratum.spec]
        for part in parents:
            node = node[part]
        node[last] = erratum.value
    return loaded


def _resolve(spec: str, node: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` into the spec's components (parameters, request bodies, responses)."""
    while "$ref" in node:
        target: Any = specs()[spec]
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@dataclass(frozen=True)
class Operation:
    spec: str
    method: str
    template: str
    definition: dict[str, Any] = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.template}"

    def parameters(self, where: str) -> dict[str, dict[str, Any]]:
        """The operation's parameters in the path, query or header, by name (headers lower-cased)."""
        path_level = specs()[self.spec]["paths"][self.template].get("parameters", [])
        found = {}
        for parameter in [*path_level, *self.definition.get("parameters", [])]:
            parameter = _resolve(self.spec, parameter)
            if parameter["in"] == where:
                found[parameter["name"].lower() if where == "header" else parameter["name"]] = parameter
        return found

    def request_body(self) -> tuple[dict[str, Any] | None, bool]:
        """The JSON body's schema (None: the operation takes no body) and whether a body is required."""
        body = self.definition.get("requestBody")
        if body is None:
            return None, False
        body = _resolve(self.spec, body)
        return body["content"]["application/json"]["schema"], bool(body.get("required"))

    def answer_schema(self, status: int) -> dict[str, Any] | None:
        answer = self.definition.get("responses", {}).get(str(status))
        if answer is None:
            return None
        content = _resolve(self.spec, answer).get("content", {}).get("application/json")
        return None if content is None else content.get("schema")

    def declares(self, status: int) -> bool:
        return str(status) in self.definition.get("responses", {})


@cache
def _routes() -> list[tuple[re.Pattern[str], str, str]]:
    """(pattern, spec, template), literal paths first (/v3/vault/payment-tokens before …/{id})."""
    entries = sorted(
        ((name, path) for name, spec in specs().items() for path in spec["paths"]),
        key=lambda entry: ("{" in entry[1], entry[1]),
    )
    return [
        (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), name, path) for name, path in entries
    ]


def operation_for(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    for pattern, name, template in _routes():
        match = pattern.match(path)
        operations = specs()[name]["paths"][template]
        if match and method in operations:
            ids = {key: unquote(value) for key, value in match.groupdict().items()}
            return Operation(name, method, template, operations[method]), ids
    return None


_validators: dict[tuple[str, str], jsonschema_rs.Draft4Validator] = {}
_validators_lock = threading.Lock()


def validator(spec: str, schema: dict[str, Any]) -> jsonschema_rs.Draft4Validator:
    """A validator for a schema of the spec, its `$ref`s resolved in the spec's components; built once.

    OpenAPI 3.0's schema objects are JSON Schema draft 4 with a few keywords of their own (readOnly,
    deprecated, example), which a draft 4 validator ignores."""
    key = (spec, json.dumps(schema, sort_keys=True))
    with _validators_lock:
        found = _validators.get(key)
        if found is None:
            root = {"allOf": [schema], "components": specs()[spec]["components"]}
            found = _validators[key] = jsonschema_rs.Draft4Validator(root)
        return found


@cache
def issue_descriptions() -> dict[str, str]:
    """PayPal's error issues with their words, as the specs list them for their 4xx answers."""
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                issue, description = properties.get("issue"), properties.get("description")
                issues = issue.get("enum") if isinstance(issue, dict) else None
                words = description.get("enum") if isinstance(description, dict) else None
                if issues and words:
                    found.setdefault(issues[0], words[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for spec in specs().values():
        walk(spec["components"]["schemas"])
    return found


@cache
def error_names() -> dict[int, tuple[str, str]]:
    """The `name` and `message` of PayPal's error answers by HTTP status, from the specs' error_NNN."""
    names = {
        429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
        501: ("NOT_IMPLEMENTED", "This operation is not modeled by the local PayPal."),
    }
    for spec in specs().values():
        for key, schema in spec["components"]["schemas"].items():
            match = re.fullmatch(r"error_(\d{3})", key)
            properties = schema.get("properties", {})
            if match and "enum" in properties.get("name", {}) and "enum" in properties.get("message", {}):
                names.setdefault(int(match.group(1)), (properties["name"]["enum"][0], properties["message"]["enum"][0]))
    return names


# ---------------------------------------------------------------- errors, in PayPal's shape


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    issue: str
    description: str
    location: str = "body"

    def detail(self) -> dict[str, str]:
        detail = {"issue": self.issue, "description": self.description, "location": self.location}
        if self.field:
            detail["field"] = self.field
        return detail


class PayPalFailure(Exception):
    """An error answer, in PayPal's shape."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def error_body(status: int, problems: Sequence[Problem] = ()) -> dict[str, Any]:
    name, message = error_names().get(status, ("UNKNOWN_ERROR", "An unknown error has occurred."))
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": secrets.token_hex(7)[:13]}
    if problems:
        body["details"] = [problem.detail() for problem in problems]
        body["links"] = [
            {
                "href": f"https://developer.paypal.com/api/rest/reference/orders/v2/errors/#{problems[0].issue}",
                "rel": "information_link",
                "method": "GET",
            }
        ]
    return body


def failure(status: int, issue: str, field: str = "", description: str = "", location: str = "body") -> PayPalFailure:
    words = description or issue_descriptions().get(issue, issue.replace("_", " ").capitalize() + ".")
    return PayPalFailure(status, error_body(status, [Problem(field, issue, words, location)]))


def _schema_problem(error: jsonschema_rs.ValidationError, prefix: str, location: str) -> Problem:
    issues = {
        "Required": "MISSING_REQUIRED_PARAMETER",
        "MinLength": "INVALID_STRING_LENGTH",
        "MaxLength": "INVALID_STRING_LENGTH",
        "Pattern": "INVALID_PARAMETER_SYNTAX",
        "Format": "INVALID_PARAMETER_SYNTAX",
        "MinItems": "INVALID_ARRAY_MIN_ITEMS",
        "MaxItems": "INVALID_ARRAY_MAX_ITEMS",
    }
    where = "/".join(str(part) for part in error.instance_path)
    return Problem(
        f"{prefix}/{where}" if where else prefix,
        issues.get(type(error.kind).__name__, "INVALID_PARAMETER_VALUE"),
        error.message,
        location,
    )


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """Query and header values are strings: read them as the schema's integers and booleans."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def request_problems(
    operation: Operation, ids: dict[str, str], query: dict[str, str], headers: Message, body: Any, *, has_body: bool
) -> list[Problem]:
    """What in this request PayPal's published API does not have."""
    problems: list[Problem] = []
    for where, given in (("path", ids), ("query", query)):
        declared = operation.parameters(where)
        for name, value in given.items():
            parameter = declared.get(name)
            if parameter is None:
                problems.append(Problem(name, "NOT_SUPPORTED", f"{name} is not a {where} parameter", where))
                continue
            for error in validator(operation.spec, parameter["schema"]).iter_errors(
                _coerce(value, parameter["schema"])
            ):
                problems.append(_schema_problem(error, name, where))
        problems += [
            Problem(name, "MISSING_REQUIRED_PARAMETER", f"{name} is required", where)
            for name, parameter in declared.items()
            if parameter.get("required") and name not in given
        ]
    for header, parameter in operation.parameters("header").items():
        sent = headers.get(header)
        if sent is None:
            if parameter.get("required"):
                problems.append(Problem(parameter["name"], "MISSING_REQUIRED_PARAMETER", "header missing", "header"))
            continue
        for error in validator(operation.spec, parameter["schema"]).iter_errors(_coerce(sent, parameter["schema"])):
            problems.append(_schema_problem(error, parameter["name"], "header"))
    schema, required = operation.request_body()
    if schema is None:
        if has_body:
            problems.append(Problem("", "NOT_SUPPORTED", f"{operation.name} takes no body"))
    elif not has_body:
        if required:
            problems.append(Problem("", "MISSING_REQUIRED_PARAMETER", "a JSON body is required"))
    else:
        problems += [
            _schema_problem(error, "", "body") for error in validator(operation.spec, schema).iter_errors(body)
        ]
    return problems


# ---------------------------------------------------------------- the server's records


@dataclass
class Script:
    fail_status: int = 0
    fail_times: int = 0
    lose_times: int = 0


@dataclass
class Call:
    """An API call, checked: what a handler needs of it."""

    ids: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    request_id: str | None


@dataclass
class Reply:
    """A handler's answer. `render(full)` draws the body when it is sent (and again when the same
    PayPal-Request-Id comes back, from the latest state); `full` is Prefer: return=representation."""

    status: int
    render: Callable[[bool], dict[str, Any] | None]


@dataclass
class Remembered:
    """A PayPal-Request-Id's first request and what it made."""

    fingerprint: str
    status: int
    render: Callable[[bool], dict[str, Any] | None] | None  # None: it was refused with `refusal`
    refusal: dict[str, Any] | None = None


@dataclass
class Event:
    id: str
    event_type: str
    payload: dict[str, Any]  # PayPal's envelope, as sent
    delivered: list[int] = field(default_factory=list)  # HTTP statuses of each delivery (0: none)

    @property
    def resource(self) -> dict[str, Any]:
        return dict(self.payload["resource"])


@dataclass(frozen=True, slots=True)
class Transmission:
    """One delivery of an event, as PayPal signed it."""

    id: str
    time: str
    webhook_id: str
    signature: str
    body: bytes  # the envelope signed (a tampered delivery sends another body)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exponent(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else 2


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": f"{amount:.{_exponent(currency)}f}"}


def _amount(money: Mapping[str, Any], field_name: str) -> Decimal:
    """A money object's value, refused as PayPal refuses it."""
    currency = str(money.get("currency_code", ""))
    try:
        value = Decimal(str(money.get("value", "")))
    except InvalidOperation:
        raise failure(400, "INVALID_PARAMETER_SYNTAX", f"{field_name}/value") from None
    places = max(0, -int(value.as_tuple().exponent))
    if places and _exponent(currency) == 0:
        raise failure(422, "DECIMALS_NOT_SUPPORTED", f"{field_name}/value")
    if places > 2:
        raise failure(422, "DECIMAL_PRECISION", f"{field_name}/value")
    if value <= 0:
        raise failure(422, "CANNOT_BE_ZERO_OR_NEGATIVE", f"{field_name}/value")
    return value


def _quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-_exponent(currency)), ROUND_HALF_UP)


def _payer_id(email: str) -> str:
    """The same buyer, the same PayPal account id."""
    digest = hashlib.sha256(email.lower().encode()).digest()
    return "".join(PAYER_ID_ALPHABET[byte % len(PAYER_ID_ALPHABET)] for byte in digest[:13])


def _buyer(email: str) -> dict[str, Any]:
    given = re.split(r"[.+_-]", email.split("@")[0])[0] or "Buyer"
    return {
        "email_address": email,
        "payer_id": _payer_id(email),
        "name": {"given_name": given.capitalize(), "surname": "Tester"},
    }


# ---------------------------------------------------------------- the server


class PayPalServer:
    """PayPal on 127.0.0.1; use as a context manager. `url` is the API base (and the approval pages')."""

    def __init__(
        self, *, latency_ms: int = 0, port: int = 0, webhook_url: str | None = None, check_requests: bool = True
    ) -> None:
        self.latency_ms = latency_ms
        self.webhook_url = webhook_url
        self.webhook_tls: ssl.SSLContext | None = None  # trusts our endpoint's certificate, if HTTPS
        self.check_requests = check_requests
        self.setup_tokens: dict[str, dict[str, Any]] = {}
        self.payment_tokens: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.captures: dict[str, dict[str, Any]] = {}  # as GET /v2/payments/captures/{id} shows them
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.events: list[Event] = []
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.in_flight = 0
        self.max_in_flight = 0
        self._tokens: set[str] = set()  # OAuth access tokens given out
        self._experience: dict[str, dict[str, Any]] = {}  # setup token or order id → return/cancel URLs, brand
        self._tokenized: dict[str, str] = {}  # setup token id → the payment token made of it
        self._refunded_capture: dict[str, str] = {}  # refund id → capture id
        self._idempotency: dict[tuple[str, str], Remembered] = {}
        self._transmissions: dict[str, Transmission] = {}
        self._signing_key = secrets.token_bytes(32)
        self._script = Script()
        self._lock = threading.RLock()
        self._given_ids: set[str] = set()
        self._disputes_opened = itertools.count(1)
        self._waiting: list[Event] = []
        self._handlers: dict[tuple[str, str], Callable[[Call], Reply]] = {
            ("post", "/v3/vault/setup-tokens"): self._create_setup_token,
            ("get", "/v3/vault/setup-tokens/{id}"): self._get_setup_token,
            ("post", "/v3/vault/payment-tokens"): self._create_payment_token,
            ("get", "/v3/vault/payment-tokens"): self._list_payment_tokens,
            ("get", "/v3/vault/payment-tokens/{id}"): self._get_payment_token,
            ("delete", "/v3/vault/payment-tokens/{id}"): self._delete_payment_token,
            ("post", "/v2/checkout/orders"): self._create_order,
            ("get", "/v2/checkout/orders/{id}"): self._get_order,
            ("post", "/v2/checkout/orders/{id}/capture"): self._capture_order,
            ("get", "/v2/payments/captures/{capture_id}"): self._get_capture,
            ("post", "/v2/payments/captures/{capture_id}/refund"): self._refund_capture,
            ("get", "/v2/payments/refunds/{refund_id}"): self._get_refund,
            ("post", "/v1/notifications/verify-webhook-signature"): self._verify_webhook_signature,
        }
        self._httpd = _Httpd(("127.0.0.1", port), _Handler)
        self._httpd.paypal = self
        self._thread: threading.Thread | None = None

    # --- life -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> PayPalServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="paypal-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop never started
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        self._httpd.server_close()

    def __enter__(self) -> PayPalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- script ---------------------------------------------------------------------------------

    def fail_with(self, status: int, times: int = 1) -> None:
        """The next `times` API calls are answered `status` without being carried out."""
        with self._lock:
            self._script.fail_status, self._script.fail_times = status, times

    def lose_answer(self, times: int = 1) -> None:
        """The next `times` API calls are carried out, and their answers break off."""
        with self._lock:
            self._script.lose_times = times

    def expire_tokens(self) -> None:
        """Every access token given so far has expired: calls with one are answered 401."""
        with self._lock:
            self._tokens.clear()

    # --- what the buyer and PayPal do, outside the API ------------------------------------------

    def approve(self, token: str, email: str = BUYER_EMAIL) -> str:
        """The buyer logs in on the approval page and agrees (a setup token or an order); the URL
        PayPal sends the browser back to."""
        with self._lock:
            buyer = _buyer(email)
            experience = self._experience.get(token, {})
            if token in self.setup_tokens:
                setup = self.setup_tokens[token]
                setup["status"] = "APPROVED"
                setup["payment_source"]["paypal"].update(buyer)
                session = secrets.token_hex(8).upper()
                back = {"approval_token_id": token, "approval_session_id": session}
            elif token in self.orders:
                order = self.orders[token]
                if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED", "APPROVED"):
                    order["status"] = "APPROVED"
                    order["payer"] = {"name": buyer["name"], "email_address": email, "payer_id": buyer["payer_id"]}
                    order["payment_source"] = {"paypal": self._wallet(email)}
                    order["update_time"] = _now()
                back = {"token": token, "PayerID": buyer["payer_id"]}
            else:
                raise KeyError(token)
        return _with_query(experience.get("return_url", ""), back)

    def cancel(self, token: str) -> str:
        """The buyer cancels on the approval page; the URL PayPal sends the browser back to."""
        with self._lock:
            if token not in self.setup_tokens and token not in self.orders:
                raise KeyError(token)
            experience = self._experience.get(token, {})
        back = {"approval_token_id": token} if token in self.setup_tokens else {"token": token}
        return _with_query(experience.get("cancel_url", ""), back)

    def delete_token_at_paypal(self, vault_id: str) -> dict[str, Any]:
        """The buyer unlinked the merchant at paypal.com: the token is gone, VAULT.PAYMENT-TOKEN.DELETED."""
        with self._lock:
            token = self.payment_tokens.pop(vault_id)
        self.emit("VAULT.PAYMENT-TOKEN.DELETED", token)
        return token

    def captures_of(self, vault_id: str) -> list[dict[str, Any]]:
        """The captures charged to a payment token where PayPal took the money (later refunds aside)."""
        with self._lock:
            return [
                self.captures[capture["id"]]
                for order in self.orders.values()
                if order.get("payment_source", {}).get("paypal", {}).get("attributes", {}).get("vault", {}).get("id")
                == vault_id
                for unit in order["purchase_units"]
                for capture in unit.get("payments", {}).get("captures", [])
                if capture["status"] in TAKEN
            ]

    def events_of(self, kind: str) -> list[Event]:
        return [event for event in self.events if event.event_type == kind]

    def open_dispute(
        self,
        capture_id: str,
        reason: str = "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
        due_in_days: int = 20,
        amount: str | None = None,
    ) -> dict[str, Any]:
        """The buyer disputes a payment: CUSTOMER.DISPUTE.CREATED, a dispute as PayPal's Disputes API
        shows it."""
        with self._lock:
            capture = self.captures[capture_id]
            money = dict(capture["amount"]) if amount is None else {**capture["amount"], "value": amount}
            now = datetime.now(UTC)
            transaction = {
                "seller_transaction_id": capture_id,
                "create_time": capture["create_time"],
                "transaction_status": "COMPLETED",
                "gross_amount": dict(capture["amount"]),
                "seller": {"merchant_id": MERCHANT_ID},
            }
            if "custom_id" in capture:
                transaction["custom"] = capture["custom_id"]
            if "invoice_id" in capture:
                transaction["invoice_number"] = capture["invoice_id"]
            dispute_id = f"PP-D-{10000 + next(self._disputes_opened)}"
            dispute = {
                "dispute_id": dispute_id,
                "create_time": _now(),
                "update_time": _now(),
                "disputed_transactions": [transaction],
                "reason": reason,
                "status": "WAITING_FOR_SELLER_RESPONSE",
                "dispute_amount": money,
                "dispute_life_cycle_stage": "INQUIRY",
                "dispute_channel": "INTERNAL",
                "seller_response_due_date": (now + timedelta(days=due_in_days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "links": [{"href": f"{self.url}/v1/customer/disputes/{dispute_id}", "rel": "self", "method": "GET"}],
            }
            self.disputes[dispute_id] = dispute
        self.emit("CUSTOMER.DISPUTE.CREATED", dispute)
        return dispute

    def resolve_dispute(self, dispute_id: str, outcome: str = "RESOLVED_SELLER_FAVOUR") -> dict[str, Any]:
        """PayPal decides: CUSTOMER.DISPUTE.RESOLVED with the outcome (RESOLVED_BUYER_FAVOUR gives the
        disputed amount back to the buyer)."""
        with self._lock:
            dispute = self.disputes[dispute_id]
            dispute["status"] = "RESOLVED"
            dispute["update_time"] = _now()
            dispute["dispute_outcome"] = {"outcome_code": outcome}
            if outcome == "RESOLVED_BUYER_FAVOUR":
                dispute["dispute_outcome"]["amount_refunded"] = dict(dispute["dispute_amount"])
        self.emit("CUSTOMER.DISPUTE.RESOLVED", dispute)
        return dispute

    # --- webhooks -------------------------------------------------------------------------------

    def emit(self, kind: str, resource: dict[str, Any], *, deliver: bool = True) -> Event:
        """Record an event in PayPal's envelope; with `webhook_url` set, it waits for `send_events`."""
        resource_type, resource_version, schema = EVENT_TYPES.get(kind, ("resource", "1.0", None))
        event_id = f"WH-{self._id()}-{self._id()}"
        payload = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "resource_type": resource_type,
            "resource_version": resource_version,
            "event_type": kind,
            "summary": _summary(kind, resource),
            "resource": json.loads(json.dumps(resource)),
            "links": [
                {"href": f"{self.url}/v1/notifications/webhooks-events/{event_id}", "rel": "self", "method": "GET"},
                {
                    "href": f"{self.url}/v1/notifications/webhooks-events/{event_id}/resend",
                    "rel": "resend",
                    "method": "POST",
                },
            ],
        }
        self._check_own("webhooks", {"$ref": "#/components/schemas/event"}, payload, f"event {kind}")
        if schema is not None:
            self._check_own(schema[0], {"$ref": f"#/components/schemas/{schema[1]}"}, resource, f"event {kind}")
        event = Event(id=event_id, event_type=kind, payload=payload)
        with self._lock:
            self.events.append(event)
            if deliver and self.webhook_url:
                self._waiting.append(event)
        return event

    def send_events(self) -> list[int]:
        """Deliver every event waiting to be sent, in order; their HTTP statuses."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        return [self.deliver(event) for event in waiting]

    def deliver(
        self,
        event: Event,
        *,
        url: str | None = None,
        webhook_id: str = WEBHOOK_ID,
        tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """POST the event to our endpoint as PayPal does; the HTTP status (0: not reached).

        `webhook_id` signs it for another webhook; `tamper` changes the body after it was signed (a
        forger's); `headers` replace PayPal's (a made-up PAYPAL-TRANSMISSION-SIG)."""
        signed = json.dumps(event.payload).encode()
        transmission_id, sent_at = str(uuid.uuid1()), _now()
        signature = self._signature(transmission_id, sent_at, webhook_id, signed)
        with self._lock:
            self._transmissions[transmission_id] = Transmission(transmission_id, sent_at, webhook_id, signature, signed)
        body = json.dumps(tamper(json.loads(signed))).encode() if tamper else signed
        sent_headers = {
            "Content-Type": "application/json",
            "User-Agent": "PayPal/AUHD-214.0-58843331",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": sent_at,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": CERT_URL,
            "PAYPAL-AUTH-ALGO": AUTH_ALGO,
            "PAYPAL-AUTH-VERSION": "v2",
            **(headers or {}),
        }
        request = urllib.request.Request(url or self.webhook_url or "", data=body, method="POST", headers=sent_headers)
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.webhook_tls) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as refused:
            status = refused.code
        except OSError:
            status = 0
        event.delivered.append(status)
        return status

    def _signature(self, transmission_id: str, sent_at: str, webhook_id: str, body: bytes) -> str:
        """PayPal signs `<transmission id>|<time>|<webhook id>|<CRC32 of the body>` with its private key;
        the local PayPal with an HMAC only it knows, so only verify-webhook-signature can check it."""
        message = f"{transmission_id}|{sent_at}|{webhook_id}|{zlib.crc32(body)}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def verify(self, request: Mapping[str, Any]) -> str:
        """SUCCESS when the headers and event are exactly what was sent for our webhook, else FAILURE:
        PayPal's check, the signature computed again from what the caller says it received."""
        with self._lock:
            sent = self._transmissions.get(str(request.get("transmission_id")))
        if sent is None or request.get("webhook_id") != WEBHOOK_ID:
            return "FAILURE"
        expected = self._signature(sent.id, str(request.get("transmission_time")), WEBHOOK_ID, sent.body)
        genuine = (
            request.get("cert_url") == CERT_URL
            and request.get("auth_algo") == AUTH_ALGO
            and hmac.compare_digest(str(request.get("transmission_sig")), expected)
            and request.get("webhook_event") == json.loads(sent.body)  # the body as signed, not another
        )
        return "SUCCESS" if genuine else "FAILURE"

    # --- the API: called by the handler ---------------------------------------------------------

    def oauth_token(
        self, authorization: str | None, content_type: str | None, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        """POST /v1/oauth2/token (not in the four documents): client credentials for a bearer token."""
        if not (content_type or "").startswith("application/x-www-form-urlencoded"):
            self._violate([f"POST {OAUTH_PATH}: Content-Type {content_type!r}, not a form"])
        form = dict(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            self._violate([f"POST {OAUTH_PATH}: grant_type {form.get('grant_type')!r}"])
            return 400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if not hmac.compare_digest(authorization or "", expected):
            return 401, {"error": "invalid_client", "error_description": "Client Authentication failed"}
        token = "A21AA" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens.add(token)
        return 200, {
            "scope": OAUTH_SCOPES,
            "access_token": token,
            "token_type": "Bearer",
            "app_id": APP_ID,
            "expires_in": TOKEN_LIFETIME,
            "nonce": f"{_now()}{secrets.token_urlsafe(12)}",
        }

    def call(self, method: str, path: str, query_string: str, headers: Message, raw: bytes) -> tuple[int, Any]:
        """One API call: checked against the documents, carried out, its answer checked in turn."""
        with self._lock:
            if self._script.fail_times > 0:
                self._script.fail_times -= 1
                return self._script.fail_status, error_body(self._script.fail_status)
        found = operation_for(method, path)
        if found is None:
            self._violate([f"{method.upper()} {path}: not an operation of PayPal's published API"])
            raise PayPalFailure(404, error_body(404))
        operation, ids = found
        authorization = headers.get("Authorization") or ""
        with self._lock:
            known = authorization.removeprefix("Bearer ") in self._tokens and authorization.startswith("Bearer ")
        if not known:
            raise PayPalFailure(401, error_body(401))
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        body, problems = _json_body(headers.get("Content-Type"), raw)
        if self.check_requests and not problems:
            problems = request_problems(operation, ids, query, headers, body, has_body=body is not None)
        if problems:
            self._violate(
                [f"{operation.name}: {p.location} {p.field or ''}: {p.issue}: {p.description}" for p in problems]
            )
            raise PayPalFailure(400, error_body(400, problems))
        handler = self._handlers.get((operation.method, operation.template))
        if handler is None:
            self._violate([f"{operation.name}: not modeled by the local PayPal"])
            raise failure(501, "NOT_IMPLEMENTED", description=f"{operation.name} is not modeled by the local PayPal.")
        full = "return=representation" in (headers.get("Prefer") or "")
        request_id = headers.get("PayPal-Request-Id")
        remember = method == "post" and request_id is not None and "paypal-request-id" in operation.parameters("header")
        key, fingerprint = (path, request_id or ""), json.dumps(body, sort_keys=True)
        with self._lock:
            remembered = self._idempotency.get(key) if remember else None
            if remembered is None:
                try:
                    reply = handler(Call(ids, query, body if isinstance(body, dict) else {}, request_id))
                except PayPalFailure as refused:
                    if remember and refused.status < 500:
                        self._idempotency[key] = Remembered(fingerprint, refused.status, None, refused.body)
                    raise
                if remember:
                    self._idempotency[key] = Remembered(fingerprint, reply.status, reply.render)
                status, render = reply.status, reply.render
            elif remembered.fingerprint != fingerprint:
                raise failure(
                    422,
                    "DUPLICATE_REQUEST_ID",
                    "PayPal-Request-Id",
                    "The PayPal-Request-Id was already used with another request body.",
                    "header",
                )
            elif remembered.render is None:
                return remembered.status, remembered.refusal
            else:  # PayPal answers with the latest state of what the first request made
                status = 200 if remembered.status == 201 and operation.declares(200) else remembered.status
                render = remembered.render
            answer = render(full)
        schema = operation.answer_schema(status)
        if schema is not None and answer is not None:
            self._check_own(operation.spec, schema, answer, f"answer to {operation.name} ({status})")
        return status, answer

    def _violate(self, problems: list[str]) -> None:
        with self._lock:
            self.violations += problems

    def _check_own(self, spec: str, schema: dict[str, Any], body: Any, what: str) -> None:
        """The server's own answers and events must be what the documents say PayPal sends."""
        self._violate(
            [
                f"{what}: /{'/'.join(str(part) for part in error.instance_path)}: {error.message}"
                for error in validator(spec, schema).iter_errors(body)
            ]
        )

    # --- ids ------------------------------------------------------------------------------------

    def _id(self) -> str:
        """PayPal's ids of orders, captures, refunds and setup tokens: 17 capitals and digits."""
        return self._unique(string.ascii_uppercase + string.digits, 17)

    def _vault_id(self) -> str:
        """A payment token's id: 8 small letters and digits, as PayPal's ("8kk8451t")."""
        return self._unique(string.ascii_lowercase + string.digits, 8)

    def _unique(self, alphabet: str, length: int) -> str:
        with self._lock:
            while True:
                found = "".join(secrets.choice(alphabet) for _ in range(length))
                if found not in self._given_ids:
                    self._given_ids.add(found)
                    return found

    # --- Vault v3 -------------------------------------------------------------------------------

    def _create_setup_token(self, call: Call) -> Reply:
        source = call.body["payment_source"]
        if set(source) != {"paypal"}:
            raise self._not_modeled("setup tokens other than payment_source.paypal")
        paypal = source["paypal"]
        experience = paypal.get("experience_context", {})
        if "return_url" not in experience:
            raise failure(422, "RETURN_URL_REQUIRED", "/payment_source/paypal/experience_context/return_url")
        if "cancel_url" not in experience:
            raise failure(422, "CANCEL_URL_REQUIRED", "/payment_source/paypal/experience_context/cancel_url")
        setup_id = self._id()
        customer = call.body.get("customer", {}).get("id") or f"customer_{secrets.randbelow(10**10):010d}"
        wallet = {
            key: paypal[key]
            for key in ("usage_type", "customer_type", "permit_multiple_payment_tokens")
            if key in paypal
        }
        if "shipping" in paypal:
            wallet["shipping"] = paypal["shipping"]
        self.setup_tokens[setup_id] = {
            "id": setup_id,
            "customer": {"id": customer},
            "status": "PAYER_ACTION_REQUIRED",
            "payment_source": {"paypal": wallet},
            "links": [
                {"href": f"{self.url}/checkoutnow?token={setup_id}", "rel": "approve", "method": "GET"},
                {"href": f"{self.url}/v3/vault/payment-tokens", "rel": "confirm", "method": "POST"},
                {"href": f"{self.url}/v3/vault/setup-tokens/{setup_id}", "rel": "self", "method": "GET"},
            ],
        }
        self._experience[setup_id] = {**experience, "purpose": "vault"}
        return Reply(201, lambda full: _copy(self.setup_tokens[setup_id]))

    def _get_setup_token(self, call: Call) -> Reply:
        setup = self._find(self.setup_tokens, call.ids["id"], "id")
        return Reply(200, lambda full: _copy(setup))

    def _create_payment_token(self, call: Call) -> Reply:
        source = call.body["payment_source"]
        token = source.get("token")
        if token is None or token["type"] != "SETUP_TOKEN":
            raise self._not_modeled("payment tokens other than from a SETUP_TOKEN")
        setup = self._find(self.setup_tokens, token["id"], "/payment_source/token/id")
        if setup["status"] != "APPROVED":
            raise failure(
                422,
                "PAYER_ACTION_REQUIRED",
                "/payment_source/token/id",
                "Please make sure setup up token is approved. Please complete the approval flow.",
            )
        if token["id"] in self._tokenized:
            raise failure(
                422,
                "SETUP_TOKEN_ALREADY_TOKENIZED",
                "/payment_source/token/id",
                "The setup token has been used previously to generate a payment token.",
            )
        vault_id = self._vault_id()
        wallet = _copy(setup["payment_source"]["paypal"])
        self.payment_tokens[vault_id] = {
            "id": vault_id,
            "customer": dict(setup["customer"]),
            "payment_source": {"paypal": wallet},
            "links": [
                {"href": f"{self.url}/v3/vault/payment-tokens/{vault_id}", "rel": "self", "method": "GET"},
                {"href": f"{self.url}/v3/vault/payment-tokens/{vault_id}", "rel": "delete", "method": "DELETE"},
            ],
        }
        self._tokenized[token["id"]] = vault_id
        made = self.payment_tokens[vault_id]
        return Reply(201, lambda full: _copy(made))

    def _list_payment_tokens(self, call: Call) -> Reply:
        customer = call.query["customer_id"]
        tokens = [token for token in self.payment_tokens.values() if token["customer"]["id"] == customer]
        listing: dict[str, Any] = {
            "customer": {"id": customer},
            "payment_tokens": tokens,
            "links": [{"href": f"{self.url}/v3/vault/payment-tokens?customer_id={customer}", "rel": "self"}],
        }
        if tokens:  # the document's total_items has minimum 1
            listing.update(total_items=len(tokens), total_pages=1)
        return Reply(200, lambda full: _copy(listing))

    def _get_payment_token(self, call: Call) -> Reply:
        token = self._find(self.payment_tokens, call.ids["id"], "id")
        return Reply(200, lambda full: _copy(token))

    def _delete_payment_token(self, call: Call) -> Reply:
        token = self._find(self.payment_tokens, call.ids["id"], "id")
        del self.payment_tokens[token["id"]]
        self.emit("VAULT.PAYMENT-TOKEN.DELETED", token)
        return Reply(204, lambda full: None)

    # --- Orders v2 ------------------------------------------------------------------------------

    def _create_order(self, call: Call) -> Reply:
        request = call.body
        if request["intent"] != "CAPTURE":
            raise self._not_modeled("intent AUTHORIZE")
        units = request["purchase_units"]
        references = [unit.get("reference_id") for unit in units]
        if len(units) > 1 and None in references:
            raise failure(422, "REFERENCE_ID_REQUIRED", "/purchase_units")
        if len(set(references)) < len(references):
            raise failure(422, "DUPLICATE_REFERENCE_ID", "/purchase_units")
        for position, unit in enumerate(units):
            _amount(unit["amount"], f"/purchase_units/{position}/amount")
        source = request.get("payment_source", {})
        if set(source) - {"paypal"}:
            raise self._not_modeled("payment sources other than paypal")
        paypal = source.get("paypal")
        vault_id = paypal.get("vault_id") if paypal else None
        order_id = self._id()
        order: dict[str, Any] = {
            "id": order_id,
            "intent": "CAPTURE",
            "status": "CREATED",
            "purchase_units": [_purchase_unit(unit) for unit in units],
            "create_time": _now(),
            "links": [{"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"}],
        }
        if vault_id is None:  # the buyer is there: they approve on PayPal's page, then we capture
            experience = {**request.get("application_context", {}), **(paypal or {}).get("experience_context", {})}
            self._experience[order_id] = {**experience, "purpose": "order"}
            approve = {"href": f"{self.url}/checkoutnow?token={order_id}", "method": "GET"}
            if paypal is not None:  # PayPal as the source, with where to come back: PayPal asks the payer
                order["status"] = "PAYER_ACTION_REQUIRED"
                order["payment_source"] = {"paypal": {}}
                order["links"].append({**approve, "rel": "payer-action"})
            else:
                order["links"] += [
                    {**approve, "rel": "approve"},
                    {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "update", "method": "PATCH"},
                    {"href": f"{self.url}/v2/checkout/orders/{order_id}/capture", "rel": "capture", "method": "POST"},
                ]
            self.orders[order_id] = order
            return Reply(201, lambda full: self._order_view(order_id, full))
        if call.request_id is None:
            self._violate(["POST /v2/checkout/orders: a vault_id charge without PayPal-Request-Id"])
            raise failure(400, "PAYPAL_REQUEST_ID_REQUIRED", "PayPal-Request-Id", location="header")
        if len(units) > 1:
            raise failure(422, "MERCHANT_INITIATED_WITH_MULTIPLE_PURCHASE_UNITS", "/purchase_units")
        token = self.payment_tokens.get(vault_id)
        if token is None:
            raise failure(422, "PAYMENT_SOURCE_CANNOT_BE_USED", "/payment_source/paypal/vault_id")
        email = token["payment_source"]["paypal"]["email_address"]
        if email.startswith("declined"):  # refused before anything is made: no order, no capture
            raise failure(422, "INSTRUMENT_DECLINED", "/payment_source/paypal/vault_id")
        buyer = _buyer(email)
        order["payer"] = {"name": buyer["name"], "email_address": email, "payer_id": buyer["payer_id"]}
        order["payment_source"] = {"paypal": self._wallet(email, token)}
        self.orders[order_id] = order
        self._charge(order)
        return Reply(201, lambda full: self._order_view(order_id, full))

    def _get_order(self, call: Call) -> Reply:
        order = self._find(self.orders, call.ids["id"], "id")
        return Reply(200, lambda full: self._order_view(order["id"], True))

    def _capture_order(self, call: Call) -> Reply:
        order = self._find(self.orders, call.ids["id"], "id")
        if call.body.get("payment_source"):
            raise self._not_modeled("a payment_source given at capture")
        if order["status"] == "COMPLETED":
            raise failure(422, "ORDER_ALREADY_CAPTURED", "")
        if order["status"] != "APPROVED":
            raise failure(422, "ORDER_NOT_APPROVED", "")
        if order["payer"]["email_address"].startswith("declined"):
            raise failure(422, "INSTRUMENT_DECLINED", "")
        self._charge(order)
        return Reply(201, lambda full: self._order_view(order["id"], full))

    def _charge(self, order: dict[str, Any]) -> None:
        """PayPal takes the money for each purchase unit: COMPLETED, or DECLINED for a "refused…" buyer;
        the order is COMPLETED either way."""
        refused = order["payer"]["email_address"].startswith("refused")
        for unit in order["purchase_units"]:
            capture = self._new_capture(order["id"], unit, declined=refused)
            unit["payments"] = {"captures": [capture]}
            self.emit("PAYMENT.CAPTURE.DENIED" if refused else "PAYMENT.CAPTURE.COMPLETED", capture)
        order["status"] = "COMPLETED"
        order["update_time"] = _now()
        order["links"] = [order["links"][0]]

    def _new_capture(self, order_id: str, unit: dict[str, Any], *, declined: bool) -> dict[str, Any]:
        capture_id = self._id()
        currency = unit["amount"]["currency_code"]
        gross = _amount(unit["amount"], "/amount")
        capture: dict[str, Any] = {
            "id": capture_id,
            "status": "DECLINED" if declined else "COMPLETED",
            "amount": _money(gross, currency),
            "final_capture": True,
            "seller_protection": {
                "status": "ELIGIBLE",
                "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"],
            },
            "links": [
                {"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "self", "method": "GET"},
                {"href": f"{self.url}/v2/payments/captures/{capture_id}/refund", "rel": "refund", "method": "POST"},
                {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "up", "method": "GET"},
            ],
            "create_time": _now(),
            "update_time": _now(),
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "payee": {"email_address": MERCHANT_EMAIL, "merchant_id": MERCHANT_ID},
        }
        for key in ("custom_id", "invoice_id"):
            if key in unit:
                capture[key] = unit[key]
        if declined:
            capture["links"] = [capture["links"][0], capture["links"][2]]
        else:
            fee = min(gross, _quantize(gross * Decimal("0.0349") + Decimal("0.49"), currency))
            capture["seller_receivable_breakdown"] = {
                "gross_amount": _money(gross, currency),
                "paypal_fee": _money(fee, currency),
                "net_amount": _money(gross - fee, currency),
            }
        self.captures[capture_id] = capture
        return capture

    def _order_view(self, order_id: str, full: bool) -> dict[str, Any]:
        """The order as PayPal answers it: its captures without the Payments API's extra fields, and with
        Prefer: return=minimal (the default) only the id, status, payment source, payer, links and
        payments."""
        order = _copy(self.orders[order_id])
        for unit in order["purchase_units"]:
            for capture in unit.get("payments", {}).get("captures", []):
                capture.pop("supplementary_data", None)
                capture.pop("payee", None)
        if full:
            return order
        minimal = {key: order[key] for key in ("id", "status", "payment_source", "payer", "links") if key in order}
        paid = [
            {"reference_id": unit["reference_id"], "payments": unit["payments"]}
            for unit in order["purchase_units"]
            if "payments" in unit
        ]
        if paid:
            minimal["purchase_units"] = paid
        return minimal

    def _wallet(self, email: str, token: dict[str, Any] | None = None) -> dict[str, Any]:
        """payment_source.paypal of an order: the buyer's account, and the vault it was paid from."""
        buyer = _buyer(email)
        wallet: dict[str, Any] = {
            "email_address": email,
            "account_id": buyer["payer_id"],
            "account_status": "VERIFIED",
            "name": buyer["name"],
        }
        if token is not None:
            wallet["attributes"] = {
                "vault": {"id": token["id"], "status": "VAULTED", "customer": dict(token["customer"])}
            }
        return wallet

    # --- Payments v2 ----------------------------------------------------------------------------

    def _get_capture(self, call: Call) -> Reply:
        capture = self._find(self.captures, call.ids["capture_id"], "capture_id")
        return Reply(200, lambda full: _copy(capture))

    def _refund_capture(self, call: Call) -> Reply:
        capture = self._find(self.captures, call.ids["capture_id"], "capture_id")
        if capture["status"] == "REFUNDED":
            raise failure(422, "CAPTURE_FULLY_REFUNDED", "")
        if capture["status"] not in TAKEN:
            raise failure(422, "REFUND_NOT_ALLOWED", "")
        currency = capture["amount"]["currency_code"]
        gross = Decimal(capture["amount"]["value"])
        refunded = sum(
            (
                Decimal(self.refunds[refund]["amount"]["value"])
                for refund, of in self._refunded_capture.items()
                if of == capture["id"]
            ),
            Decimal(0),
        )
        remaining = gross - refunded
        asked = call.body.get("amount")
        if asked is None:
            amount = remaining
        else:
            if asked["currency_code"] != currency:
                raise failure(422, "REFUND_CAPTURE_CURRENCY_MISMATCH", "/amount/currency_code")
            amount = _amount(asked, "/amount")
            if amount > remaining:
                raise failure(422, "REFUND_AMOUNT_EXCEEDED", "/amount/value")
        refund_id = self._id()
        fee = _quantize(amount * Decimal("0.0349"), currency)  # PayPal keeps its fixed fee
        refund: dict[str, Any] = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": _money(amount, currency),
            "seller_payable_breakdown": {
                "gross_amount": _money(amount, currency),
                "paypal_fee": _money(fee, currency),
                "net_amount": _money(amount - fee, currency),
                "total_refunded_amount": _money(refunded + amount, currency),
            },
            "payer": {"email_address": MERCHANT_EMAIL, "merchant_id": MERCHANT_ID},
            "create_time": _now(),
            "update_time": _now(),
            "links": [
                {"href": f"{self.url}/v2/payments/refunds/{refund_id}", "rel": "self", "method": "GET"},
                {"href": f"{self.url}/v2/payments/captures/{capture['id']}", "rel": "up", "method": "GET"},
            ],
        }
        for key in ("invoice_id", "custom_id", "note_to_payer"):
            if key in call.body:
                refund[key] = call.body[key]
        self.refunds[refund_id] = refund
        self._refunded_capture[refund_id] = capture["id"]
        capture["status"] = "REFUNDED" if refunded + amount == gross else "PARTIALLY_REFUNDED"
        capture["update_time"] = _now()
        order = self.orders.get(capture["supplementary_data"]["related_ids"]["order_id"])
        if order is not None:
            for unit in order["purchase_units"]:
                if capture in unit.get("payments", {}).get("captures", []):
                    unit["payments"].setdefault("refunds", []).append(refund)
        self.emit("PAYMENT.CAPTURE.REFUNDED", refund)
        return Reply(
            201, lambda full: _copy(refund) if full else {key: refund[key] for key in ("id", "status", "links")}
        )

    def _get_refund(self, call: Call) -> Reply:
        refund = self._find(self.refunds, call.ids["refund_id"], "refund_id")
        return Reply(200, lambda full: _copy(refund))

    # --- Webhooks v1 ----------------------------------------------------------------------------

    def _verify_webhook_signature(self, call: Call) -> Reply:
        status = self.verify(call.body)
        return Reply(200, lambda full: {"verification_status": status})

    # --- the rules behind them ------------------------------------------------------------------

    def _find(self, table: dict[str, dict[str, Any]], key: str, field_name: str) -> dict[str, Any]:
        found = table.get(key)
        if found is None:
            raise failure(404, "INVALID_RESOURCE_ID", field_name, location="path" if "/" not in field_name else "body")
        return found

    def _not_modeled(self, what: str) -> PayPalFailure:
        """PayPal does it, the local PayPal does not: fail the test loudly rather than answer wrongly."""
        self._violate([f"not modeled by the local PayPal: {what}"])
        return failure(501, "NOT_IMPLEMENTED", description=f"The local PayPal does not model {what}.")


def _copy(value: Any) -> Any:
    """A snapshot: later changes do not alter an answer already drawn."""
    return json.loads(json.dumps(value))


def _with_query(url: str, params: dict[str, str]) -> str:
    if not url:
        return ""
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _purchase_unit(unit: dict[str, Any]) -> dict[str, Any]:
    """A purchase unit as PayPal keeps it: the request's, with its reference and payee filled in."""
    kept = {key: value for key, value in unit.items() if key not in ("payee", "reference_id")}
    return {
        "reference_id": unit.get("reference_id", "default"),
        **kept,
        "amount": {**unit["amount"], **_money(_amount(unit["amount"], "/amount"), unit["amount"]["currency_code"])},
        "payee": {"email_address": MERCHANT_EMAIL, "merchant_id": MERCHANT_ID, **unit.get("payee", {})},
    }


def _summary(kind: str, resource: Mapping[str, Any]) -> str:
    money = resource.get("amount") or resource.get("dispute_amount") or {}
    amount = f"{money.get('value', '')} {money.get('currency_code', '')}".strip()
    return {
        "PAYMENT.CAPTURE.COMPLETED": f"Payment completed for {amount}",
        "PAYMENT.CAPTURE.DENIED": f"A {amount} capture payment was denied",
        "PAYMENT.CAPTURE.REFUNDED": f"A {amount} capture payment was refunded",
        "VAULT.PAYMENT-TOKEN.DELETED": "A payment token has been deleted",
        "CUSTOMER.DISPUTE.CREATED": f"A new dispute opened with Case # {resource.get('dispute_id', '')}",
        "CUSTOMER.DISPUTE.RESOLVED": f"A dispute was resolved with Case # {resource.get('dispute_id', '')}",
    }.get(kind, kind)


def _json_body(content_type: str | None, raw: bytes) -> tuple[Any, list[Problem]]:
    if not raw.strip():
        return None, []
    if not (content_type or "").startswith("application/json"):
        return None, [Problem("Content-Type", "UNSUPPORTED_MEDIA_TYPE", f"{content_type!r} is not JSON", "header")]
    try:
        return json.loads(raw), []
    except ValueError:
        return None, [Problem("", "MALFORMED_REQUEST_JSON", issue_descriptions().get("MALFORMED_REQUEST_JSON", ""))]


# ---------------------------------------------------------------- HTTP


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    paypal: PayPalServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("get")

    def do_POST(self) -> None:
        self._serve("post")

    def do_DELETE(self) -> None:
        self._serve("delete")

    def do_PATCH(self) -> None:
        self._serve("patch")

    def _serve(self, method: str) -> None:
        paypal = self.server.paypal
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path in ("/checkoutnow", "/favicon.ico") or parts.path.startswith("/checkoutnow/"):
            self._approval_page(paypal, method, parts.path, parts.query, raw)  # www.paypal.com in life
            return
        with paypal._lock:
            paypal.in_flight += 1
            paypal.max_in_flight = max(paypal.max_in_flight, paypal.in_flight)
            paypal.requests.append((method.upper(), self.path))
        try:
            if paypal.latency_ms:
                time.sleep(paypal.latency_ms / 1000)
            if parts.path == OAUTH_PATH and method == "post":
                status, body = paypal.oauth_token(
                    self.headers.get("Authorization"), self.headers.get("Content-Type"), raw
                )
                self._answer(status, body)
                return
            try:
                status, body = paypal.call(method, parts.path, parts.query, self.headers, raw)
            except PayPalFailure as refused:
                status, body = refused.status, refused.body
            except Exception as crash:  # a bug of the local PayPal: say so in the test, not in a log
                paypal._violate([f"the local PayPal failed on {method.upper()} {parts.path}: {crash!r}"])
                status, body = 500, error_body(500)
            with paypal._lock:
                lose = paypal._script.lose_times > 0
                paypal._script.lose_times -= 1 if lose else 0
            if lose:  # carried out; the answer breaks off after its first bytes (a client would
                # send a request again on a fresh connection if none had come back at all)
                self.wfile.write(
                    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{"
                )
                self.wfile.flush()
                self.close_connection = True
                self.connection.close()
                return
            self._answer(status, body)
        finally:
            with paypal._lock:
                paypal.in_flight -= 1

    def _approval_page(self, paypal: PayPalServer, method: str, path: str, query: str, raw: bytes) -> None:
        """PayPal's page where the buyer logs in and agrees (or cancels), then goes back to the merchant."""
        if method == "get" and path == "/checkoutnow":
            token = dict(parse_qsl(query)).get("token", "")
            self._page(*self._login_page(paypal, token))
            return
        answered = re.fullmatch(r"/checkoutnow/([A-Z0-9]+)/(approve|cancel)", path)
        if method != "post" or answered is None:
            self._page(404, _message_page("Page not found", "There is no such PayPal page."))
            return
        token, action = answered.groups()
        email = dict(parse_qsl(raw.decode(errors="replace"))).get("email", "").strip()
        if action == "approve" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            self._page(
                *self._login_page(paypal, token, email=email, error="Enter the email address of your PayPal account.")
            )
            return
        try:
            back = paypal.approve(token, email) if action == "approve" else paypal.cancel(token)
        except KeyError:
            self._page(404, _message_page("This link has expired", "Go back to the merchant and try again."))
            return
        if not back:  # no page to go back to: PayPal's own pop-up would close here
            self._page(200, _message_page("You're all set", "You can close this window and return to the merchant."))
            return
        self.send_response(302)
        self.send_header("Location", back)
        self.send_header("Content-Length", "0")
        self.end_headers()

    @staticmethod
    def _login_page(
        paypal: PayPalServer, token: str, *, email: str = BUYER_EMAIL, error: str = ""
    ) -> tuple[int, bytes]:
        with paypal._lock:
            setup, order = paypal.setup_tokens.get(token), paypal.orders.get(token)
            experience = dict(paypal._experience.get(token, {}))
        if setup is None and order is None:
            return 404, _message_page("This link has expired", "Go back to the merchant and try again.")
        merchant = f'<span class="merchant">{html.escape(experience.get("brand_name") or BRAND_NAME)}</span>'
        if order is not None:
            amount = order["purchase_units"][0]["amount"]
            summary = f"Pay {html.escape(amount['value'])} {html.escape(amount['currency_code'])} to {merchant}."
        else:
            summary = (
                f"Save PayPal with {merchant}: you agree that {merchant} may charge your PayPal account "
                "for future payments without asking you each time."
            )
        page = (PAGES / "checkoutnow.html").read_text()
        filled = string.Template(page).substitute(
            summary=summary,
            token=html.escape(token),
            email=html.escape(email),
            error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        )
        return 200, filled.encode()

    def _page(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Paypal-Debug-Id", secrets.token_hex(7)[:13])
        self.end_headers()
        self.wfile.write(data)


def _message_page(heading: str, text: str) -> bytes:
    page = (PAGES / "message.html").read_text()
    return string.Template(page).substitute(heading=html.escape(heading), text=html.escape(text)).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local PayPal for the bench.")
    parser.add_argument("--port", type=int, default=8913)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--no-request-check", action="store_true")
    arguments = parser.parse_args()
    server = PayPalServer(
        port=arguments.port, latency_ms=arguments.latency_ms, check_requests=not arguments.no_request_check
    )
    print(f"paypal listening on {server.url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
