"""Catalogs as an older playlog left them, for the migration tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from playlog.avro.schema import fingerprint_of
from playlog.registry.catalog import Catalog


def record(name: str, *fields: dict[str, Any]) -> str:
    return json.dumps({"type": "record", "name": name, "fields": list(fields)})


LOGIN = record("login", {"name": "player", "type": "string"})
LOGIN_V2 = record(
    "login", {"name": "player", "type": "string"}, {"name": "n", "type": "int", "default": 0}
)
KILL = record("kill", {"name": "victim", "type": "string"})

# The schemas table of every catalog before integer schema ids (issue 13).
_OLD_SCHEMAS = """CREATE TABLE {p}schemas (
    game TEXT NOT NULL, event_type TEXT NOT NULL, version INTEGER NOT NULL,
    fingerprint TEXT NOT NULL, schema_json TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (game, event_type, version))"""

# (game, event type, version, schema, registered at): not in key order
OLD_VERSIONS = [
    ("g2", "kill", 1, KILL, 10.0),
    ("g1", "login", 1, LOGIN, 20.0),
    ("g1", "login", 2, LOGIN_V2, 30.0),
]
# what they are after the migration, in the catalog's order: (table, version, id)
MIGRATED = [("g1.login", 1, 2), ("g1.login", 2, 3), ("g2.kill", 1, 1)]


def write_old_schemas(db: Any, prefix: str, placeholder: str) -> None:
    """``OLD_VERSIONS`` in an old schemas table, through a DB-API connection."""
    db.execute(_OLD_SCHEMAS.format(p=prefix))
    insert = f"INSERT INTO {prefix}schemas VALUES ({', '.join([placeholder] * 6)})"
    for game, event_type, version, text, at in OLD_VERSIONS:
        schema_json = json.dumps(json.loads(text), separators=(",", ":"))
        fingerprint = fingerprint_of(schema_json)
        db.execute(insert, (game, event_type, version, fingerprint, schema_json, at))


def watch_statements(catalog: Catalog, seen: Callable[[Any, str], None]) -> Callable[[], None]:
    """Call ``seen(connection, sql)`` before each statement the catalog's database runs
    on its connection; returns what undoes it."""
    database = catalog._db
    run = database._with_connection

    def watched(work: Callable[[Any], Any]) -> Any:
        def spying(db: Any) -> Any:
            class Spy:
                def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
                    seen(db, sql)
                    return db.execute(sql, params)

            return work(Spy())

        return run(spying)

    database._with_connection = watched  # type: ignore[method-assign]
    return lambda: setattr(database, "_with_connection", run)
