"""The catalog: games, their keys (hashed) and their schema versions.

One source of truth per deployment, in SQLite or PostgreSQL (``registry/database.py``:
the connection and the tables); each process keeps its own cache (the registry) and
reloads on a miss.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playlog.avro.schema import EventSchema
from playlog.errors import Conflict
from playlog.log.group_commit import GroupCommit
from playlog.names import CANARY_GAME, check_game
from playlog.registry.database import CatalogDatabase


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(key_id, api_key). The key id is readable in the key itself: ``pl_<id>_<secret>``."""
    key_id = secrets.token_hex(4)
    return key_id, f"pl_{key_id}_{secrets.token_urlsafe(24)}"


# Every schema id given so far: those of the registered versions and the high-water
# mark of deleted games'.
_SCHEMA_IDS = (
    "(SELECT schema_id AS id FROM {p}schemas "
    "UNION ALL SELECT value AS id FROM {p}counters WHERE name = 'schema_id') AS ids"
)


@dataclass(frozen=True)
class _KeyWrite:
    """One statement of an idempotency-key write; ``durable``: flushed before it returns."""

    sql: str
    params: tuple[Any, ...]
    durable: bool = True


class Catalog:
    def __init__(self, path: Path | None = None, dsn: str | None = None) -> None:
        """SQLite at ``path``, or PostgreSQL at ``dsn`` (tables in schema ``playlog``)."""
        self._closing: list[Callable[[], None]] = []
        self._db = CatalogDatabase(path, dsn)
        # Idempotency keys: the writes of concurrent requests share a transaction.
        self._key_writes = GroupCommit(self._write_together)

    def _write_together(self, writes: Sequence[_KeyWrite]) -> list[int]:
        """Statements of concurrent callers in one transaction, all or none (one commit:
        one flush to disk, none unless one of them is ``durable``); each rowcount."""
        durable = any(write.durable for write in writes)
        return self._db.run_together([(w.sql, w.params) for w in writes], durable=durable)

    # games and keys -------------------------------------------------------------

    def add_game(self, game: str) -> bool:
        """False when the game exists already."""
        check_game(game)
        cursor = self._db.run(
            "INSERT INTO {p}games VALUES (%s, %s) ON CONFLICT DO NOTHING", (game, time.time())
        )
        return bool(cursor.rowcount == 1)

    def has_game(self, game: str) -> bool:
        return (
            self._db.run("SELECT 1 FROM {p}games WHERE game = %s", (game,)).fetchone() is not None
        )

    def games(self) -> list[str]:
        return [r[0] for r in self._db.run("SELECT game FROM {p}games ORDER BY game").fetchall()]

    def games_of_users(self) -> list[str]:
        """The games users made: every game but playlog's own canary."""
        return [game for game in self.games() if game != CANARY_GAME]

    def revoke_keys(self, game: str) -> None:
        """Every key of ``game``: the first step of deleting it (nobody sends on)."""
        self._db.run(
            "UPDATE {p}api_keys SET revoked_at = %s WHERE game = %s AND revoked_at IS NULL",
            (time.time(), game),
        )

    def forget_game(self, game: str) -> bool:
        """The game, its keys and schema versions out of the catalog (revoke its keys
        first); False when there was no such game. Idempotency answers go too."""
        self._db.run(  # the high-water mark first: the game's ids must not come back
            "INSERT INTO {p}counters (name, value) "
            f"SELECT 'schema_id', COALESCE(MAX(id), 0) FROM {_SCHEMA_IDS} "
            "WHERE 1 = 1 "  # SQLite: an upsert's SELECT needs a WHERE (parser ambiguity)
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        for table in ("api_keys", "schemas", "idempotency_keys"):
            self._db.run(f"DELETE FROM {{p}}{table} WHERE game = %s", (game,))
        return bool(self._db.run("DELETE FROM {p}games WHERE game = %s", (game,)).rowcount == 1)

    def add_key(self, game: str) -> tuple[str, str]:
        key_id, api_key = new_key()
        self._db.run(
            "INSERT INTO {p}api_keys VALUES (%s, %s, %s, %s, NULL)",
            (key_id, game, hash_key(api_key), time.time()),
        )
        return key_id, api_key

    def revoke_key(self, game: str, key_id: str) -> bool:
        cursor = self._db.run(
            "UPDATE {p}api_keys SET revoked_at = %s "
            "WHERE key_id = %s AND game = %s AND revoked_at IS NULL",
            (time.time(), key_id, game),
        )
        return bool(cursor.rowcount == 1)

    def game_of_key(self, api_key: str) -> str | None:
        """The game an unrevoked key belongs to, or None."""
        parts = api_key.split("_")
        if len(parts) < 3 or parts[0] != "pl":
            return None
        row = self._db.run(
            "SELECT game, key_hash FROM {p}api_keys WHERE key_id = %s AND revoked_at IS NULL",
            (parts[1],),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[1], hash_key(api_key)):
            return None
        return str(row[0])

    # schemas --------------------------------------------------------------------

    def add_schema(self, schema: EventSchema) -> None:
        """Raises Conflict when another process registered this version first."""
        try:
            self._insert_schema(schema)
        except self._db.integrity_error as exc:
            raise Conflict(
                f"{schema.table} version {schema.version} was registered concurrently; retry"
            ) from exc

    def _insert_schema(self, schema: EventSchema) -> None:
        # The next id in the same statement: atomic on SQLite (one writer); on
        # PostgreSQL a concurrent twin fails the unique index and becomes a Conflict.
        self._db.run(
            "INSERT INTO {p}schemas "
            "(game, event_type, version, fingerprint, schema_json, created_at, schema_id) "
            f"SELECT %s, %s, %s, %s, %s, %s, COALESCE(MAX(id), 0) + 1 FROM {_SCHEMA_IDS}",
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
        sql = (
            "SELECT game, event_type, version, fingerprint, schema_json, schema_id FROM {p}schemas"
        )
        params: tuple[str, ...] = ()
        if game is not None:
            sql += " WHERE game = %s"
            params = (game,)
        rows = self._db.run(sql + " ORDER BY game, event_type, version", params).fetchall()
        return [EventSchema(*row) for row in rows]

    # processor leases: every write is a compare-and-set on the token ------------

    def lease(self, group: str) -> tuple[str, int, float] | None:
        """``(holder, token, expires_at)`` of ``group``'s lease, or None."""
        row = self._db.run(
            "SELECT holder, token, expires_at FROM {p}leases WHERE grp = %s", (group,)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), float(row[2]))

    def take_lease(self, group: str, holder: str, seen: int | None, expires_at: float) -> bool:
        """Become the holder, if the token is still ``seen`` (None: no lease yet);
        the token becomes ``seen + 1`` (1)."""
        if seen is None:
            cursor = self._db.run(
                "INSERT INTO {p}leases VALUES (%s, %s, 1, %s) ON CONFLICT DO NOTHING",
                (group, holder, expires_at),
            )
        else:
            cursor = self._db.run(
                "UPDATE {p}leases SET holder = %s, token = token + 1, expires_at = %s "
                "WHERE grp = %s AND token = %s",
                (holder, expires_at, group, seen),
            )
        return bool(cursor.rowcount == 1)

    def renew_lease(self, group: str, holder: str, token: int, expires_at: float) -> bool:
        """Extend (or, with ``expires_at=0``, give up) a lease still held; False when
        another holder took it over."""
        cursor = self._db.run(
            "UPDATE {p}leases SET expires_at = %s WHERE grp = %s AND holder = %s AND token = %s",
            (expires_at, group, holder, token),
        )
        return bool(cursor.rowcount == 1)

    # idempotency keys -------------------------------------------------------------

    def claim_key(self, game: str, key: str, claim: str, now: float, expires_at: float) -> bool:
        """Insert-first: True when this ``claim`` now holds (game, key).

        On SQLite, committed without waiting for the disk: the catalog and the ingest
        node share a host, so a power cut that loses the claim ends the request too; a
        claim lost with it lets the client's retry claim again at once, where a flushed
        claim without an answer lets it in after ``STALE_S`` (idempotency.py): either
        way the batch may have been appended, so the flush protects nothing. A
        PostgreSQL catalog can fail alone, so there every claim is flushed
        (database.py)."""
        sql = (
            "INSERT INTO {p}idempotency_keys VALUES (%s, %s, %s, NULL, %s, %s) "
            "ON CONFLICT DO NOTHING"
        )
        write = _KeyWrite(sql, (game, key, claim, now, expires_at), durable=False)
        return self._key_writes.submit(write) == 1

    def key_state(self, game: str, key: str) -> tuple[str, str | None, float, float] | None:
        """(claim, answer or None while in progress, claimed_at, expires_at), or None."""
        row = self._db.run(
            "SELECT claim, answer, claimed_at, expires_at FROM {p}idempotency_keys "
            "WHERE game = %s AND idem_key = %s",
            (game, key),
        ).fetchone()
        return None if row is None else (row[0], row[1], float(row[2]), float(row[3]))

    def take_over_key(
        self, game: str, key: str, old: str, claim: str, now: float, expires_at: float
    ) -> bool:
        """Replace claim ``old`` (a crashed node's, or an expired answer) by ``claim``."""
        cursor = self._db.run(
            "UPDATE {p}idempotency_keys "
            "SET claim = %s, answer = NULL, claimed_at = %s, expires_at = %s "
            "WHERE game = %s AND idem_key = %s AND claim = %s",
            (claim, now, expires_at, game, key, old),
        )
        return bool(cursor.rowcount == 1)

    def answer_key(self, game: str, key: str, claim: str, answer: str, expires_at: float) -> None:
        """Keep the answer of a claim, flushed to disk (with the claims and answers of
        concurrent requests: one transaction)."""
        sql = (
            "UPDATE {p}idempotency_keys SET answer = %s, expires_at = %s "
            "WHERE game = %s AND idem_key = %s AND claim = %s"
        )
        self._key_writes.submit(_KeyWrite(sql, (answer, expires_at, game, key, claim)))

    def release_key(self, game: str, key: str, claim: str) -> None:
        """Drop an unanswered claim (its append failed): the client's retry may go on."""
        self._db.run(
            "DELETE FROM {p}idempotency_keys "
            "WHERE game = %s AND idem_key = %s AND claim = %s AND answer IS NULL",
            (game, key, claim),
        )

    def purge_keys(self, now: float) -> int:
        """Delete keys past their window; how many."""
        cursor = self._db.run("DELETE FROM {p}idempotency_keys WHERE expires_at < %s", (now,))
        return int(cursor.rowcount)

    def on_close(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` when the catalog closes, before its connection does: a thread
        that still uses the catalog (the lease renewer) ends first."""
        self._closing.append(stop)

    def close(self) -> None:
        for stop in self._closing:
            stop()
        self._db.close()
