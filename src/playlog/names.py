"""Names of games, event types, tables and columns: validated once, quoted always."""

from __future__ import annotations

import re

from playlog.contracts import METADATA_COLUMNS
from playlog.errors import BadRequest, ReservedName

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Column names come from Avro field names ([A-Za-z_][A-Za-z0-9_]*), lower-cased.
_FIELD_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a valid game or event type name, else raise BadRequest."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise BadRequest(f"invalid {what} {value!r}: must match [a-z][a-z0-9_]{{0,62}}", field=what)
    return value


# A game is a warehouse schema: these are schemas the warehouses (DuckDB, PostgreSQL,
# Redshift) or playlog itself (its ledger) own. A game of that name would write into
# them, e.g. event type `load_ledger` of game `playlog` would alter the ledger.
RESERVED_GAMES = frozenset({"playlog", "public", "information_schema", "main", "temp", "system"})
RESERVED_GAME_PREFIXES = ("pg_",)  # PostgreSQL and Redshift reserve every pg_ schema


def check_game(value: object) -> str:
    """``value`` if it can name a new game: a valid name that no warehouse reserves."""
    game = check_name(value, "game")
    if game in RESERVED_GAMES or game.startswith(RESERVED_GAME_PREFIXES):
        raise ReservedName(
            f"game name {game!r} is reserved (a schema of the warehouse or of playlog)",
            field="game",
        )
    return game


def column_name(field_name: str) -> str:
    """The warehouse column of an Avro field: its name in lower case."""
    if not _FIELD_PATTERN.fullmatch(field_name):
        raise BadRequest(f"invalid field name {field_name!r}", field=field_name)
    column = field_name.lower()
    if column in METADATA_COLUMNS:
        raise BadRequest(f"field name {field_name!r} is reserved for playlog metadata")
    return column


def quote(identifier: str) -> str:
    """SQL-quote an identifier (the same rule in DuckDB, PostgreSQL and Redshift)."""
    return '"' + identifier.replace('"', '""') + '"'


def quoted_table(game: str, event_type: str) -> str:
    return f"{quote(game)}.{quote(event_type)}"


# playlog's own game: the monitor's canary writes to it (monitor/canary.py).
CANARY_GAME = "playlog_canary"
