"""SQL text every warehouse adapter shares: table DDL, the ledger, failed events, task
grouping.

Pure functions; the dialect comes in as a ``TypeMapper`` and a placeholder style."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from playlog.avro.types import PROMOTIONS, Column
from playlog.contracts import FAILED_TABLE, LEDGER_SCHEMA, LEDGER_TABLE, CopyTask, FailedEvent
from playlog.errors import IncompatibleSchema
from playlog.names import quote, quoted_table
from playlog.warehouse.types import TypeMapper

LEDGER = f"{quote(LEDGER_SCHEMA)}.{quote(LEDGER_TABLE)}"
FAILED = f"{quote(LEDGER_SCHEMA)}.{quote(FAILED_TABLE)}"
# What the failed-events sink inserts, in this order (replayed_at is set by a load).
FAILED_INSERTED = (
    "failed_at", "stage", "game", "event_type", "schema_hash", "reason", "source", "payload",
)  # fmt: skip


def columns_sql(game_placeholder: str) -> str:
    """``{column: information_schema type}`` of one table; parameters: schema, table.
    A decimal comes as ``decimal(p,s)`` on every warehouse (PostgreSQL and Redshift
    say only ``numeric``): its precision decides whether a new version widens it."""
    p = game_placeholder
    return (
        f"SELECT column_name, {_COLUMN_TYPE} "
        f"FROM information_schema.columns WHERE {_OF_TABLE.format(p=p)}"
    )


def tables_columns_sql(count: int, placeholder: str) -> str:
    """``columns_sql`` of ``count`` tables at once, each row led by its schema and
    table; parameters: schema, table of each."""
    tables = " OR ".join([f"({_OF_TABLE.format(p=placeholder)})"] * count)
    return (
        f"SELECT table_schema, table_name, column_name, {_COLUMN_TYPE} "
        f"FROM information_schema.columns WHERE {tables}"
    )


_COLUMN_TYPE = (
    "CASE WHEN numeric_scale IS NOT NULL AND "
    "substr(lower(data_type), 1, 7) IN ('numeric', 'decimal') "
    "THEN 'decimal(' || "
    "CAST(numeric_precision AS VARCHAR(8)) || ',' || CAST(numeric_scale AS VARCHAR(8)) "
    "|| ')' ELSE data_type END"
)
_OF_TABLE = "table_schema = {p} AND table_name = {p}"


def create_table_sql(table: str, columns: Sequence[Column], types: TypeMapper) -> str:
    """CREATE TABLE for an event type: its fields (nullable, with their defaults)
    then the metadata columns. ``table`` comes quoted."""
    event_id, received_at, schema_hash = types.metadata
    parts = [types.column_sql(column) for column in columns] + [
        f'"_event_id" {event_id} NOT NULL',
        f'"_received_at" {received_at} NOT NULL',
        f'"_schema_hash" {schema_hash} NOT NULL',
    ]
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(parts) + "\n)"


def add_column_sql(table: str, column: Column, types: TypeMapper, name: str | None = None) -> str:
    """ALTER TABLE ADD COLUMN with the field's default, so rows loaded earlier read the
    default (what Avro resolution gives events still in flight). ``name`` overrides."""
    return f"ALTER TABLE {table} ADD COLUMN {types.column_sql(column, name)}"


def alter_type_sql(table: str, column: Column, types: TypeMapper) -> str:
    return f"ALTER TABLE {table} ALTER COLUMN {quote(column.name)} TYPE {types.sql_type(column)}"


# information_schema type names of the columns an Avro promotion can widen.
# information_schema type names (DuckDB, PostgreSQL, Redshift; lower case, without
# length or precision) -> the column kind whose values they hold.
_KIND_OF_SQL = {
    "boolean": "boolean",
    "integer": "int",
    "bigint": "long",
    "real": "float",
    "float": "float",
    "double": "double",
    "double precision": "double",
    "varchar": "string",
    "text": "string",
    "character varying": "string",
    "blob": "bytes",
    "bytea": "bytes",
    "varbyte": "bytes",
    "binary varying": "bytes",
    "date": "date",
    "time": "time",
    "time without time zone": "time",
    "timestamp with time zone": "timestamp",
    "timestamptz": "timestamp",
    "timestamp": "local_timestamp",
    "timestamp without time zone": "local_timestamp",
    "decimal": "decimal",
    "numeric": "decimal",
    "uuid": "uuid",
    "character": "uuid",  # Redshift's CHAR(36)
    "char": "uuid",
    "timestamp_ns": "timestamp_ns",
}
_NUMBERS = {"int", "long", "float", "double"}


def alter_plan(
    existing: Mapping[str, str], columns: Sequence[Column], types: TypeMapper
) -> tuple[list[Column], list[Column]]:
    """What brings a table with ``existing`` ``{column: SQL type}`` up to ``columns``:
    (columns to add, columns to widen along an Avro promotion or to a wider decimal).
    Nothing is ever dropped or narrowed: a table keeps every column any version had.
    A column that exists with a type its values cannot follow (left by an earlier
    version, a crash between DDL and catalog, or a hand-made change) is refused,
    naming the field."""
    add, widen = [], []
    for column in columns:
        current = existing.get(column.name)
        if current is None:
            add.append(column)
        elif _widens(current, column, types):
            widen.append(column)
    return add, widen


def _widens(current: str, column: Column, types: TypeMapper) -> bool:
    """Whether the column, held as SQL type ``current``, must widen for ``column``'s
    values; raises when they cannot go there at all."""
    held, kind = _held_kind(current), _held_kind(types.sql_type(column))
    if held is None or kind is None:
        return False  # a type we do not know is left as it is
    if held == kind == "decimal":
        return _decimal_widens(current, column)
    if held == kind:
        return False
    if held in _NUMBERS and kind in PROMOTIONS.get(held, set()):
        return True
    if kind in _NUMBERS and held in PROMOTIONS.get(kind, set()):
        return False  # narrower numbers are widened when loaded
    raise _conflict(current, column, kind)


def _decimal_widens(current: str, column: Column) -> bool:
    """DECIMAL(p,s) takes a decimal of the same scale: widened when it has more digits."""
    digits = re.fullmatch(r"\s*(?:decimal|numeric)\s*\((\d+)\s*,\s*(\d+)\)\s*", current.lower())
    if digits is None:
        return False  # the precision is not known: left as it is
    precision, scale = int(digits[1]), int(digits[2])
    if scale != column.scale:
        raise _conflict(current, column, f"decimal({column.precision},{column.scale})")
    return column.precision > precision


def _conflict(current: str, column: Column, kind: str) -> IncompatibleSchema:
    return IncompatibleSchema(
        f"field {column.field!r} would store {kind} values in column "
        f"{column.name!r}, which the warehouse holds as {current}; a column keeps "
        "its type (it may only widen: int->long/float/double, long->float/double, "
        "float->double, a decimal to more digits of the same scale)",
        field=column.field,
        rule="column_type_conflict",
    )


def _held_kind(sql_type: str) -> str | None:
    """The kind of value a column of ``sql_type`` holds (texts, JSON among them, alike)."""
    return _KIND_OF_SQL.get(sql_type.lower().split("(")[0].strip())


def ledger_ddl(types: TypeMapper) -> list[str]:
    """The load ledger: one row per loaded COPY task, written in the load's transaction.
    The primary key makes two loaders racing on one task conflict instead of doubling
    (Redshift does not enforce it: its adapter locks the tables first)."""
    text = types.text
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote(LEDGER_SCHEMA)}",
        f"CREATE TABLE IF NOT EXISTS {LEDGER} (\n"
        f"  task_id VARCHAR(64) PRIMARY KEY,\n"
        f"  table_name {text} NOT NULL,\n"
        f"  file_key {text} NOT NULL,\n"
        f"  row_count BIGINT NOT NULL,\n"
        f"  loaded_at TIMESTAMPTZ NOT NULL\n)",
        failed_events_ddl(types),
    ]


def failed_events_ddl(types: TypeMapper) -> str:
    """``playlog.failed_events``: one row per dead letter, keyed by its ``source``
    (the key is what makes recording a dead letter delivered twice a no-op)."""
    text, string, blob = types.text, types.names["string"], types.names["bytes"]
    return (
        f"CREATE TABLE IF NOT EXISTS {FAILED} (\n"
        "  failed_at TIMESTAMPTZ NOT NULL,\n"
        f"  stage {text} NOT NULL,\n"
        f"  game {text} NOT NULL,\n"
        f"  event_type {text} NOT NULL,\n"
        f"  schema_hash {text} NOT NULL,\n"
        f"  reason {string} NOT NULL,\n"
        "  source VARCHAR(512) PRIMARY KEY,\n"
        f"  payload {blob} NOT NULL,\n"
        "  replayed_at TIMESTAMPTZ\n)"
    )


def failed_lookup_sql(count: int, placeholder: str = "%s") -> str:
    return f"SELECT source FROM {FAILED} WHERE source IN ({_placeholders(count, placeholder)})"


def failed_insert_sql(count: int, placeholder: str = "%s") -> str:
    row = f"({_placeholders(len(FAILED_INSERTED), placeholder)})"
    return f"INSERT INTO {FAILED} ({', '.join(FAILED_INSERTED)}) VALUES {', '.join([row] * count)}"


def failed_row(event: FailedEvent, types: TypeMapper) -> tuple[Any, ...]:
    """``event`` as the values of :data:`FAILED_INSERTED`, its descriptive text cut to
    the widths of :func:`failed_events_ddl`'s columns (Redshift's are bounded; a
    record holding many schemas lists more hashes than fit): a row that cannot fit
    would be refused again on every retry."""
    failed_at = dt.datetime.fromtimestamp(event.failed_at_ms / 1000, dt.UTC)
    text, string = _width(types.text), _width(types.names["string"])
    return (
        failed_at, _cut(event.stage, text), _cut(event.game, text),
        _cut(event.event_type, text), _cut(event.schema_hash, text),
        _cut(event.reason, string), event.source, event.payload,
    )  # fmt: skip


def _width(sql_type: str) -> int | None:
    """``VARCHAR(512)`` -> 512; None for an unbounded text type."""
    match = re.fullmatch(r"VARCHAR\((\d+)\)", sql_type, re.IGNORECASE)
    return int(match[1]) if match else None


def _cut(text: str, width: int | None) -> str:
    """``text`` in at most ``width`` UTF-8 bytes (Redshift's VARCHAR counts bytes, a
    character PostgreSQL's: bytes fit both), never splitting a character."""
    if width is None:
        return text
    return text.encode()[:width].decode(errors="ignore")


def failed_mark_sql(count: int, placeholder: str = "%s", now: str = "now()") -> str:
    """Mark failed events replayed, once: a later load of the same replay (the ledger
    skips it) leaves the first mark's time."""
    return (
        f"UPDATE {FAILED} SET replayed_at = {now} "
        f"WHERE replayed_at IS NULL AND source IN ({_placeholders(count, placeholder)})"
    )


def ledger_lookup_sql(count: int, placeholder: str = "%s") -> str:
    # One placeholder per id: Redshift has no array type, so no "= ANY(%s)".
    return f"SELECT task_id FROM {LEDGER} WHERE task_id IN ({_placeholders(count, placeholder)})"


def ledger_insert_sql(count: int, placeholder: str = "%s", now: str = "now()") -> str:
    """One multi-row INSERT for the batch; ``now`` is the transaction's start."""
    row = f"({_placeholders(4, placeholder)}, {now})"
    return (
        f"INSERT INTO {LEDGER} (task_id, table_name, file_key, row_count, loaded_at) "
        f"VALUES {', '.join([row] * count)}"
    )


def ledger_page_sql(limit: int, placeholder: str = "%s") -> str:
    """Ledger rows loaded before a time (parameter 1), task ids after one (2), in id
    order: what ledger retention walks a page at a time."""
    return (
        f"SELECT task_id, file_key FROM {LEDGER} "
        f"WHERE loaded_at < {placeholder} AND task_id > {placeholder} "
        f"ORDER BY task_id LIMIT {int(limit)}"
    )


def ledger_delete_sql(count: int, placeholder: str = "%s") -> str:
    return f"DELETE FROM {LEDGER} WHERE task_id IN ({_placeholders(count, placeholder)})"


@dataclass(frozen=True)
class TaskGroup:
    """Tasks of one table with one column list: one COPY statement."""

    game: str
    event_type: str
    columns: tuple[str, ...]
    tasks: list[CopyTask]

    @property
    def table(self) -> str:
        return quoted_table(self.game, self.event_type)


def group_tasks(tasks: Iterable[CopyTask]) -> list[TaskGroup]:
    """Tasks grouped by (game, event type, column list), tables in sorted order: one
    statement per group, and a fixed lock order across concurrent transactions."""

    def key(task: CopyTask) -> tuple[str, str, tuple[str, ...]]:
        return (task.game, task.event_type, task.columns)

    ordered = sorted(tasks, key=lambda t: (*key(t), t.task_id))
    return [TaskGroup(*k, list(group)) for k, group in groupby(ordered, key=key)]


def _placeholders(count: int, placeholder: str) -> str:
    if count < 1:
        raise ValueError("at least one value")
    return ", ".join([placeholder] * count)
