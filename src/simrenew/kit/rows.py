"""Many rows at once, for the worker's bulk paths only (auto-renew batches, the
outbox's batch of events, the gateway ledger of a batch): multi-row INSERTs or
COPY, UPDATE … FROM, binary reads.

These write around the ORM: no `save()`, no signals, no `auto_now`, no field
defaults; values get the model fields' own conversions (`get_db_prep_save`),
and statement text is cached per model and column set. That is worth it only
where a batch writes thousands of rows; a single request writes through the
ORM, so whatever a model's `save()` does still happens
(`tests/kit/test_rows.py` keeps the importers of this module to the bulk path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache, partial
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


# Values of these fields pass to the driver unchanged, so the per-field adaptation
# (the costliest part of a write) is skipped for them.
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

# Rows per multi-row INSERT: SQLite allows 32,766 parameters per statement (since 3.32).
_MAX_PARAMS = 30_000
_MAX_ROWS = 1_000


def among(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`column IN (…)` as SQL and its parameters. PostgreSQL gets one array
    parameter (`= ANY(%s)`): a statement with thousands of placeholders costs
    more to build and parse than to run."""
    if _connection().vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # What Django stores on SQLite with USE_TZ: naive UTC text.
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


@cache
def _adapters(
    model: type[Model], names: tuple[str, ...], vendor: str
) -> tuple[Callable[[Any], Any] | Field | None, ...]:
    """Per column, how a Python value becomes a driver value, decided once per
    model and column set: None where the driver takes the value as it is, a
    field where the field's own conversion is needed (JSON, UUID, …)."""
    adapters: list[Callable[[Any], Any] | Field | None] = []
    for name in names:
        field = _concrete(model, name)
        kind = field.get_internal_type()
        if kind == "DateTimeField":
            adapters.append(_sqlite_datetime if vendor == "sqlite" else None)
        elif kind in _PLAIN_FIELDS:
            adapters.append(None)
        else:
            adapters.append(field)
    return tuple(adapters)


def _bound_adapters(
    model: type[Model], names: tuple[str, ...], connection: BaseDatabaseWrapper
) -> tuple[Callable[[Any], Any] | None, ...]:
    """`_adapters` with the fields' conversions bound to this call's connection
    (looked up once per call: per value it was a tenth of a batch's writes)."""
    return tuple(
        partial(adapt.get_db_prep_save, connection=connection) if isinstance(adapt, Field) else adapt
        for adapt in _adapters(model, names, connection.vendor)
    )


def insert_many(
    model: type[M], names: Sequence[str], values: Sequence[Sequence[Any]], *, returning: bool = True
) -> list[int]:
    """INSERT many rows in few statements and return their primary keys in
    order. `names` are column attnames (customer_id, not customer); every column
    without a database default must be given. No model instances are built.

    PostgreSQL COPYs the rows (several times faster than any INSERT), taking
    their ids from the table's sequence first when they are wanted; SQLite gets
    multi-row INSERTs. Without `returning`, the result is empty."""
    if not values:
        return []
    connection = _connection()
    key = tuple(names)
    fields, columns = _fields(model, key, connection.vendor)
    adapters = _bound_adapters(model, key, connection)
    table = connection.ops.quote_name(model._meta.db_table)
    if connection.vendor == "postgresql":
        types = _copy_types(model, key)
        return _copy_in(table, columns, types, adapters, values, returning=returning)
    per_statement = max(1, min(_MAX_ROWS, _MAX_PARAMS // len(fields)))
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            params: list[Any] = []
            for row in chunk:
                params.extend(v if adapt is None else adapt(v) for adapt, v in zip(adapters, row, strict=True))
            marks = ", ".join([row_marks] * len(chunk))
            returns = " RETURNING id" if returning else ""
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {marks}{returns}", params)  # noqa: S608
            if returning:
                ids.extend(int(row[0]) for row in cursor.fetchall())
    return ids


@cache
def _copy_types(model: type[Model], names: tuple[str, ...]) -> tuple[str, ...]:
    """The PostgreSQL type of each column, for a binary COPY: the server reads
    binary values without parsing text (dates and numbers cost it most), and the
    driver writes them without formatting text. Type modifiers (varchar(200))
    are dropped: the server checks lengths on the way in all the same."""
    connection = _connection()
    return tuple(str(_concrete(model, name).db_type(connection)).split("(")[0] for name in names)


_ID_SEQUENCES: dict[tuple[str, str], str] = {}


def _id_sequence(table: str) -> str:
    """The sequence behind a table's id, looked up once per database: asked for in the
    statement that takes the ids, the lookup ran once per id and cost eight times the
    `nextval`."""
    connection = _connection()
    key = (str(connection.settings_dict["NAME"]), table)
    if key not in _ID_SEQUENCES:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table.strip('"')])
            _ID_SEQUENCES[key] = str(cursor.fetchone()[0])
    return _ID_SEQUENCES[key]


def _copy_in(
    table: str,
    columns: str,
    types: tuple[str, ...],
    adapters: tuple[Callable[[Any], Any] | None, ...],
    values: Sequence[Sequence[Any]],
    *,
    returning: bool,
) -> list[int]:
    # Columns that need a conversion (JSON, UUID, …); the others go to the driver as they are.
    converted = [(i, adapt) for i, adapt in enumerate(adapters) if adapt is not None]
    connection = _connection()
    # COPY goes to the driver's cursor directly, past Django's error translation: put it
    # back, so a duplicate key is an IntegrityError here as after any other INSERT.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        ids: list[int] = []
        if returning:
            cursor.execute(
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [_id_sequence(table), len(values)]
            )
            ids = [int(row[0]) for row in cursor.fetchall()]
            columns, types = f"id, {columns}", ("bigint", *types)
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(types))
            for n, row in enumerate(values):
                out = [ids[n], *row] if returning else list(row)
                shift = 1 if returning else 0
                for i, adapt in converted:
                    out[i + shift] = adapt(out[i + shift])
                copy.write_row(out)
    return ids if returning else []


def update_many(
    model: type[M],
    names: Sequence[str],
    values: Sequence[Sequence[Any]],
    *,
    where_in: dict[str, list[Any]] | None = None,
) -> set[int]:
    """UPDATE many rows by primary key in one statement per chunk (UPDATE … FROM
    (VALUES …)): each row of `values` is the new values of `names` followed by
    the row's id. With `where_in`, only rows whose column holds one of the given
    values change. Returns the ids of the rows that changed."""
    if not values:
        return set()
    connection = _connection()
    key = tuple(names)
    fields, _ = _fields(model, key, connection.vendor)
    adapters = (*_bound_adapters(model, key, connection), None)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    conditions: list[str] = []
    condition_params: list[Any] = []
    for name, allowed in (where_in or {}).items():
        field = _concrete(model, name)
        sql, params = among(
            f"{table}.{quote(str(field.column))}", [field.get_db_prep_value(v, connection) for v in allowed]
        )
        conditions.append(sql)
        condition_params.extend(params)
    if connection.vendor == "postgresql":
        return _update_from_arrays(table, fields, adapters, values, conditions, condition_params)
    # SQLite names VALUES columns column1, column2, …
    row_marks = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    aliases = [f"column{i + 1}" for i in range(len(fields))]
    assignments = ", ".join(f"{quote(str(f.column))} = v.{a}" for f, a in zip(fields, aliases, strict=True))
    conditions.insert(0, f"{table}.id = v.column{len(fields) + 1}")
    per_statement = max(1, min(_MAX_ROWS, _MAX_PARAMS // (len(fields) + 1)))
    changed: set[int] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            params = [v if adapt is None else adapt(v) for row in chunk for adapt, v in zip(adapters, row, strict=True)]
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row_marks] * len(chunk))}) AS v"  # noqa: S608
                f" WHERE {' AND '.join(conditions)} RETURNING {table}.id",
                params + condition_params,
            )
            changed.update(int(row[0]) for row in cursor.fetchall())
    return changed


def _update_from_arrays(
    table: str,
    fields: tuple[Field[Any, Any], ...],
    adapters: tuple[Callable[[Any], Any] | None, ...],
    values: Sequence[Sequence[Any]],
    conditions: list[str],
    condition_params: list[Any],
) -> set[int]:
    """PostgreSQL: one parameter per column, an array of every row's value,
    joined back into rows by unnest()."""
    connection = _connection()
    quote = connection.ops.quote_name
    columns: list[list[Any]] = [[] for _ in range(len(fields) + 1)]
    for row in values:
        for column, adapt, value in zip(columns, adapters, row, strict=True):
            column.append(value if adapt is None else adapt(value))
    # %b: binary arrays, which the driver writes and the server reads without text formatting and parsing.
    arrays = ", ".join([f"%b::{f.db_type(connection)}[]" for f in fields] + ["%b::bigint[]"])
    aliases = [f"v{i}" for i in range(len(fields))]
    assignments = ", ".join(f"{quote(str(f.column))} = v.{a}" for f, a in zip(fields, aliases, strict=True))
    where = " AND ".join([f"{table}.id = v.id", *conditions])
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(aliases)}, id)"  # noqa: S608
        f" WHERE {where} RETURNING {table}.id"
    )
    # Django's cursor binds on the client: every array would become a quoted text
    # literal that the server parses back. The driver's cursor sends them as binary.
    return {int(row[0]) for row in fetch_binary(sql, [*columns, *condition_params])}


def fetch_binary(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """(PostgreSQL) Run `sql` with its parameters sent apart and its rows returned in
    binary, through the driver's own cursor on Django's connection (same transaction):
    the driver's C code then reads timestamps and numbers, where Django's timestamp
    loader parses text in Python (a few microseconds a value, on every row of a batch).
    Timestamps come back in UTC, the connection's time zone. The statement runs inside
    Django's cursor wrapper, so it is still counted and logged like any other."""
    import psycopg  # only with PostgreSQL
    from psycopg.pq import Format

    with _connection().cursor() as cursor:
        raw = cursor.cursor
        with psycopg.Cursor(raw.connection) as driver:
            driver.format = Format.BINARY  # results in binary (Django's wrapper cannot pass `binary=True`)
            cursor.cursor = driver
            try:
                cursor.execute(sql, params)
                return list(driver.fetchall()) if driver.description else []
            finally:
                cursor.cursor = raw
