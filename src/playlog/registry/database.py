"""The catalog's database: SQLite in the data dir on one machine (WAL mode lets local
processes share it), PostgreSQL when ingest nodes run on several machines. One
connection per process, opened on first use and replaced once when it breaks; the
tables below are created (or upgraded, see migrate.py) when it opens."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from playlog.errors import CatalogUnavailable
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


class CatalogDatabase:
    """One connection to the catalog's database, its tables created on first use.

    Statements are written once for both dialects: ``{p}`` is the table prefix and
    ``%s`` the placeholder. ``run`` takes a lock: one statement at a time."""

    def __init__(self, path: Path | None = None, dsn: str | None = None) -> None:
        """SQLite at ``path``, or PostgreSQL at ``dsn`` (tables in schema ``playlog``)."""
        self._lock = threading.Lock()
        if dsn is not None:
            import psycopg

            def connect() -> Any:
                return psycopg.connect(dsn, autocommit=True, connect_timeout=5)

            self._prefix, self._placeholder = "playlog.", "%s"
            # held until COMMIT; the number is playlog's own (see registry/migrate.py)
            lock = "SELECT pg_advisory_xact_lock(7079438113)"
            schema = "CREATE SCHEMA IF NOT EXISTS playlog"  # under the lock: races too
            self._exclusive: tuple[str, ...] = ("BEGIN", lock, schema)
            # Every commit waits for the flush: a PostgreSQL catalog may fail on its own
            # (another host, a failover) while ingest nodes live on, and a claim it lost
            # would let a retry on another node append the same batch again.
            self._lazy_begin: tuple[str, ...] = ("BEGIN",)
            self._lazy_end: tuple[str, ...] = ()
            self._driver_errors: tuple[type[Exception], ...] = (psycopg.OperationalError,)
            self.integrity_error: type[Exception] = psycopg.IntegrityError
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
            self.integrity_error = sqlite3.IntegrityError
        self._connect = connect
        self._connection: Any = None  # connected on first use: a node may start while it is down
        with contextlib.suppress(CatalogUnavailable):
            self.run("SELECT 1")

    def _open(self) -> Any:
        db = self._connect()

        def execute(sql: str, params: Sequence[Any] = ()) -> Any:
            return db.execute(self._sql(sql), params)

        set_up(execute, self._exclusive, _TABLES)
        return db

    def _sql(self, sql: str) -> str:
        return sql.format(p=self._prefix).replace("%s", self._placeholder)

    def run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``{p}`` = table prefix, ``%s`` = placeholder)."""
        sql = self._sql(sql)
        return self._with_connection(lambda db: db.execute(sql, params))

    def run_together(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, durable: bool
    ) -> list[int]:
        """``statements`` in one transaction, all or none; each one's rowcount. Its
        COMMIT waits for the disk only when ``durable``."""
        begin = self._exclusive[:1] if durable else self._lazy_begin

        def together(db: Any) -> list[int]:
            try:
                for statement in begin:
                    db.execute(statement)
                counts = [int(db.execute(self._sql(sql), p).rowcount) for sql, p in statements]
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

        counts: list[int] = self._with_connection(together)
        return counts

    def _with_connection(self, work: Callable[[Any], Any]) -> Any:
        """``work(connection)``, one at a time. A broken connection (the database
        restarted) is replaced once before giving up."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._connection is None:
                        self._connection = self._open()
                    return work(self._connection)
                except self._driver_errors as exc:
                    with contextlib.suppress(Exception):
                        if self._connection is not None:
                            self._connection.close()
                    self._connection = None
                    if attempt == 2:
                        raise CatalogUnavailable(f"catalog unavailable: {exc}") from exc
            raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
