"""Changes to the catalog's tables, applied whenever a process opens the catalog.

A catalog made by an older playlog lacks what a newer one adds. Each step first looks
whether it is needed (opening an up-to-date catalog writes nothing), then looks again
inside a transaction that holds the table's write lock, so that processes opening an
old catalog at the same moment migrate it once. DDL is transactional on both SQLite
and PostgreSQL: a step interrupted half-way leaves the table as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# sql with ``{p}`` (table prefix) and ``%s`` placeholders, params -> cursor
Execute = Callable[[str, Sequence[Any]], Any]


def migrate(execute: Execute, exclusive: Sequence[str]) -> None:
    """``exclusive``: the statements that begin a transaction holding the write lock
    on ``{p}schemas`` in this dialect."""
    if not _has_column(execute, "schemas", "schema_id"):
        _in_transaction(execute, exclusive, _add_schema_ids)
    execute("CREATE UNIQUE INDEX IF NOT EXISTS schemas_by_id ON {p}schemas (schema_id)", ())


def _has_column(execute: Execute, table: str, column: str) -> bool:
    cursor = execute(f"SELECT * FROM {{p}}{table} WHERE 1 = 0", ())
    return column in (d[0] for d in cursor.description)


def _in_transaction(
    execute: Execute, exclusive: Sequence[str], step: Callable[[Execute], None]
) -> None:
    for statement in exclusive:
        execute(statement, ())
    try:
        step(execute)
    except BaseException:
        execute("ROLLBACK", ())
        raise
    execute("COMMIT", ())


def _add_schema_ids(execute: Execute) -> None:
    """Integer ids (the Confluent API's) for versions registered before ids existed,
    in the order they were registered; later ones continue from the largest."""
    if _has_column(execute, "schemas", "schema_id"):
        return  # another process migrated while this one waited for the lock
    execute("ALTER TABLE {p}schemas ADD COLUMN schema_id INTEGER", ())
    rows = execute(
        "SELECT game, event_type, version FROM {p}schemas "
        "ORDER BY created_at, game, event_type, version",
        (),
    ).fetchall()
    for schema_id, (game, event_type, version) in enumerate(rows, start=1):
        execute(
            "UPDATE {p}schemas SET schema_id = %s "
            "WHERE game = %s AND event_type = %s AND version = %s",
            (schema_id, game, event_type, version),
        )
