"""Every event the outbox carries: its type, which kind of notice it is for the customer
(their channel choices are per kind; events without a kind reach partners' webhooks only,
never a customer's inbox) and the shape of its payload (`notifications.payloads`).

`payload_problems` lists how a payload strays from its shape (`notifications.services` holds
each emitted event to it); `payload_schema` turns the shape into the JSON Schema the webhook
documentation shows, so the two cannot disagree.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

from simrenew.customers.models import NotificationKind
from simrenew.notifications import payloads
from simrenew.payments.failures import FailureCode


class EventType(StrEnum):
    CUSTOMER_CREATED = "customer.created"
    ESIM_ASSIGNED = "esim.assigned"
    ESIM_INSTALLED = "esim.installed"
    ESIM_DOWNLOAD_FAILED = "esim.download_failed"
    ESIM_PORT_COMPLETED = "esim.port_completed"
    ESIM_PORT_FAILED = "esim.port_failed"
    SUBSCRIPTION_CREATED = "subscription.created"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    RENEWAL_FAILED = "subscription.renewal_failed"
    EXPIRING = "subscription.expiring"
    EXPIRING_SOON = "subscription.expiring_soon"
    AUTO_RENEW_UPCOMING = "subscription.auto_renew_upcoming"
    PAYMENT_METHOD_EXPIRING = "payment_method.expiring"
    SUSPENDED = "subscription.suspended"
    TERMINATION_WARNING = "subscription.termination_warning"
    TERMINATED = "subscription.terminated"
    USAGE_THRESHOLD_REACHED = "usage.threshold_reached"
    CANCELLED = "subscription.cancelled"
    RESUMED = "subscription.resumed"
    EXTENDED = "subscription.extended"
    TOPPED_UP = "subscription.topped_up"
    PAYMENT_REFUNDED = "payment.refunded"


@dataclass(frozen=True, slots=True)
class EventSpec:
    payload: type  # a TypedDict of notifications.payloads
    kind: NotificationKind | None  # the customer's notice kind; None: webhooks only
    summary: str  # what happened, for the webhook documentation
    # The customer channels the event always takes, whatever their choices for its kind (still
    # only to an address they gave); None: the channels they chose.
    channels: frozenset[str] | None = None


SPECS: dict[EventType, EventSpec] = {
    EventType.CUSTOMER_CREATED: EventSpec(payloads.CustomerCreated, None, "A customer signed up or was created."),
    EventType.ESIM_ASSIGNED: EventSpec(payloads.EsimChanged, None, "An eSIM profile was given to a customer."),
    EventType.ESIM_INSTALLED: EventSpec(payloads.EsimChanged, None, "The customer installed the eSIM on a device."),
    # The customer must hear of it whatever they chose: their new eSIM does not work yet.
    EventType.ESIM_DOWNLOAD_FAILED: EventSpec(
        payloads.EsimDownloadFailed,
        NotificationKind.SERVICE_SUSPENDED,
        "The SM-DP+ reported that the eSIM could not be downloaded or installed.",
        channels=frozenset({"email"}),
    ),
    # Number porting: the customer asked for it and waits to hear, whatever they chose.
    EventType.ESIM_PORT_COMPLETED: EventSpec(
        payloads.EsimPortCompleted,
        NotificationKind.SERVICE_SUSPENDED,
        "The carrier moved the customer's number to their new eSIM; the old plan ended.",
        channels=frozenset({"email"}),
    ),
    EventType.ESIM_PORT_FAILED: EventSpec(
        payloads.EsimPortFailed,
        NotificationKind.SERVICE_SUSPENDED,
        "The carrier could not move the customer's number to their new eSIM (the reason is the carrier's).",
        channels=frozenset({"email"}),
    ),
    EventType.SUBSCRIPTION_CREATED: EventSpec(
        payloads.SubscriptionCreated, NotificationKind.RECEIPT, "The first period of a subscription was paid."
    ),
    EventType.SUBSCRIPTION_RENEWED: EventSpec(
        payloads.SubscriptionRenewed, NotificationKind.RECEIPT, "Another period was paid, by hand or by auto-renew."
    ),
    EventType.RENEWAL_FAILED: EventSpec(
        payloads.RenewalFailed, NotificationKind.PAYMENT_FAILED, "A renewal's payment failed."
    ),
    EventType.EXPIRING: EventSpec(
        payloads.SubscriptionExpiring, NotificationKind.EXPIRY_REMINDER, "The paid service ends in a few days."
    ),
    # The last warning before the line stops: a text to the phone the customer gave even though SMS
    # is off until chosen (an email hours before may be read late), unless they explicitly turned SMS
    # off for reminders (delivery._plan).
    EventType.EXPIRING_SOON: EventSpec(
        payloads.SubscriptionExpiringSoon,
        NotificationKind.EXPIRY_REMINDER,
        "The paid service ends within hours and nothing will renew it (sent by SMS).",
        channels=frozenset({"sms"}),
    ),
    EventType.AUTO_RENEW_UPCOMING: EventSpec(
        payloads.AutoRenewUpcoming, NotificationKind.AUTO_RENEW_NOTICE, "Auto-renew will charge soon."
    ),
    EventType.PAYMENT_METHOD_EXPIRING: EventSpec(
        payloads.PaymentMethodExpiring,
        NotificationKind.AUTO_RENEW_NOTICE,
        "The card auto-renew charges expires before the charge.",
    ),
    EventType.SUSPENDED: EventSpec(
        payloads.SubscriptionSuspended, NotificationKind.SERVICE_SUSPENDED, "The paid service ran out."
    ),
    EventType.TERMINATION_WARNING: EventSpec(
        payloads.TerminationWarning,
        NotificationKind.SERVICE_SUSPENDED,
        "A suspended subscription will be terminated and its number released.",
    ),
    EventType.TERMINATED: EventSpec(
        payloads.SubscriptionTerminated, NotificationKind.SERVICE_SUSPENDED, "The subscription ended for good."
    ),
    EventType.USAGE_THRESHOLD_REACHED: EventSpec(
        payloads.UsageThresholdReached, NotificationKind.LOW_DATA, "The period's data use reached 80 % or 95 %."
    ),
    EventType.CANCELLED: EventSpec(
        payloads.SubscriptionCancelled, NotificationKind.RECEIPT, "The subscription was cancelled."
    ),
    EventType.RESUMED: EventSpec(payloads.SubscriptionResumed, None, "A cancellation at period end was undone."),
    EventType.EXTENDED: EventSpec(
        payloads.SubscriptionExtended, None, "An operator extended the current period as goodwill."
    ),
    EventType.TOPPED_UP: EventSpec(
        payloads.SubscriptionToppedUp, NotificationKind.RECEIPT, "Data was added to the current period."
    ),
    EventType.PAYMENT_REFUNDED: EventSpec(
        payloads.PaymentRefunded, NotificationKind.RECEIPT, "A payment was refunded."
    ),
}

# event type -> the customer's notice kind (None: webhooks only)
EVENT_KINDS: dict[str, NotificationKind | None] = {event_type: spec.kind for event_type, spec in SPECS.items()}


def notice_kind(event_type: str) -> NotificationKind | None:
    return EVENT_KINDS.get(event_type)


# Only the customer can answer their bank (3-D Secure), and the plan ends if they do not: a renewal
# failed for that goes by email and SMS whatever the defaults say (a channel turned off stays off).
BANK_CHECK_CHANNELS = frozenset({"email", "sms"})


def fixed_channels(event_type: str, payload: Mapping[str, object] | None = None) -> frozenset[str] | None:
    """The customer channels this event always takes (None: the customer's choices)."""
    spec = SPECS.get(event_type)  # type: ignore[call-overload]  # an unknown type has no spec
    if spec is None:
        return None
    if event_type == EventType.RENEWAL_FAILED and (payload or {}).get("action") == "confirm_payment":
        return BANK_CHECK_CHANNELS
    return spec.channels


# --- holding payloads to their shapes ---------------------------------------------------------------------


class PayloadMismatch(TypeError):
    """A payload that is not its event type's shape (a missing, extra or wrongly typed field)."""


Check = Callable[[object], bool]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_for(annotation: Any) -> Check:
    """A predicate accepting exactly the values `annotation` describes (as builders write them)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _check_for(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        options = [_check_for(option) for option in get_args(annotation)]
        return lambda value: any(check(value) for check in options)
    if origin is Literal:
        allowed = frozenset(get_args(annotation))
        return lambda value: isinstance(value, str | int) and value in allowed
    if annotation is type(None):
        return lambda value: value is None
    if annotation is int:
        return _is_int
    if is_typeddict(annotation):
        shape = _shape(annotation)
        return lambda value: isinstance(value, dict) and not shape.problems(value)
    if annotation in (str, bool, datetime):
        return lambda value: isinstance(value, annotation)
    raise TypeError(f"no check for payload fields of type {annotation!r}")


@dataclass(frozen=True, slots=True)
class Shape:
    keys: frozenset[str]
    checks: tuple[tuple[str, Check], ...]

    def problems(self, data: Mapping[str, object]) -> list[str]:
        found: list[str] = []
        if data.keys() != self.keys:
            missing, extra = sorted(self.keys - data.keys()), sorted(data.keys() - self.keys)
            found += [f"missing {', '.join(missing)}"] if missing else []
            found += [f"unexpected {', '.join(extra)}"] if extra else []
            return found
        return [f"{key} is {data[key]!r}" for key, check in self.checks if not check(data[key])]


def _shape(payload: type) -> Shape:
    hints = get_type_hints(payload, include_extras=True)
    return Shape(frozenset(hints), tuple((key, _check_for(hint)) for key, hint in hints.items()))


SHAPES: dict[str, Shape] = {event_type: _shape(spec.payload) for event_type, spec in SPECS.items()}


def payload_fields(event_type: str) -> frozenset[str]:
    """The field names of `event_type`'s payload (none for a type that is not one)."""
    shape = SHAPES.get(event_type)
    return shape.keys if shape is not None else frozenset()


def payload_problems(event_type: str, data: Mapping[str, object]) -> list[str]:
    """What is wrong with `data` as a payload of `event_type` (nothing: an empty list)."""
    shape = SHAPES.get(event_type)
    if shape is None:
        return [f"{event_type!r} is not an event type"]
    return shape.problems(data)


# --- the JSON Schema of each payload (the webhook documentation) -----------------------------------------


def _schema_for(annotation: Any) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *marks = get_args(annotation)
        schema = _schema_for(base)
        for mark in marks:
            schema.update(_MARKS[mark])
        return schema
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_for(option) for option in get_args(annotation)]}
    if origin is Literal:
        return {"enum": list(get_args(annotation))}
    if is_typeddict(annotation):
        return _object_schema(annotation)
    simple: dict[Any, dict[str, Any]] = {
        type(None): {"type": "null"},
        int: {"type": "integer"},
        str: {"type": "string"},
        bool: {"type": "boolean"},
        datetime: {"type": "string", "format": "date-time"},
    }
    return dict(simple[annotation])


# What the marks of `Annotated` payload fields (notifications.payloads) add to their schema.
_MARKS: dict[str, dict[str, Any]] = {
    "date-time": {"format": "date-time"},
    "failure-code": {
        "description": "Why the payment failed: one of the codes in `examples`, or the payment provider's own.",
        "examples": [code.value for code in FailureCode],
    },
}


def _object_schema(payload: type) -> dict[str, Any]:
    hints = get_type_hints(payload, include_extras=True)
    schema: dict[str, Any] = {
        "type": "object",
        "required": sorted(hints),
        "properties": {key: _schema_for(hint) for key, hint in hints.items()},
    }
    if payload.__doc__ and payload.__doc__ != _DEFAULT_TYPEDDICT_DOC:
        schema["description"] = " ".join(payload.__doc__.split())
    return schema


_DEFAULT_TYPEDDICT_DOC = dict.__doc__


def payload_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of `event_type`'s payload as built; sending adds `event_id`,
    `customer_id`, `subscription_id` and `sequence` around it."""
    return _object_schema(SPECS[EventType(event_type)].payload)
