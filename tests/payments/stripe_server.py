"""A local Stripe over real HTTP, for tests and the bench: the official SDK (and the stand-in Stripe.js
of our card page) talk to it at SIMRENEW_STRIPE_API_BASE as they would to api.stripe.com.

It holds the callers to Stripe's published API: every request's method and path must be an
operation of Stripe's OpenAPI document (tests/payments/specs/stripe-openapi-requests.json, cut from
github.com/stripe/openapi by scripts/extract_stripe_spec.py), its query parameters must be the
operation's, and its form body, decoded as Stripe decodes it (`metadata[key]=…`, `expand[0]=…`),
must match the operation's closed schema. A request that does not is answered 400
`invalid_request_error`, as Stripe answers it, and kept in `violations` (tests assert none).

It behaves as Stripe does where our code depends on it:
- secret keys (`sk_…`) may do anything; the publishable key (`pk_…`) only what Stripe.js does
  (confirm an intent with its client secret, read it back, create a PaymentMethod);
- `Idempotency-Key`: the same key with the same request answers the first answer again
  (`Idempotent-Replayed: true`), with another request `idempotency_error`;
- test PaymentMethods `pm_card_visa`, `pm_card_visa_debit`, `pm_card_mastercard`,
  `pm_card_chargeDeclined`, `pm_card_chargeDeclinedInsufficientFunds`,
  `pm_card_chargeDeclinedExpiredCard`, `pm_card_authenticationRequired` (every payment needs
  3-D Secure: off-session it fails with `authentication_required`, on-session it asks for
  `requires_action`) and `pm_card_authenticationRequiredOnSetup` (3-D Secure once, when saved);
  card numbers posted to /v1/payment_methods map to the same behaviours (Stripe's test numbers);
- confirming a SetupIntent attaches a copy of the PaymentMethod to its customer;
- payment intents are found by `metadata['idempotency_key']:'…'` in /v1/payment_intents/search;
- events (payment_intent.*, setup_intent.succeeded, charge.refunded, charge.dispute.*,
  payment_method.automatically_updated) are signed as Stripe signs them (`Stripe-Signature:
  t=…,v1=HMAC-SHA256`); with `webhook_url` set they wait until the test calls `send_events()`,
  which POSTs them in order (Stripe sends after answering; the test says when "after" is);
- scripted faults: `fail_with(status, times)`, `lose_answer(times)` (the request is carried out,
  its answer breaks off after the first bytes), `latency_ms` on every answer.

Run apart (the bench): python -m tests.payments.stripe_server --port 8912 --latency-ms 250
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import re
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema_rs
import segno

SPEC_FILE = Path(__file__).parent / "specs" / "stripe-openapi-requests.json"
STRIPE_JS = Path(__file__).parent / "stripe_js"
# The stand-in Stripe.js (at SIMRENEW_STRIPE_JS_URL = <server>/v3/) and the Payment Element's frame.
BROWSER_FILES = {
    "/v3/": ("stripe.js", "text/javascript; charset=utf-8"),
    "/elements/payment": ("payment_element.html", "text/html; charset=utf-8"),
}
SECRET_KEY = "sk_test_simrenew_local"
PUBLISHABLE_KEY = "pk_test_simrenew_local"
WEBHOOK_SECRET = "whsec_simrenew_local_0123456789abcdef"


@dataclass(frozen=True, slots=True)
class TestCard:
    brand: str
    last4: str
    funding: str = "credit"
    decline: str = ""  # a decline code: every charge fails with it
    authentication: str = ""  # "always" (every payment) or "setup" (once, when the card is saved)


TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_chargeDeclined": TestCard("visa", "0002", decline="generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard("visa", "9995", decline="insufficient_funds"),
    "pm_card_chargeDeclinedExpiredCard": TestCard("visa", "0069", decline="expired_card"),
    "pm_card_authenticationRequired": TestCard("visa", "3184", authentication="always"),
    "pm_card_authenticationRequiredOnSetup": TestCard("visa", "3155", authentication="setup"),
}
# Stripe's test card numbers, as the card page's Stripe.js sends them.
TEST_NUMBERS: dict[str, str] = {
    "4242424242424242": "pm_card_visa",
    "4000056655665556": "pm_card_visa_debit",
    "5555555555554444": "pm_card_mastercard",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000002760003184": "pm_card_authenticationRequired",
    "4000002500003155": "pm_card_authenticationRequiredOnSetup",
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}

PAID_ELSEWHERE = ("alipay", "wechat_pay")

# Operations Stripe.js may call with the publishable key (and the intent's client secret).
PUBLISHABLE_OPERATIONS = {
    ("post", "/v1/setup_intents/{intent}/confirm"),
    ("get", "/v1/setup_intents/{intent}"),
    ("post", "/v1/payment_intents/{intent}/confirm"),
    ("get", "/v1/payment_intents/{intent}"),
    ("post", "/v1/payment_methods"),
}


class StripeFailure(Exception):
    """An error answer, in Stripe's shape."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def _invalid(message: str, param: str = "") -> StripeFailure:
    error = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    return StripeFailure(400, error)


# ---------------------------------------------------------------- the published API


@cache
def spec() -> dict[str, Any]:
    return dict(json.loads(SPEC_FILE.read_text()))


@cache
def _route_patterns() -> list[tuple[re.Pattern[str], str]]:
    """Literal paths first (/v1/payment_intents/search before /v1/payment_intents/{intent})."""
    paths = sorted(spec()["paths"], key=lambda path: ("{" in path, path))
    return [(re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), path) for path in paths]


def operation_for(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for pattern, template in _route_patterns():
        match = pattern.match(path)
        if match and method in spec()["paths"][template]:
            return template, match.groupdict()
    return None


_validators: dict[int, jsonschema_rs.Draft4Validator] = {}
_validators_lock = threading.Lock()


def _validator(schema: dict[str, Any]) -> jsonschema_rs.Draft4Validator:
    with _validators_lock:
        found = _validators.get(id(schema))
        if found is None:
            found = _validators[id(schema)] = jsonschema_rs.Draft4Validator(schema)
        return found


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested values: a[b][0]=x → {"a": {"b": ["x"]}}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        names = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for position, name in enumerate(names):
            last = position == len(names) - 1
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, {})
                if not isinstance(node, dict):
                    raise _invalid(f"Invalid parameter {key}.", key)
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _lists(value) for key, value in node.items()}
        if node and all(key.isdigit() for key in node):
            return [node[key] for key in sorted(node, key=int)]
    return node


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Form values are strings: read them as the schema's integers, numbers and booleans."""
    if "anyOf" in schema:
        for branch in schema["anyOf"]:
            candidate = coerce(value, branch)
            if _validator(branch).is_valid(candidate):
                return candidate
        return value
    kind = schema.get("type")
    if isinstance(value, str):
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return float(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            key: coerce(item, properties.get(key) or (extra if isinstance(extra, dict) else {}))
            for key, item in value.items()
        }
    if kind == "array" and isinstance(value, list):
        return [coerce(item, schema.get("items", {})) for item in value]
    return value


def request_errors(method: str, template: str, query: dict[str, Any], form: dict[str, Any]) -> list[str]:
    """What in this request Stripe's published API does not have."""
    operation = spec()["paths"][template][method]
    errors: list[str] = []
    declared = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    for name, value in query.items():
        parameter = declared.get(name)
        if parameter is None:
            errors.append(f"{method.upper()} {template}: unknown query parameter {name!r}")
            continue
        for error in _validator(parameter["schema"]).iter_errors(coerce(value, parameter["schema"])):
            errors.append(f"{method.upper()} {template}: query {name}: {error.message}")
    schema = operation.get("form")
    if schema is None:
        if form:
            errors.append(f"{method.upper()} {template}: takes no body, got {sorted(form)}")
    else:
        for error in _validator(schema).iter_errors(coerce(form, schema)):
            where = "/".join(str(part) for part in error.instance_path)
            errors.append(f"{method.upper()} {template}: {where or 'body'}: {error.message}")
    return errors


# ---------------------------------------------------------------- the server


@dataclass
class Script:
    fail_status: int = 0
    fail_times: int = 0
    lose_times: int = 0


@dataclass
class Remembered:
    """An idempotency key's first request and answer."""

    fingerprint: str
    status: int
    body: dict[str, Any]


@dataclass
class Event:
    id: str
    type: str
    object: dict[str, Any]
    created: int
    delivered: list[int] = field(default_factory=list)  # HTTP statuses of each delivery (0: none)

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": self.created,
            "data": {"object": self.object},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": self.type,
        }


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header of a webhook delivery."""
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class StripeServer:
    """Stripe on 127.0.0.1; use as a context manager. `url` is the API base."""

    def __init__(
        self, *, latency_ms: int = 0, port: int = 0, webhook_url: str | None = None, check_requests: bool = True
    ) -> None:
        self.latency_ms = latency_ms
        self.webhook_url = webhook_url
        self.webhook_tls: ssl.SSLContext | None = None  # trusts our endpoint's certificate, if HTTPS
        self.check_requests = check_requests
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.events: list[Event] = []
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.in_flight = 0
        self.max_in_flight = 0
        self._behaviour: dict[str, TestCard] = {}  # payment method id → how it behaves
        self._idempotency: dict[str, Remembered] = {}
        self._script = Script()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._httpd = _Httpd(("127.0.0.1", port), _Handler)
        self._httpd.stripe = self
        self._thread: threading.Thread | None = None
        self._waiting: list[Event] = []

    # --- life -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> StripeServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="stripe-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> StripeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- script ---------------------------------------------------------------------------------

    def fail_with(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._script.fail_status, self._script.fail_times = status, times

    def lose_answer(self, times: int = 1) -> None:
        with self._lock:
            self._script.lose_times = times

    def behave_as(self, payment_method: str, test_method: str) -> None:
        """The bank answers for this card as for one of the test methods from now on."""
        with self._lock:
            self._behaviour[payment_method] = TEST_CARDS[test_method]

    def charges_of(self, customer: str) -> list[dict[str, Any]]:
        """The succeeded payment intents of a customer: the money Stripe took."""
        with self._lock:
            return [
                intent
                for intent in self.payment_intents.values()
                if intent["customer"] == customer and intent["status"] == "succeeded"
            ]

    def events_of(self, kind: str) -> list[Event]:
        return [event for event in self.events if event.type == kind]

    def open_dispute(
        self, payment_intent: str, *, reason: str = "fraudulent", due_in_days: int = 7, amount: int | None = None
    ) -> dict[str, Any]:
        """The cardholder disputes a payment at their bank: `charge.dispute.created`."""
        with self._lock:
            intent = self.payment_intents[payment_intent]
            dispute = {
                "id": self._id("dp"),
                "object": "dispute",
                "amount": intent["amount"] if amount is None else amount,
                "currency": intent["currency"],
                "charge": intent["latest_charge"],
                "payment_intent": intent["id"],
                "reason": reason,
                "status": "needs_response",
                "created": int(time.time()),
                "evidence": {},
                "evidence_details": {
                    "due_by": int(time.time()) + due_in_days * 86400,
                    "has_evidence": False,
                    "submission_count": 0,
                },
                "livemode": False,
                "metadata": {},
            }
            self.disputes[dispute["id"]] = dispute
        self.emit("charge.dispute.created", dispute)
        return dispute

    def close_dispute(self, dispute_id: str, status: str = "won") -> dict[str, Any]:
        with self._lock:
            dispute = self.disputes[dispute_id]
            dispute["status"] = status
        self.emit("charge.dispute.closed", dispute)
        return dispute

    def refund_outside(self, payment_intent: str, amount: int) -> dict[str, Any]:
        """A refund made in Stripe's dashboard, not through us: `charge.refunded`."""
        with self._lock:
            refund = self._refund({"payment_intent": payment_intent, "amount": amount})
            intent = self.payment_intents[payment_intent]
        self.emit("charge.refunded", self._charge_of(intent))
        return refund

    def update_card(self, payment_method: str, *, exp_month: int, exp_year: int) -> None:
        """The card network sent Stripe the card's new expiry: `payment_method.automatically_updated`."""
        with self._lock:
            method = self.payment_methods[payment_method]
            method["card"]["exp_month"], method["card"]["exp_year"] = exp_month, exp_year
        self.emit("payment_method.automatically_updated", method)

    def emit(self, kind: str, obj: dict[str, Any], *, deliver: bool = True) -> Event:
        """Record an event; with `webhook_url` set, it waits to be sent after the answer, as
        Stripe sends it: `send_events` delivers what waits, in order, when the test says (a test
        database shared with the live server takes one caller at a time)."""
        event = Event(id=self._id("evt"), type=kind, object=json.loads(json.dumps(obj)), created=int(time.time()))
        with self._lock:
            self.events.append(event)
            if deliver and self.webhook_url:
                self._waiting.append(event)
        return event

    def send_events(self) -> list[int]:
        """Deliver every event waiting to be sent; their HTTP statuses."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        return [self.deliver(event) for event in waiting]

    def deliver(
        self, event: Event, *, url: str | None = None, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
    ) -> int:
        """POST the event to our endpoint as Stripe does; the HTTP status (0: not reached)."""
        payload = json.dumps(event.payload()).encode()
        request = urllib.request.Request(
            url or self.webhook_url or "",
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, secret=secret, timestamp=timestamp),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.webhook_tls) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as refused:
            status = refused.code
        except OSError:
            status = 0
        event.delivered.append(status)
        return status

    # --- the API (called by the handler with the lock held) ----------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{secrets.token_hex(4)}"

    def handle(self, method: str, template: str, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        handler: Callable[[dict[str, str], dict[str, Any]], dict[str, Any]] = getattr(
            self, "_" + method + template.replace("/v1/", "_").replace("/", "_").replace("{", "").replace("}", "")
        )
        return handler(ids, params)

    def _post_customers(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": self._id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return customer

    def _get_customers_customer(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.customers, ids["customer"], "customer")

    def _post_setup_intents(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if customer is not None:
            self._find(self.customers, customer, "customer")
        intent_id = self._id("seti")
        intent = {
            "id": intent_id,
            "object": "setup_intent",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "customer": customer,
            "payment_method": None,
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "status": "requires_payment_method",
            "usage": params.get("usage", "off_session"),
            "metadata": params.get("metadata", {}),
            "next_action": None,
            "last_setup_error": None,
            "created": int(time.time()),
            "livemode": False,
        }
        self.setup_intents[intent_id] = intent
        return intent

    def _get_setup_intents_intent(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        intent = self._find(self.setup_intents, ids["intent"], "setup_intent")
        return self._expanded(intent, params)

    def _post_setup_intents_intent_confirm(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        intent = self._find(self.setup_intents, ids["intent"], "setup_intent")
        if intent["status"] == "succeeded":
            raise _invalid("This SetupIntent has already succeeded.")
        source = params.get("payment_method")
        if source is not None:
            card = self._card(source)
            if source in TEST_CARDS:  # Stripe makes a copy of a test method
                source = self._new_method(card, customer=None)["id"]
            if intent["customer"]:
                self.payment_methods[source]["customer"] = intent["customer"]
            intent["payment_method"] = source
        if intent["payment_method"] is None:
            raise _invalid("You must provide a payment_method.", "payment_method")
        card = self._behaviour[intent["payment_method"]]
        if card.authentication in ("always", "setup"):
            intent["status"] = "requires_action"
            intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
        elif card.decline:
            intent["status"] = "requires_payment_method"
            intent["last_setup_error"] = self._decline(card)
        else:
            intent["status"] = "succeeded"
            intent["next_action"] = None
            self.emit("setup_intent.succeeded", intent)
        return self._expanded(intent, params)

    def authenticate(self, intent_id: str, *, approve: bool = True) -> dict[str, Any]:
        """The cardholder answers the 3-D Secure challenge (the stand-in Stripe.js's dialog)."""
        with self._lock:
            if intent_id.startswith("seti_"):
                intent = self.setup_intents[intent_id]
                if approve:
                    intent["status"], intent["next_action"] = "succeeded", None
                else:
                    intent["status"], intent["next_action"] = "requires_payment_method", None
                    intent["last_setup_error"] = {"type": "card_error", "code": "authentication_failed"}
                result = intent
            else:
                intent = self.payment_intents[intent_id]
                if approve:
                    self._succeed(intent)
                else:
                    intent["status"], intent["next_action"] = "requires_payment_method", None
                    intent["last_payment_error"] = {
                        "type": "card_error",
                        "code": "payment_intent_authentication_failure",
                    }
                result = intent
        if approve:
            self.emit(("setup_intent" if intent_id.startswith("seti_") else "payment_intent") + ".succeeded", result)
        return result

    def _post_payment_methods(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        card = params.get("card") or {}
        number = str(card.get("number", ""))
        test_id = TEST_NUMBERS.get(number)
        if test_id is None:
            raise StripeFailure(
                402, {"type": "card_error", "code": "incorrect_number", "message": "Your card number is incorrect."}
            )
        method = self._new_method(TEST_CARDS[test_id], customer=None)
        method["card"]["exp_month"] = int(card.get("exp_month", 12))
        method["card"]["exp_year"] = int(card.get("exp_year", 2030))
        return method

    def _get_payment_methods_payment_method(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.payment_methods, ids["payment_method"], "payment_method")

    def _post_payment_methods_payment_method_detach(
        self, ids: dict[str, str], params: dict[str, Any]
    ) -> dict[str, Any]:
        method = self._find(self.payment_methods, ids["payment_method"], "payment_method")
        method["customer"] = None
        return method

    def _post_payment_intents(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if customer is not None:
            self._find(self.customers, customer, "customer")
        method = params.get("payment_method")
        made = params.get("payment_method_data")
        if made is not None:  # Alipay, WeChat Pay: a method made for this payment, paid on their side
            if made.get("type") not in PAID_ELSEWHERE:
                raise _invalid(f"payment_method_data[type] {made.get('type')!r} is not offered here.", "type")
            method = self._new_elsewhere_method(made["type"])["id"]
            params["payment_method_types"] = [made["type"]]  # as Stripe infers them from the method
        elif method is not None:
            self._card(method)
            attached = self.payment_methods.get(method, {}).get("customer")
            if customer and attached not in (None, customer):
                raise _invalid("The provided PaymentMethod belongs to another customer.", "payment_method")
            if params.get("off_session") and attached != customer:
                raise _invalid("The PaymentMethod must be attached to the customer to be used off-session.")
        intent_id = self._id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": params["amount"],
            "amount_received": 0,
            "currency": params["currency"],
            "customer": customer,
            "payment_method": method,
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "status": "requires_payment_method" if method is None else "requires_confirmation",
            "latest_charge": None,
            "last_payment_error": None,
            "next_action": None,
            "created": int(time.time()),
            "livemode": False,
        }
        self.payment_intents[intent_id] = intent
        if params.get("confirm"):
            self._confirm(intent, off_session=bool(params.get("off_session")), return_url=params.get("return_url"))
        return intent

    def _post_payment_intents_intent_confirm(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        intent = self._find(self.payment_intents, ids["intent"], "payment_intent")
        if intent["status"] == "succeeded":
            raise _invalid("This PaymentIntent has already succeeded.")
        if params.get("payment_method"):
            self._card(params["payment_method"])
            intent["payment_method"] = params["payment_method"]
        self._confirm(intent, off_session=bool(params.get("off_session")), return_url=params.get("return_url"))
        return intent

    def _post_payment_intents_intent_cancel(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        intent = self._find(self.payment_intents, ids["intent"], "payment_intent")
        if intent["status"] == "succeeded":
            raise _invalid("You cannot cancel this PaymentIntent because it has a status of succeeded.")
        intent["status"] = "canceled"
        self.emit("payment_intent.canceled", intent)
        return intent

    def _get_payment_intents_intent(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.payment_intents, ids["intent"], "payment_intent")

    def _get_payment_intents_search(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        match = re.fullmatch(r"metadata\['(\w+)'\]:'((?:[^'\\]|\\.)*)'", str(params.get("query", "")))
        if match is None:
            raise _invalid("This search query is not supported by the local Stripe.", "query")
        name, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
        found = [intent for intent in self.payment_intents.values() if intent["metadata"].get(name) == value]
        return {
            "object": "search_result",
            "data": found,
            "has_more": False,
            "next_page": None,
            "url": "/v1/payment_intents/search",
        }

    def _post_refunds(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        refund = self._refund(params)
        intent = self.payment_intents[refund["payment_intent"]]
        self.emit("charge.refunded", self._charge_of(intent))
        return refund

    def _get_disputes_dispute(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        return self._find(self.disputes, ids["dispute"], "dispute")

    def _post_disputes_dispute(self, ids: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
        dispute = self._find(self.disputes, ids["dispute"], "dispute")
        dispute["evidence"].update(params.get("evidence", {}))
        dispute["metadata"].update(params.get("metadata", {}))
        if params.get("submit", True):
            dispute["status"] = "under_review"
            dispute["evidence_details"]["submission_count"] += 1
            dispute["evidence_details"]["has_evidence"] = True
        return dispute

    # --- the rules behind them ------------------------------------------------------------------

    def _find(self, table: dict[str, dict[str, Any]], key: str, kind: str) -> dict[str, Any]:
        found = table.get(key)
        if found is None:
            raise StripeFailure(
                404,
                {"type": "invalid_request_error", "code": "resource_missing", "message": f"No such {kind}: '{key}'"},
            )
        return found

    def _card(self, method_id: str) -> TestCard:
        if method_id in TEST_CARDS:
            return TEST_CARDS[method_id]
        card = self._behaviour.get(method_id)
        if card is None:
            raise StripeFailure(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "param": "payment_method",
                    "message": f"No such PaymentMethod: '{method_id}'",
                },
            )
        return card

    def _new_method(self, card: TestCard, *, customer: str | None) -> dict[str, Any]:
        method = {
            "id": self._id("pm"),
            "object": "payment_method",
            "type": "card",
            "card": {
                "brand": card.brand,
                "last4": card.last4,
                "funding": card.funding,
                "exp_month": 12,
                "exp_year": 2034,
                "country": "US",
            },
            "customer": customer,
            "metadata": {},
            "created": int(time.time()),
            "livemode": False,
        }
        self.payment_methods[method["id"]] = method
        self._behaviour[method["id"]] = card
        return method

    def _decline(self, card: TestCard) -> dict[str, Any]:
        code = "expired_card" if card.decline == "expired_card" else "card_declined"
        return {
            "type": "card_error",
            "code": code,
            "decline_code": card.decline,
            "message": DECLINE_MESSAGES.get(card.decline, "Your card was declined."),
        }

    def _confirm(self, intent: dict[str, Any], *, off_session: bool, return_url: str | None) -> None:
        method = intent["payment_method"]
        if method is None:
            raise _invalid("You must provide a payment_method to confirm this PaymentIntent.", "payment_method")
        card = self._card(method)
        if card.decline:
            self._fail(intent, self._decline(card))
        if card.authentication == "always":
            if off_session:  # nobody is there to authenticate: Stripe refuses at once
                self._fail(
                    intent,
                    {
                        "type": "card_error",
                        "code": "authentication_required",
                        "decline_code": "authentication_required",
                        "message": "Your card was declined. This transaction requires authentication.",
                    },
                )
            intent["status"] = "requires_action"
            intent["return_url"] = return_url
            intent["next_action"] = self._next_action(intent, card, return_url)
            return
        self._succeed(intent)
        self.emit("payment_intent.succeeded", intent)

    def _next_action(self, intent: dict[str, Any], card: TestCard, return_url: str | None) -> dict[str, Any]:
        """What Stripe tells the merchant to do for a payment the customer must finish."""
        if card.brand == "alipay":
            return {
                "type": "alipay_handle_redirect",
                "alipay_handle_redirect": {
                    "url": f"{self.url}/alipay/{intent['id']}",
                    "return_url": return_url,
                    "native_url": None,
                    "native_data": None,
                },
            }
        if card.brand == "wechat_pay":
            code = f"{self.url}/wechat/{intent['id']}"  # what the customer's phone opens
            return {
                "type": "wechat_pay_display_qr_code",
                "wechat_pay_display_qr_code": {
                    "data": code,
                    "hosted_instructions_url": code,
                    "image_data_url": segno.make(code, error="m").svg_data_uri(scale=4),
                    "image_url_png": f"{code}.png",
                    "image_url_svg": f"{code}.svg",
                },
            }
        if return_url:
            return {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": f"{self.url}/3ds/{intent['id']}", "return_url": return_url},
            }
        return {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}

    def _new_elsewhere_method(self, kind: str) -> dict[str, Any]:
        method = {
            "id": self._id("pm"),
            "object": "payment_method",
            "type": kind,
            kind: {},
            "customer": None,
            "metadata": {},
            "created": int(time.time()),
            "livemode": False,
        }
        self.payment_methods[method["id"]] = method
        self._behaviour[method["id"]] = TestCard(kind, "", authentication="always")  # the customer pays there
        return method

    def _succeed(self, intent: dict[str, Any]) -> None:
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["next_action"] = None
        intent["last_payment_error"] = None
        intent["latest_charge"] = intent["latest_charge"] or self._id("ch")
        intent.setdefault("amount_refunded", 0)

    def _fail(self, intent: dict[str, Any], error: dict[str, Any]) -> None:
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = error
        self.emit("payment_intent.payment_failed", intent)
        raise StripeFailure(402, {**error, "payment_intent": intent})

    def _refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = self._find(self.payment_intents, str(params.get("payment_intent", "")), "payment_intent")
        if intent["status"] != "succeeded":
            raise _invalid("This PaymentIntent does not have a successful charge to refund.", "payment_intent")
        remaining = intent["amount"] - intent.get("amount_refunded", 0)
        amount = int(params.get("amount", remaining))
        if amount <= 0 or amount > remaining:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining}).", "amount"
            )
        intent["amount_refunded"] = intent.get("amount_refunded", 0) + amount
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "charge": intent["latest_charge"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        return refund

    def _charge_of(self, intent: dict[str, Any]) -> dict[str, Any]:
        refunds = [refund for refund in self.refunds.values() if refund["payment_intent"] == intent["id"]]
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": intent.get("amount_refunded", 0),
            "currency": intent["currency"],
            "customer": intent["customer"],
            "payment_intent": intent["id"],
            "refunded": intent.get("amount_refunded", 0) >= intent["amount"],
            "refunds": {"object": "list", "data": refunds, "has_more": False},
            "status": "succeeded",
            "livemode": False,
        }

    def _expanded(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if "payment_method" in params.get("expand", []) and intent["payment_method"]:
            return {**intent, "payment_method": self.payment_methods.get(intent["payment_method"])}
        return intent


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    stripe: StripeServer


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

    def do_OPTIONS(self) -> None:
        """Stripe.js calls the API from the customer's page, another origin: CORS's preflight."""
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _browser_file(self, method: str) -> bool:
        """Stripe.js itself, the Payment Element's frame and the bank's 3-D Secure page (js.stripe.com
        and hooks.stripe.com in life): not API operations."""
        path = urlsplit(self.path).path
        stripe = self.server.stripe
        if method == "get" and path in BROWSER_FILES:
            name, content_type = BROWSER_FILES[path]
            self._file(name, content_type)
            return True
        if method == "get" and re.fullmatch(r"/3ds/\w+", path):
            self._file("challenge.html", "text/html; charset=utf-8")
            return True
        if method == "get" and re.fullmatch(r"/alipay/\w+", path):
            self._file("alipay.html", "text/html; charset=utf-8")
            return True
        paid = re.fullmatch(r"/alipay/(\w+)/(authorize|fail)", path)
        if method == "post" and paid:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            intent = stripe.authenticate(paid.group(1), approve=paid.group(2) == "authorize")
            back = f"{intent.get('return_url') or ''}"
            joiner = "&" if "?" in back else "?"
            status = "succeeded" if intent["status"] == "succeeded" else "failed"
            self.send_response(302)
            self.send_header(
                "Location",
                f"{back}{joiner}payment_intent={intent['id']}&payment_intent_client_secret={intent['client_secret']}"
                f"&redirect_status={status}",
            )
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        answered = re.fullmatch(r"/3ds/(\w+)/(complete|fail)", path)
        if method == "post" and answered:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stripe.authenticate(answered.group(1), approve=answered.group(2) == "complete")
            self._answer(200, {"ok": True}, {})
            return True
        return False

    def _file(self, name: str, content_type: str) -> None:
        data = (STRIPE_JS / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        stripe = self.server.stripe
        if self._browser_file(method):
            return
        with stripe._lock:
            stripe.in_flight += 1
            stripe.max_in_flight = max(stripe.max_in_flight, stripe.in_flight)
            stripe.requests.append((method.upper(), self.path))
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if stripe.latency_ms:
                time.sleep(stripe.latency_ms / 1000)
            try:
                status, body, headers = self._answer_for(stripe, method, raw)
            except StripeFailure as failure:
                status, body, headers = failure.status, {"error": failure.error}, {}
            with stripe._lock:
                lose = stripe._script.lose_times > 0
                stripe._script.lose_times -= 1 if lose else 0
            if lose:  # carried out; the answer breaks off after its first bytes (a client would
                # send a request again on a fresh connection if none had come back at all)
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{")
                self.wfile.flush()
                self.close_connection = True
                self.connection.close()
                return
            self._answer(status, body, headers)
        finally:
            with stripe._lock:
                stripe.in_flight -= 1

    def _answer_for(self, stripe: StripeServer, method: str, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        with stripe._lock:
            if stripe._script.fail_times > 0:
                stripe._script.fail_times -= 1
                return stripe._script.fail_status, {"error": {"type": "api_error", "message": "Stripe is down."}}, {}
        parts = urlsplit(self.path)
        found = operation_for(method, parts.path)
        if found is None:
            stripe.violations.append(f"{method.upper()} {parts.path}: not an operation of Stripe's API")
            raise StripeFailure(
                404,
                {
                    "type": "invalid_request_error",
                    "message": f"Unrecognized request URL ({method.upper()}: {parts.path}).",
                },
            )
        template, ids = found
        key = self._key()
        if key is None or not (
            key.startswith("sk_") or (key.startswith("pk_") and (method, template) in PUBLISHABLE_OPERATIONS)
        ):
            raise StripeFailure(401, {"type": "invalid_request_error", "message": "Invalid API Key provided."})
        content_type = self.headers.get("Content-Type") or ""
        if raw and not content_type.startswith("application/x-www-form-urlencoded"):
            stripe.violations.append(f"{method.upper()} {template}: Content-Type {content_type!r}")
        query = decode_form(parse_qsl(parts.query, keep_blank_values=True))
        form = decode_form(parse_qsl(raw.decode(), keep_blank_values=True))
        if stripe.check_requests:
            problems = request_errors(method, template, query, form)
            if problems:
                with stripe._lock:
                    stripe.violations += problems
                raise _invalid("; ".join(problems)[:2000])
        operation = spec()["paths"][template][method]
        params = coerce(
            query, {"type": "object", "properties": {p["name"]: p["schema"] for p in operation["parameters"]}}
        )
        if operation.get("form"):
            params.update(coerce(form, operation["form"]))
        if key.startswith("pk_"):
            self._check_client_secret(stripe, template, ids, params)
            params.pop("client_secret", None)
        idempotency_key = self.headers.get("Idempotency-Key")
        fingerprint = json.dumps([method, template, ids, params], sort_keys=True)
        with stripe._lock:
            if method == "post" and idempotency_key:
                remembered = stripe._idempotency.get(idempotency_key)
                if remembered is not None:
                    if remembered.fingerprint != fingerprint:
                        raise StripeFailure(
                            400,
                            {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with the same parameters "
                                "they were first used with.",
                            },
                        )
                    return remembered.status, remembered.body, {"Idempotent-Replayed": "true"}
            try:
                status, body = 200, stripe.handle(method, template, ids, params)
            except StripeFailure as failure:
                status, body = failure.status, {"error": failure.error}
            body = json.loads(json.dumps(body))  # a snapshot: later changes do not alter a remembered answer
            if method == "post" and idempotency_key and status < 500:
                stripe._idempotency[idempotency_key] = Remembered(fingerprint, status, body)
        return status, body, {}

    def _key(self) -> str | None:
        authorization = self.headers.get("Authorization") or ""
        if authorization.startswith("Bearer "):
            key = authorization.removeprefix("Bearer ")
            return key if key in (SECRET_KEY, PUBLISHABLE_KEY) else None
        return None

    @staticmethod
    def _check_client_secret(stripe: StripeServer, template: str, ids: dict[str, str], params: dict[str, Any]) -> None:
        if "intent" not in ids:
            return
        table = stripe.setup_intents if "setup_intents" in template else stripe.payment_intents
        intent = table.get(ids["intent"])
        if intent is None or params.get("client_secret") != intent["client_secret"]:
            raise StripeFailure(
                400, {"type": "invalid_request_error", "message": "The client_secret provided does not match."}
            )

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Stripe-Version", "2026-10-28.endive")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Stripe for the bench.")
    parser.add_argument("--port", type=int, default=8912)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--no-request-check", action="store_true")
    arguments = parser.parse_args()
    server = StripeServer(
        port=arguments.port, latency_ms=arguments.latency_ms, check_requests=not arguments.no_request_check
    )
    print(f"stripe listening on {server.url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
