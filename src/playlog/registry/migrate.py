"""Creating the catalog's tables, and bringing an older playlog's up to date, whenever
a process opens the catalog.

Both happen in one transaction that holds an exclusive lock, so that nodes opening a
catalog at the same moment do it once: PostgreSQL's ``CREATE TABLE IF NOT EXISTS``
fails against a concurrent twin, and a migration must not run twice. DDL is
transactional on SQLite and PostgreSQL alike: a step interrupted half-way leaves the
catalog as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

# sql with ``{p}`` (table prefix) and ``%s`` placeholders, params -> cursor
Execute = Callable[[str, Sequence[Any]], Any]


def set_up(execute: Execute, exclusive: Sequence[str], tables: Sequence[str]) -> None:
    """``exclusive``: the statements that begin a transaction holding a lock every
    other ``set_up`` of this catalog waits for; ``tables``: CREATE ... IF NOT EXISTS."""
    for statement in exclusive:
        execute(statement, ())
    try:
        for statement in tables:
            execute(statement, ())
        if not _has_column(execute, "schemas", "schema_id"):
            _add_schema_ids(execute)
        execute("CREATE UNIQUE INDEX IF NOT EXISTS schemas_by_id ON {p}schemas (schema_id)", ())
    except BaseException:
        with contextlib.suppress(Exception):  # the connection may be what failed
            execute("ROLLBACK", ())
        raise
    execute("COMMIT", ())


def _has_column(execute: Execute, table: str, column: str) -> bool:
    cursor = execute(f"SELECT * FROM {{p}}{table} WHERE 1 = 0", ())
    return column in (d[0] for d in cursor.description)


def _add_schema_ids(execute: Execute) -> None:
    """Integer ids (the Confluent API's) for versions registered before ids existed,
    in the order they were registered; later ones continue from the largest."""
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
