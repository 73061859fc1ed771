"""Query helpers for the hot paths, where PostgreSQL offers a cheaper form than the portable one."""

import contextlib
import datetime as dt
import time
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal

from django.db import connection, models
from django.db.models import Lookup, Q
from django.db.models.fields.files import FieldFile
from psycopg.types.json import Jsonb


class _Values:
    """The values of a `one_of` on PostgreSQL, kept out of the ORM's way: it walks (and rebuilds) a list given to
    a lookup value by value, which a thousand message ids make a millisecond."""

    __slots__ = ("values",)

    def __init__(self, values: Collection):
        self.values = values


@models.Field.register_lookup
class AnyOf(Lookup):
    """`field = ANY(%s::type[])` with one array parameter (PostgreSQL only), sent as an array literal: a 1,000-value
    IN list costs the driver 1,000 placeholders to parse and bind, and a list parameter 1,000 values to adapt one by
    one in Python; the literal is one join."""

    lookup_name = "any_of"
    prepare_rhs = False  # the right-hand side is a list, passed whole as one array parameter

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs.values if isinstance(self.rhs, _Values) else self.rhs
        db_type = self.lhs.output_field.cast_db_type(connection)
        if db_type is None:
            return f"{lhs} = ANY(%s)", [*lhs_params, list(values)]
        return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, array_literal(values)]


def one_of(field: str, values: Collection) -> Q:
    """`field IN values`, as `= ANY(array)` on PostgreSQL."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__any_of": _Values(list(values))})
    return Q(**{f"{field}__in": list(values)})


def array_literal(values: Iterable) -> str:
    """A PostgreSQL array literal of the values (numbers, dates, strings: each quoted, backslash and double quote
    escaped), to bind as one text parameter cast to its array type: psycopg adapts a list of a thousand values one
    by one in Python, this is one join."""
    values = values if isinstance(values, list | tuple) else list(values)
    if values and None not in values:
        first = type(values[0])
        if first is int and all(type(v) is int for v in values):
            return "{" + ",".join(map(str, values)) + "}"
        if first in (str, dt.date) and all(type(v) is first for v in values):
            joined = '","'.join(map(str, values))
            if joined.count('"') == 2 * (len(values) - 1) and "\\" not in joined:  # nothing to escape: one join
                return '{"' + joined + '"}'
    return "{" + ",".join([_array_element(value) for value in values]) + "}"


def _array_element(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def ids_reserve(model, count: int) -> list[int]:
    """Draw `count` ids from the table's sequence (PostgreSQL), so rows referencing them can be written first, or
    the rows themselves streamed with COPY (foreign keys are checked at commit)."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(model, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Stream rows (values in `columns` order) into the model's table with PostgreSQL's COPY: on the hot paths,
    building model instances and binding thousands of parameters costs more than the database's own work.
    A failure (a concurrent duplicate, say) surfaces as Django's exception, e.g. IntegrityError."""
    json_columns = _json_columns(model)
    json = [column in json_columns for column in columns]
    # Rows of plain values (no JSON, no file field: usage rows, ledger entries) go to psycopg as they are.
    plain = not json_columns and not any(isinstance(f, models.FileField) for f in model._meta.concrete_fields)
    statement = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, _copy(cursor, statement) as copy:
        for row in rows:
            copy.write_row(row if plain else [_db_value(v, is_json) for v, is_json in zip(row, json, strict=True)])


def copy_text(model, columns: Sequence[str], text: str) -> None:
    """COPY rows already formatted as COPY's text format (a line each, values in `columns` order, escaped) into the
    model's table: the hot path formats its rows in one step each, which costs less than psycopg's adaptation of
    every value. A failure (a concurrent duplicate, say) surfaces as Django's exception, e.g. IntegrityError."""
    statement = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, _copy(cursor, statement) as copy:
        copy.write(text)


def copy_escaped(text: str) -> str:
    """Text as a field of COPY's text format: backslash, tab, newline and carriage return escaped."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_rows_new_only(model, columns: Sequence[str], rows: Sequence[Sequence] | str, *, unique: str) -> list:
    """Insert rows (PostgreSQL), skipping those whose `unique` column value already exists or is being written by
    a concurrent transaction (PostgreSQL waits for it to end: skipped if it commits, written if it rolls back);
    the `unique` values written, in `unique` order. The rows are streamed with COPY into a temporary table of the
    same columns (created once per connection, emptied at each commit) and moved with one INSERT … SELECT … ON
    CONFLICT DO NOTHING in `unique` order, so concurrent writers of overlapping rows wait on each other in one
    order, never in a cycle. COPY sends the values as text in one stream: binding them as arrays (the unnest
    INSERT this replaces) cost the driver more than the database's own work. `rows` may be COPY's text already
    (as for `copy_text`)."""
    if not rows:
        return []
    table = model._meta.db_table
    staging = f"_staging_{table}"
    listed = ", ".join(columns)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "  # noqa: S608 -- model names
            f"SELECT {listed} FROM {table} WITH NO DATA"
        )
        with _copy(cursor, f"COPY {staging} ({listed}) FROM STDIN") as copy:
            if isinstance(rows, str):
                copy.write(rows)
            else:
                for row in rows:
                    copy.write_row(row)
        cursor.execute(
            f"WITH moved AS (DELETE FROM {staging} RETURNING *) "  # noqa: S608 -- model names
            f"INSERT INTO {table} ({listed}) SELECT {listed} FROM moved ORDER BY {unique} "
            f"ON CONFLICT ({unique}) DO NOTHING RETURNING {unique}"
        )
        return [row[0] for row in cursor.fetchall()]


def copy_objects(model, objects: list, columns: Sequence[str]) -> None:
    """COPY model instances: those without an id get one from the sequence, and all are marked saved."""
    for obj, object_id in zip(
        (o for o in objects if o.id is None), ids_reserve(model, sum(o.id is None for o in objects)), strict=True
    ):
        obj.id = object_id
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias
    copy_rows(model, ["id", *columns], ([obj.id, *(getattr(obj, c) for c in columns)] for obj in objects))


@contextlib.contextmanager
def _copy(cursor, statement: str):
    """psycopg's COPY, logged like any other statement where Django logs queries (DEBUG, CaptureQueriesContext):
    a COPY is a round trip, and the tests that count a batch's queries must see it."""
    started = time.monotonic()
    try:
        with cursor.cursor.copy(statement) as copy:
            yield copy
    finally:  # a COPY the database refused was a round trip too
        if connection.queries_logged:
            connection.queries_log.append({"sql": statement, "time": f"{time.monotonic() - started:.3f}"})


def _json_columns(model) -> set[str]:
    return {field.column for field in model._meta.fields if isinstance(field, models.JSONField)}


def _db_value(value, is_json: bool):
    if is_json:
        return Jsonb(value)
    if isinstance(value, FieldFile):
        return value.name or ""
    return value
