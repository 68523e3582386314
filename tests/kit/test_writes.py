"""Single-row writes of the hot request paths (kit.writes) follow the ORM's rules: `insert` writes
the row `save()` writes, with the fields' `pre_save()` (what `auto_now` hangs on) and the model's
signals, and hands a model with a `save()` of its own to that `save()`; `update` changes what
`QuerySet.update()` changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.forms.models import model_to_dict

from simrenew.audit.models import AuditEntry
from simrenew.kit import writes
from simrenew.notifications.models import OutboxMessage, OutboxStatus
from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def outbox_message(clock: Any, **changes: Any) -> OutboxMessage:
    fields = {
        "event_type": "customer.created",
        "customer": make_customer(),
        "payload": {"customer_id": 7},
        "next_attempt_at": clock.now(),
        "created_at": clock.now(),
    }
    return OutboxMessage(**(fields | changes))


def stored(instance: Model) -> dict[str, Any]:
    fresh = type(instance)._default_manager.get(pk=instance.pk)
    return {name: value for name, value in model_to_dict(fresh).items() if name not in ("id", "event_id")}


def test_an_inserted_row_is_the_row_save_writes(clock):
    saved = outbox_message(clock)
    saved.save(force_insert=True)

    inserted = writes.insert(outbox_message(clock, customer=saved.customer))

    assert inserted.pk is not None and inserted.pk != saved.pk
    assert (inserted._state.adding, inserted._state.db) == (False, "default")
    assert stored(inserted) == stored(saved)
    assert stored(inserted)["status"] == OutboxStatus.PENDING  # the field's default, as save() writes it


def test_each_field_prepares_its_value_on_the_way_in_as_auto_now_does(clock, monkeypatch):
    field = OutboxMessage._meta.get_field("created_at")
    stamped = clock.now() + timedelta(minutes=5)
    monkeypatch.setattr(field, "pre_save", lambda instance, add: stamped if add else None)

    message = writes.insert(outbox_message(clock))

    assert OutboxMessage.objects.get(pk=message.pk).created_at == stamped


def test_the_model_signals_are_sent_around_the_insert(clock):
    heard: list[tuple[object, ...]] = []

    def before(sender: type[Model], instance: OutboxMessage, **kwargs: Any) -> None:
        instance.payload = {"stamped": True}
        heard.append(("pre_save", instance.pk))

    def after(sender: type[Model], instance: OutboxMessage, created: bool, **kwargs: Any) -> None:
        heard.append(("post_save", instance.pk, created))

    message = outbox_message(clock)  # its customer's own event is written first, unheard
    pre_save.connect(before, sender=OutboxMessage)
    post_save.connect(after, sender=OutboxMessage)
    try:
        writes.insert(message)
    finally:
        pre_save.disconnect(before, sender=OutboxMessage)
        post_save.disconnect(after, sender=OutboxMessage)

    assert heard == [("pre_save", None), ("post_save", message.pk, True)]
    assert OutboxMessage.objects.get(pk=message.pk).payload == {"stamped": True}


def test_a_model_with_a_save_of_its_own_is_saved_by_it(clock, monkeypatch):
    calls = []
    own_save = AuditEntry.save

    def spy(self: AuditEntry, *args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)
        own_save(self, *args, **kwargs)

    monkeypatch.setattr(AuditEntry, "save", spy)

    entry = writes.insert(AuditEntry(at=clock.now(), actor_label="worker", action="change", target_type="x.y"))

    assert calls == [{"force_insert": True}]
    assert AuditEntry.objects.get(pk=entry.pk).actor_label == "worker"


def test_a_duplicate_is_an_integrity_error_that_spoils_the_transaction_as_after_save(clock):
    message = writes.insert(outbox_message(clock))

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            writes.insert(outbox_message(clock, event_id=message.event_id, customer=message.customer))
        assert transaction.get_rollback()


def test_an_update_changes_what_queryset_update_changes_and_no_more(clock):
    message = writes.insert(outbox_message(clock))
    later = clock.now() + timedelta(hours=1)

    missed = writes.update(OutboxMessage, message.pk, {"attempts": 3}, where={"status": [OutboxStatus.DISPATCHED]})
    changed = writes.update(
        OutboxMessage, message.pk, {"attempts": 2, "next_attempt_at": later}, where={"status": OutboxStatus.PENDING}
    )

    assert (missed, changed) == (0, 1)
    fresh = OutboxMessage.objects.get(pk=message.pk)
    assert (fresh.attempts, fresh.next_attempt_at, fresh.status) == (2, later, OutboxStatus.PENDING)


def test_an_expression_is_left_to_the_orm_which_compiles_it(clock):
    from django.db.models import F, Value
    from django.db.models.functions import Upper

    message = writes.insert(outbox_message(clock, attempts=Value(2), last_error=Upper(Value("timeout"))))
    row = OutboxMessage.objects.get(pk=message.pk)
    assert (row.attempts, row.last_error) == (2, "TIMEOUT")

    changed = writes.update(
        OutboxMessage, message.pk, {"attempts": F("attempts") + 1}, where={"status": [OutboxStatus.PENDING]}
    )
    missed = writes.update(OutboxMessage, message.pk, {"attempts": F("attempts") + 1}, where={"status": "dead"})
    assert (changed, missed) == (1, 0)
    assert OutboxMessage.objects.get(pk=message.pk).attempts == 3
