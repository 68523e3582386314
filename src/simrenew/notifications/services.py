"""The outbox: events written in the caller's transaction, delivered later by the worker.

Each event of a subscription gets the subscription's next event number (`sequence`:
1, 2, 3, … without gaps) from a counter row bumped in the same transaction. The bump
holds that row's lock until the transaction ends, so a subscription's events are
numbered, and given ids, in the order they commit: receivers order by it and can tell
when one is missing.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model

from simrenew.customers.models import Customer
from simrenew.kit import clock, rows, tracing, writes
from simrenew.notifications.events import PayloadMismatch, payload_fields, payload_problems
from simrenew.notifications.models import OutboxMessage, OutboxStatus
from simrenew.webhooks.models import EventCounter

# Rows per counter upsert: well under SQLite's and PostgreSQL's bound-parameter limits.
_COUNTER_CHUNK = 5000

log = logging.getLogger(__name__)


def _hold_to_shape(event_type: str, data: Mapping[str, Any]) -> None:
    """A payload that is not its event type's shape is a bug in its builder: refused in the
    sandbox (and so in every test); in live mode logged, never lost with the change it reports."""
    problems = payload_problems(event_type, data)
    if not problems:
        return
    if settings.SIMRENEW_SANDBOX:
        raise PayloadMismatch(f"{event_type} payload: {'; '.join(problems)}")
    log.error("event=payload_mismatch type=%s problems=%r", event_type, problems)


def emit(
    event_type: str,
    *,
    customer: Customer | None,
    subscription: Model | None = None,  # a subscriptions.Subscription (notifications do not import subscriptions)
    subscription_id: int | None = None,
    data: Mapping[str, Any],
) -> OutboxMessage:
    """Record an event (its payload built by `notifications.payloads`). Its `sequence` is the
    subscription's next event number."""
    _hold_to_shape(event_type, data)
    now = clock.now()
    if subscription is not None:
        subscription_id = subscription.pk
    sequence = next_numbers({subscription_id: 1})[subscription_id] if subscription_id is not None else 0
    message = OutboxMessage(
        event_type=event_type,
        customer=customer,
        subscription_id=subscription_id,
        sequence=sequence,
        payload=data,
        next_attempt_at=now,
        created_at=now,
        traceparent=tracing.current_traceparent(),
    )
    writes.insert(message)
    return message


@dataclass(frozen=True, slots=True)
class Event:
    event_type: str
    customer_id: int | None
    subscription_id: int | None
    data: Mapping[str, Any]


def emit_many(events: Sequence[Event], *, sequences: Sequence[int] | None = None) -> None:
    """`emit` for a batch (the worker's bulk renewals): one counter upsert and one INSERT,
    no model instances. Events of one subscription are numbered in the batch's order.
    `sequences`, from `take_sequences` earlier in the same transaction, are the numbers
    the events take (the caller had them bumped before a lock it would rather hold briefly)."""
    # The first event of each type in full; the rest only by their field names (one set
    # comparison a row: one builder made a batch's events of a type), in full when they differ.
    field_names: dict[str, frozenset[str]] = {}
    for event in events:
        names = field_names.get(event.event_type)
        if names is None or event.data.keys() != names:
            _hold_to_shape(event.event_type, event.data)
            field_names.setdefault(event.event_type, payload_fields(event.event_type))
    now = clock.now()
    if sequences is None:
        sequences = take_sequences([e.subscription_id for e in events])
    traceparent = tracing.current_traceparent()  # the batch's span, if one is recording
    rows.insert_many(
        OutboxMessage,
        (
            "event_id",
            "event_type",
            "customer_id",
            "subscription_id",
            "sequence",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
            "traceparent",
        ),
        [
            (
                uuid.uuid4(),
                e.event_type,
                e.customer_id,
                e.subscription_id,
                sequence,
                e.data,
                OutboxStatus.PENDING.value,
                0,
                now,
                "",
                now,
                traceparent,
            )
            for e, sequence in zip(events, sequences, strict=True)
        ],
        returning=False,
    )


def take_sequences(subscription_ids: Sequence[int | None]) -> list[int]:
    """The event numbers of a batch of events, one per event of the given subscription (0 for
    an event of none), taken from the counters in one upsert; a subscription's events in
    the batch are numbered in the order given."""
    wanted = Counter(sid for sid in subscription_ids if sid is not None)
    last = next_numbers(wanted)
    # The next number each subscription's events in this batch take.
    taken = {sid: last[sid] - count + 1 for sid, count in wanted.items()}
    sequences = []
    for sid in subscription_ids:
        if sid is None:
            sequences.append(0)
            continue
        sequences.append(taken[sid])
        taken[sid] += 1
    return sequences


def next_numbers(wanted: Mapping[int, int]) -> dict[int, int]:
    """Take `wanted[subscription_id]` event numbers for each subscription; returns the last
    number taken for each. One upsert per chunk (ON CONFLICT … RETURNING: SQLite 3.35+ and
    PostgreSQL), in subscription order so that concurrent batches lock rows in one order."""
    table = connection.ops.quote_name(EventCounter._meta.db_table)
    items = sorted(wanted.items())
    last: dict[int, int] = {}
    upsert = f" ON CONFLICT (subscription_id) DO UPDATE SET last_value = {table}.last_value + excluded.last_value"
    if connection.vendor == "postgresql":
        # Two array parameters instead of thousands of placeholders: the worker's renewal batches
        # call this once per batch, and building and parsing the long statement cost more than it.
        sql = (
            f"INSERT INTO {table} (subscription_id, last_value)"  # noqa: S608 (table from the model)
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS wanted ORDER BY 1"
            f"{upsert} RETURNING subscription_id, last_value"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [[sid for sid, _ in items], [count for _, count in items]])
            last.update((int(sid), int(value)) for sid, value in cursor.fetchall())
        return last
    for start in range(0, len(items), _COUNTER_CHUNK):
        chunk = items[start : start + _COUNTER_CHUNK]
        values = ", ".join(["(%s, %s)"] * len(chunk))
        sql = (
            f"INSERT INTO {table} (subscription_id, last_value) VALUES {values}"  # noqa: S608 (table from the model)
            f"{upsert} RETURNING subscription_id, last_value"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for pair in chunk for value in pair])
            last.update((int(sid), int(value)) for sid, value in cursor.fetchall())
    return last
