"""The catalog: games, their keys (hashed) and their schema versions.

One source of truth per deployment: SQLite in the data dir on one machine (WAL mode
lets local processes share it), PostgreSQL when ingest nodes run on several machines
(``Catalog.open``). The SQL is written once in the dialect both accept; each process
keeps its own cache (the registry) and reloads on a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playlog.avro.schema import EventSchema
from playlog.errors import CatalogUnavailable, Conflict
from playlog.log.group_commit import GroupCommit
from playlog.names import CANARY_GAME, check_game
from playlog.registry.migrate import set_up

_TABLES = (
    """CREATE TABLE IF NOT EXISTS {p}games (
        game TEXT PRIMARY KEY,
        created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS {p}api_keys (
        key_id TEXT PRIMARY KEY,
        game TEXT NOT NULL REFERENCES {p}games(game),
        key_hash TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS {p}schemas (
        game TEXT NOT NULL,
        event_type TEXT NOT NULL,
        version INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        schema_json TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        schema_id INTEGER,
        PRIMARY KEY (game, event_type, version))""",
    # Counters that must never go back, e.g. the highest schema id ever given: a
    # deleted game's ids are not given again (Confluent clients cache id -> schema).
    """CREATE TABLE IF NOT EXISTS {p}counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL)""",
    # One row per processor group: who drives it, until when, and a fencing token
    # that grows on every takeover (rows are never deleted, so tokens never repeat).
    """CREATE TABLE IF NOT EXISTS {p}leases (
        grp TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token BIGINT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL)""",
    # Idempotency-Key of POST /v1/games/{game}/events: claimed (answer NULL) before the
    # append, answered after it; shared by every ingest node. See ingest/idempotency.py.
    """CREATE TABLE IF NOT EXISTS {p}idempotency_keys (
        game TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        claim TEXT NOT NULL,
        answer TEXT,
        claimed_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (game, idem_key))""",
)


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
        self._lock = threading.Lock()
        # Idempotency keys: the writes of concurrent requests share a transaction.
        self._key_writes = GroupCommit(self._write_together)
        if dsn is not None:
            import psycopg

            def connect() -> Any:
                return psycopg.connect(dsn, autocommit=True, connect_timeout=5)

            self._prefix, self._placeholder = "playlog.", "%s"
            # held until COMMIT; the number is playlog's own (see registry/migrate.py)
            lock = "SELECT pg_advisory_xact_lock(7079438113)"
            schema = "CREATE SCHEMA IF NOT EXISTS playlog"  # under the lock: races too
            self._exclusive: tuple[str, ...] = ("BEGIN", lock, schema)
            # a transaction whose COMMIT does not wait for the WAL flush
            self._lazy_begin: tuple[str, ...] = ("BEGIN", "SET LOCAL synchronous_commit TO OFF")
            self._lazy_end: tuple[str, ...] = ()
            self._driver_errors: tuple[type[Exception], ...] = (psycopg.OperationalError,)
            self._integrity_error: type[Exception] = psycopg.IntegrityError
        else:
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)

            def connect() -> Any:
                db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA busy_timeout=10000")
                return db

            self._prefix, self._placeholder = "", "?"
            self._exclusive = ("BEGIN IMMEDIATE",)  # takes the database's write lock
            # Not allowed inside a transaction; FULL is SQLite's default, ours.
            self._lazy_begin = ("PRAGMA synchronous=NORMAL", "BEGIN IMMEDIATE")
            self._lazy_end = ("PRAGMA synchronous=FULL",)
            self._driver_errors = (sqlite3.OperationalError,)
            self._integrity_error = sqlite3.IntegrityError
        self._connect = connect
        self._db: Any = None  # connected on first use: a node may start while it is down
        with contextlib.suppress(CatalogUnavailable):
            self._run("SELECT 1")

    def _open(self) -> Any:
        db = self._connect()

        def execute(sql: str, params: Sequence[Any] = ()) -> Any:
            return db.execute(self._sql(sql), params)

        set_up(execute, self._exclusive, _TABLES)
        return db

    def _sql(self, sql: str) -> str:
        return sql.format(p=self._prefix).replace("%s", self._placeholder)

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``{p}`` = table prefix, ``%s`` = placeholder)."""
        sql = self._sql(sql)
        return self._with_db(lambda db: db.execute(sql, params))

    def _write_together(self, writes: Sequence[_KeyWrite]) -> list[int]:
        """Statements of concurrent callers in one transaction, all or none (one commit:
        one flush to disk, none unless one of them is ``durable``); each rowcount."""
        durable = any(write.durable for write in writes)
        begin = self._exclusive[:1] if durable else self._lazy_begin

        def together(db: Any) -> list[int]:
            for statement in begin:
                db.execute(statement)
            try:
                counts = [int(db.execute(self._sql(w.sql), w.params).rowcount) for w in writes]
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # the connection may be what failed
                    db.execute("ROLLBACK")
                raise
            finally:
                if not durable:
                    for statement in self._lazy_end:
                        with contextlib.suppress(Exception):
                            db.execute(statement)
            return counts

        counts: list[int] = self._with_db(together)
        return counts

    def _with_db(self, work: Callable[[Any], Any]) -> Any:
        """``work(connection)``. A broken connection (the database restarted) is
        replaced once before giving up."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._db is None:
                        self._db = self._open()
                    return work(self._db)
                except self._driver_errors as exc:
                    with contextlib.suppress(Exception):
                        if self._db is not None:
                            self._db.close()
                    self._db = None
                    if attempt == 2:
                        raise CatalogUnavailable(f"catalog unavailable: {exc}") from exc
            raise AssertionError("unreachable")

    # games and keys -------------------------------------------------------------

    def add_game(self, game: str) -> bool:
        """False when the game exists already."""
        check_game(game)
        cursor = self._run(
            "INSERT INTO {p}games VALUES (%s, %s) ON CONFLICT DO NOTHING", (game, time.time())
        )
        return bool(cursor.rowcount == 1)

    def has_game(self, game: str) -> bool:
        return self._run("SELECT 1 FROM {p}games WHERE game = %s", (game,)).fetchone() is not None

    def games(self) -> list[str]:
        return [r[0] for r in self._run("SELECT game FROM {p}games ORDER BY game").fetchall()]

    def games_of_users(self) -> list[str]:
        """The games users made: every game but playlog's own canary."""
        return [game for game in self.games() if game != CANARY_GAME]

    def revoke_keys(self, game: str) -> None:
        """Every key of ``game``: the first step of deleting it (nobody sends on)."""
        self._run(
            "UPDATE {p}api_keys SET revoked_at = %s WHERE game = %s AND revoked_at IS NULL",
            (time.time(), game),
        )

    def forget_game(self, game: str) -> bool:
        """The game, its keys and schema versions out of the catalog (revoke its keys
        first); False when there was no such game. Idempotency answers go too."""
        self._run(  # the high-water mark first: the game's ids must not come back
            "INSERT INTO {p}counters (name, value) "
            f"SELECT 'schema_id', COALESCE(MAX(id), 0) FROM {_SCHEMA_IDS} "
            "WHERE 1 = 1 "  # SQLite: an upsert's SELECT needs a WHERE (parser ambiguity)
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        for table in ("api_keys", "schemas", "idempotency_keys"):
            self._run(f"DELETE FROM {{p}}{table} WHERE game = %s", (game,))
        return bool(self._run("DELETE FROM {p}games WHERE game = %s", (game,)).rowcount == 1)

    def add_key(self, game: str) -> tuple[str, str]:
        key_id, api_key = new_key()
        self._run(
            "INSERT INTO {p}api_keys VALUES (%s, %s, %s, %s, NULL)",
            (key_id, game, hash_key(api_key), time.time()),
        )
        return key_id, api_key

    def revoke_key(self, game: str, key_id: str) -> bool:
        cursor = self._run(
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
        row = self._run(
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
        except self._integrity_error as exc:
            raise Conflict(
                f"{schema.table} version {schema.version} was registered concurrently; retry"
            ) from exc

    def _insert_schema(self, schema: EventSchema) -> None:
        # The next id in the same statement: atomic on SQLite (one writer); on
        # PostgreSQL a concurrent twin fails the unique index and becomes a Conflict.
        self._run(
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
        rows = self._run(sql + " ORDER BY game, event_type, version", params).fetchall()
        return [EventSchema(*row) for row in rows]

    # processor leases: every write is a compare-and-set on the token ------------

    def lease(self, group: str) -> tuple[str, int, float] | None:
        """``(holder, token, expires_at)`` of ``group``'s lease, or None."""
        row = self._run(
            "SELECT holder, token, expires_at FROM {p}leases WHERE grp = %s", (group,)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), float(row[2]))

    def take_lease(self, group: str, holder: str, seen: int | None, expires_at: float) -> bool:
        """Become the holder, if the token is still ``seen`` (None: no lease yet);
        the token becomes ``seen + 1`` (1)."""
        if seen is None:
            cursor = self._run(
                "INSERT INTO {p}leases VALUES (%s, %s, 1, %s) ON CONFLICT DO NOTHING",
                (group, holder, expires_at),
            )
        else:
            cursor = self._run(
                "UPDATE {p}leases SET holder = %s, token = token + 1, expires_at = %s "
                "WHERE grp = %s AND token = %s",
                (holder, expires_at, group, seen),
            )
        return bool(cursor.rowcount == 1)

    def renew_lease(self, group: str, holder: str, token: int, expires_at: float) -> bool:
        """Extend (or, with ``expires_at=0``, give up) a lease still held; False when
        another holder took it over."""
        cursor = self._run(
            "UPDATE {p}leases SET expires_at = %s WHERE grp = %s AND holder = %s AND token = %s",
            (expires_at, group, holder, token),
        )
        return bool(cursor.rowcount == 1)

    # idempotency keys -------------------------------------------------------------

    def claim_key(self, game: str, key: str, claim: str, now: float, expires_at: float) -> bool:
        """Insert-first: True when this ``claim`` now holds (game, key).

        Committed without waiting for the disk: a claim lost to a power cut (with the
        answer that follows it, which is flushed) lets the client's retry claim again
        at once, where a flushed claim without an answer lets it in after ``STALE_S``
        (idempotency.py): either way the batch may have been appended, so flushing the
        claim protects nothing and costs every request a flush."""
        sql = (
            "INSERT INTO {p}idempotency_keys VALUES (%s, %s, %s, NULL, %s, %s) "
            "ON CONFLICT DO NOTHING"
        )
        write = _KeyWrite(sql, (game, key, claim, now, expires_at), durable=False)
        return self._key_writes.submit(write) == 1

    def key_state(self, game: str, key: str) -> tuple[str, str | None, float, float] | None:
        """(claim, answer or None while in progress, claimed_at, expires_at), or None."""
        row = self._run(
            "SELECT claim, answer, claimed_at, expires_at FROM {p}idempotency_keys "
            "WHERE game = %s AND idem_key = %s",
            (game, key),
        ).fetchone()
        return None if row is None else (row[0], row[1], float(row[2]), float(row[3]))

    def take_over_key(
        self, game: str, key: str, old: str, claim: str, now: float, expires_at: float
    ) -> bool:
        """Replace claim ``old`` (a crashed node's, or an expired answer) by ``claim``."""
        cursor = self._run(
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
        self._run(
            "DELETE FROM {p}idempotency_keys "
            "WHERE game = %s AND idem_key = %s AND claim = %s AND answer IS NULL",
            (game, key, claim),
        )

    def purge_keys(self, now: float) -> int:
        """Delete keys past their window; how many."""
        cursor = self._run("DELETE FROM {p}idempotency_keys WHERE expires_at < %s", (now,))
        return int(cursor.rowcount)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
