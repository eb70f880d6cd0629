"""The catalog: games, their keys (hashed) and their schema versions, in SQLite.

SQLite in WAL mode lets several local processes (``playlog ingest``, ``process``,
``load``) share one catalog; each keeps its own cache and reloads on a miss.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from playlog.avro.schema import EventSchema

_SCHEMA = """
CREATE TABLE IF NOT EXISTS games (
    game TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    game TEXT NOT NULL REFERENCES games(game),
    key_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS schemas (
    game TEXT NOT NULL,
    event_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (game, event_type, version)
);
CREATE INDEX IF NOT EXISTS schemas_by_fingerprint ON schemas (fingerprint);
"""


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(key_id, api_key). The key id is readable in the key itself: ``pl_<id>_<secret>``."""
    key_id = secrets.token_hex(4)
    return key_id, f"pl_{key_id}_{secrets.token_urlsafe(24)}"


class Catalog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    # games and keys -------------------------------------------------------------

    def add_game(self, game: str) -> bool:
        """False when the game exists already."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO games VALUES (?, ?)", (game, time.time())
            )
            return cursor.rowcount == 1

    def has_game(self, game: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM games WHERE game = ?", (game,)).fetchone()
        return row is not None

    def games(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT game FROM games ORDER BY game")]

    def add_key(self, game: str) -> tuple[str, str]:
        key_id, api_key = new_key()
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
                (key_id, game, hash_key(api_key), time.time()),
            )
        return key_id, api_key

    def revoke_key(self, game: str, key_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? "
                "WHERE key_id = ? AND game = ? AND revoked_at IS NULL",
                (time.time(), key_id, game),
            )
            return cursor.rowcount == 1

    def game_of_key(self, api_key: str) -> str | None:
        """The game an unrevoked key belongs to, or None."""
        parts = api_key.split("_")
        if len(parts) < 3 or parts[0] != "pl":
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT game, key_hash FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
                (parts[1],),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[1], hash_key(api_key)):
            return None
        return str(row[0])

    # schemas --------------------------------------------------------------------

    def add_schema(self, schema: EventSchema) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO schemas VALUES (?, ?, ?, ?, ?, ?)",
                (
                    schema.game,
                    schema.event_type,
                    schema.version,
                    schema.fingerprint,
                    schema.schema_json,
                    time.time(),
                ),
            )

    def schemas(self, game: str | None = None) -> list[EventSchema]:
        """Every version (of one game), oldest first."""
        sql = "SELECT game, event_type, version, fingerprint, schema_json FROM schemas"
        params: tuple[str, ...] = ()
        if game is not None:
            sql += " WHERE game = ?"
            params = (game,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY game, event_type, version", params)
            return [EventSchema(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
