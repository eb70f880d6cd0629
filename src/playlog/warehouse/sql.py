"""SQL every warehouse adapter shares: table DDL, the ledger, task grouping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby

from playlog.avro.types import PROMOTIONS, Column, Dialect
from playlog.contracts import LEDGER_SCHEMA, LEDGER_TABLE, CopyTask
from playlog.names import quote

_METADATA_TYPES: dict[Dialect, tuple[str, str, str]] = {
    "duckdb": ("BIGINT", "TIMESTAMPTZ", "VARCHAR"),
    "postgres": ("BIGINT", "TIMESTAMPTZ", "TEXT"),
    "redshift": ("BIGINT", "TIMESTAMPTZ", "VARCHAR(16)"),
}


def metadata_columns_sql(dialect: Dialect) -> list[str]:
    event_id, received_at, schema_hash = _METADATA_TYPES[dialect]
    return [
        f'"_event_id" {event_id} NOT NULL',
        f'"_received_at" {received_at} NOT NULL',
        f'"_schema_hash" {schema_hash} NOT NULL',
    ]


def create_table_sql(table: str, columns: Sequence[Column], dialect: Dialect) -> str:
    """CREATE TABLE for an event type: its fields (nullable, with their defaults)
    then the metadata columns. ``table`` comes quoted."""
    parts = []
    for column in columns:
        default = column.sql_default()
        parts.append(
            f"{quote(column.name)} {column.sql_type(dialect)}"
            + (f" DEFAULT {default}" if default is not None else "")
        )
    parts += metadata_columns_sql(dialect)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(parts) + "\n)"


def add_column_sql(table: str, column: Column, dialect: Dialect, name: str | None = None) -> str:
    """ALTER TABLE ADD COLUMN with the field's default, so rows loaded earlier read the
    default (what Avro resolution gives events still in flight). ``name`` overrides."""
    default = column.sql_default()
    return (
        f"ALTER TABLE {table} ADD COLUMN {quote(name or column.name)} "
        f"{column.sql_type(dialect)}" + (f" DEFAULT {default}" if default is not None else "")
    )


# information_schema type names of the columns an Avro promotion can widen.
_PROMOTABLE = {"integer": "int", "bigint": "long", "real": "float", "float": "float"}


def alter_plan(
    existing: Mapping[str, str], columns: Sequence[Column]
) -> tuple[list[Column], list[Column]]:
    """What brings a table with ``existing`` ``{column: SQL type}`` up to ``columns``:
    (columns to add, columns to widen along an Avro promotion). Nothing is ever
    dropped or narrowed: a table keeps every column any version had."""
    add, widen = [], []
    for column in columns:
        current = existing.get(column.name)
        if current is None:
            add.append(column)
        elif (kind := _PROMOTABLE.get(current.lower())) and column.kind in PROMOTIONS.get(
            kind, set()
        ) - {"bytes"}:
            widen.append(column)
    return add, widen


def ledger_ddl(dialect: Dialect) -> list[str]:
    """The load ledger: one row per loaded COPY task, written in the load's transaction.
    The primary key makes two loaders racing on one task conflict instead of doubling."""
    text = "VARCHAR(512)" if dialect == "redshift" else "TEXT"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote(LEDGER_SCHEMA)}",
        f"CREATE TABLE IF NOT EXISTS {quote(LEDGER_SCHEMA)}.{quote(LEDGER_TABLE)} (\n"
        f"  task_id VARCHAR(64) PRIMARY KEY,\n"
        f"  table_name {text} NOT NULL,\n"
        f"  file_key {text} NOT NULL,\n"
        f"  row_count BIGINT NOT NULL,\n"
        f"  loaded_at TIMESTAMPTZ NOT NULL\n)",
    ]


def group_tasks(
    tasks: Iterable[CopyTask],
) -> list[tuple[tuple[str, str, tuple[str, ...]], list[CopyTask]]]:
    """Tasks grouped by (game, event type, column list), tables in sorted order: one
    statement per group, and a fixed lock order across concurrent transactions."""

    def key(task: CopyTask) -> tuple[str, str, tuple[str, ...]]:
        return (task.game, task.event_type, task.columns)

    ordered = sorted(tasks, key=lambda t: (*key(t), t.task_id))
    return [(k, list(group)) for k, group in groupby(ordered, key=key)]
