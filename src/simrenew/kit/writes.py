"""Single-row writes on the hot single-request paths (a renewal writes five rows and
changes two), through the ORM's rules with the statement's text built once per model.

The ORM compiles every INSERT and UPDATE from scratch; on the renewal path that
compiling cost a third of the renewal (benchmarks/renewals.py, entry 1). These two
do what the ORM does and keep only the text:

- `insert(instance)` is `instance.save(force_insert=True)`: every field's `pre_save()`
  runs (so `auto_now`, `auto_now_add` and defaults hold), values get the fields' own
  `get_db_prep_save()`, the `pre_save`/`post_save` signals are sent and the instance's
  `_state` is set, and the columns the database fills in (the id, generated columns)
  are read back. A model that overrides `save()`, inherits a concrete parent, makes its
  own ids, keeps an order or has database defaults is handed to `save()` itself, and so is
  an instance holding an expression (`Now()`, `F(…)`), which only the ORM compiles.
- `update(model, pk, values, …)` is `model.objects.filter(pk=pk, …).update(…)`, which (like
  this) calls no `save()` and sends no signals; a value that is an expression is handed to
  `QuerySet.update()` itself.

The worker's batches use `kit.rows`, which writes around all of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Field, Model
from django.db.models.expressions import Col
from django.db.models.fields import NOT_PROVIDED
from django.db.models.signals import post_save, pre_save

M = TypeVar("M", bound=Model)

_AUTO_IDS = frozenset({"AutoField", "BigAutoField", "SmallAutoField"})


def insert(instance: M) -> M:
    """Save `instance` as a new row, as `instance.save(force_insert=True)` does, and return it."""
    model = type(instance)
    if not _saved_by_django(model) or instance.pk is not None:
        instance.save(force_insert=True)
        return instance
    using = DEFAULT_DB_ALIAS
    connection = connections[using]
    fields, returned, sql = _insert_statement(model, connection.vendor)
    if any(_is_expression(getattr(instance, field.attname)) for field in fields):
        instance.save(force_insert=True)
        return instance
    # save()'s own check that related objects are saved (and their ids copied): not in the stubs.
    instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    if pre_save.has_listeners(model):
        pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=None)
    params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = cursor.fetchone()
    for (column, converters), value in zip(returned, values, strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        setattr(instance, column.target.attname, value)
    instance._state.adding = False
    instance._state.db = using
    if post_save.has_listeners(model):
        post_save.send(sender=model, instance=instance, created=True, update_fields=None, raw=False, using=using)
    return instance


def update(model: type[Model], pk: Any, values: Mapping[str, Any], *, where: Mapping[str, Any] | None = None) -> int:
    """`model.objects.filter(pk=pk, **where).update(**values)` for plain values, `where` by
    equality (a list or tuple: one of its values). Returns how many rows changed (0 or 1)."""
    if any(_is_expression(value) for value in values.values()):
        lookups = {f"{name}__in" if isinstance(v, (list, tuple)) else name: v for name, v in (where or {}).items()}
        return int(model._default_manager.filter(pk=pk, **lookups).update(**values))
    connection = connections[DEFAULT_DB_ALIAS]
    conditions = tuple((name, len(v) if isinstance(v, (list, tuple)) else None) for name, v in (where or {}).items())
    assigned, tested, sql = _update_statement(model, tuple(values), conditions, connection.vendor)
    params = [field.get_db_prep_save(value, connection) for field, value in zip(assigned, values.values(), strict=True)]
    params.append(pk)
    for field, value in zip(tested, (where or {}).values(), strict=True):
        if isinstance(value, (list, tuple)):
            params.extend(field.get_db_prep_value(v, connection) for v in value)
        else:
            params.append(field.get_db_prep_value(value, connection))
    with transaction.mark_for_rollback_on_error(DEFAULT_DB_ALIAS), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _is_expression(value: object) -> bool:
    """`F(…)`, `Now()`, a subquery…: compiled by the ORM, not sent as a parameter."""
    return hasattr(value, "resolve_expression")


@cache
def _saved_by_django(model: type[Model]) -> bool:
    """Whether saving this model is Django's own `save()` writing one row of one table, with
    a database-made id and nothing else for the database to default."""
    meta = model._meta
    own_save = model.save is Model.save and model.save_base is Model.save_base
    auto_id = meta.pk is not None and meta.pk.get_internal_type() in _AUTO_IDS
    plain = not meta.parents and not meta.order_with_respect_to
    return own_save and auto_id and plain and all(f.db_default is NOT_PROVIDED for f in meta.local_concrete_fields)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


@cache
def _insert_statement(
    model: type[Model], vendor: str
) -> tuple[tuple[Field[Any, Any], ...], tuple[tuple[Col, tuple[Any, ...]], ...], str]:
    """What `save()` inserts (every local concrete field but the id and generated columns),
    what it reads back with the converters the ORM would apply (SQLite's 0/1 to a boolean, …),
    and the statement, once per model and kind of database."""
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = tuple(
        f for f in meta.local_concrete_fields if isinstance(f, Field) and not f.primary_key and not f.generated
    )
    columns = ", ".join(quote(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    returned = []
    for field in meta.db_returning_fields:
        column = field.get_col(meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        returned.append((column, tuple(converters)))
    returning = ", ".join(quote(str(column.target.column)) for column, _ in returned)
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {returning}"  # noqa: S608
    return fields, tuple(returned), sql


@cache
def _update_statement(
    model: type[Model], names: tuple[str, ...], conditions: tuple[tuple[str, int | None], ...], vendor: str
) -> tuple[tuple[Field[Any, Any], ...], tuple[Field[Any, Any], ...], str]:
    """The fields set, the fields tested and the statement, once per model, column set and
    conditions (a condition's count is the length of its list, None for an equality)."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    meta = model._meta
    assigned = tuple(_field(model, name) for name in names)
    tested = tuple(_field(model, name) for name, _ in conditions)
    tests = [f"{quote(str(meta.pk.column))} = %s"]
    for field, (_, count) in zip(tested, conditions, strict=True):
        column = quote(str(field.column))
        tests.append(f"{column} = %s" if count is None else f"{column} IN ({', '.join(['%s'] * count)})")
    settings = ", ".join(f"{quote(str(f.column))} = %s" for f in assigned)
    sql = f"UPDATE {quote(meta.db_table)} SET {settings} WHERE {' AND '.join(tests)}"  # noqa: S608
    return assigned, tested, sql
