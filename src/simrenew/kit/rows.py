"""Lean single-row writes for hot paths.

`Model.objects.create()` and `QuerySet.update()` compile a query through the
ORM on every call, which costs more than the database work itself on the
renewal path (measured in benchmarks/renewals.py). These helpers write one row
with the model's own field conversions (`get_db_prep_save`), so values are
adapted exactly as the ORM would adapt them, on SQLite and PostgreSQL alike,
and cache the statement text per model and column set.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


def _connection() -> BaseDatabaseWrapper:
    # The real wrapper, not the `django.db.connection` proxy: every attribute
    # read through the proxy costs a thread-local lookup.
    return connections[DEFAULT_DB_ALIAS]


@cache
def _fields(model: type[Model], names: tuple[str, ...], vendor: str) -> tuple[tuple[Field[Any, Any], ...], str]:
    quote = _connection().ops.quote_name
    fields = tuple(_concrete(model, name) for name in names)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    return fields, columns


def _concrete(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


# Values of these types pass to the driver unchanged for these fields, so the
# per-field adaptation (the costliest part of a write) is skipped for them.
_PLAIN_FIELDS = frozenset(
    {
        "CharField",
        "SlugField",
        "EmailField",
        "TextField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "BooleanField",
        "ForeignKey",
        "OneToOneField",
        "BigAutoField",
        "AutoField",
    }
)
_PLAIN_VALUES = (str, int, bool, type(None))


def _params(
    fields: tuple[Field, ...], names: tuple[str, ...], values: dict[str, Any], connection: BaseDatabaseWrapper
) -> list[Any]:
    params = []
    for field, name in zip(fields, names, strict=True):
        value = values[name]
        if type(value) in _PLAIN_VALUES and field.get_internal_type() in _PLAIN_FIELDS:
            params.append(value)
        else:
            params.append(field.get_db_prep_save(value, connection))
    return params


def insert_row(model: type[Model], **values: Any) -> int:
    """INSERT one row and return its primary key. Field defaults are not applied:
    pass every column that has no database default."""
    connection = _connection()
    names = tuple(values)
    fields, columns = _fields(model, names, connection.vendor)
    placeholders = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(model._meta.db_table)
    params = _params(fields, names, values, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id", params)  # noqa: S608
        return int(cursor.fetchone()[0])


def update_row(model: type[Model], pk: int, *, where: dict[str, Any] | None = None, **values: Any) -> int:
    """UPDATE one row by primary key (and optional equality conditions); returns rows changed."""
    connection = _connection()
    names = tuple(values)
    fields, _ = _fields(model, names, connection.vendor)
    assignments = ", ".join(f"{connection.ops.quote_name(str(f.column))} = %s" for f in fields)
    params = _params(fields, names, values, connection)
    conditions = ["id = %s"]
    params.append(pk)
    for name, value in (where or {}).items():
        field = _concrete(model, name)
        column = connection.ops.quote_name(str(field.column))
        if isinstance(value, (list, tuple)):
            conditions.append(f"{column} IN ({', '.join(['%s'] * len(value))})")
            params.extend(field.get_db_prep_value(v, connection) for v in value)
        else:
            conditions.append(f"{column} = %s")
            params.append(field.get_db_prep_value(value, connection))
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {assignments} WHERE {' AND '.join(conditions)}", params)  # noqa: S608
        return int(cursor.rowcount)


def create(model: type[M], **values: Any) -> M:
    """`model.objects.create(**values)` on the lean path: related objects may be
    passed by name (customer=...) or by id (customer_id=...); fields not given
    take their model default, as with the ORM."""
    columns: dict[str, Any] = {}
    related: dict[str, Model] = {}
    for field in _concrete_fields(model):
        if field.name in values:
            value = values[field.name]
            if field.is_relation and isinstance(value, Model):
                related[field.name] = value
                value = value.pk
            columns[field.attname] = value
        elif field.attname in values:
            columns[field.attname] = values[field.attname]
        else:
            columns[field.attname] = field.get_default()
    pk = insert_row(model, **columns)
    instance = model(pk=pk, **columns)
    for name, value in related.items():
        setattr(instance, name, value)  # keep the loaded related object, as create() does
    instance._state.adding = False
    instance._state.db = DEFAULT_DB_ALIAS
    return instance


@cache
def _concrete_fields(model: type[Model]) -> tuple[Field[Any, Any], ...]:
    return tuple(f for f in model._meta.concrete_fields if isinstance(f, Field) and not f.primary_key)
