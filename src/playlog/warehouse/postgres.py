"""PostgreSQL as warehouse.

Loads stream each Parquet batch file into ``COPY ... FROM STDIN (FORMAT BINARY)``
(rows built column-wise by ``pgcopy``). Measured (PostgreSQL 15, 2 cores, 10
columns, 500k rows): ``load`` from Parquet files to commit 0.8-1.0M rows/s.
Alternatives from an Arrow table: CSV rendered by Arrow 0.35M rows/s (the server
parses CSV at ~0.6M rows/s at best); ``write_row`` with ``set_types`` 0.12M rows/s
(``to_pylist`` of a timestamp costs 3 us).

Connections come from ``pgpool``; the algorithm is ``SqlWarehouse``'s. Connections
run in autocommit mode with explicit ``BEGIN``/``COMMIT``, like Redshift's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from playlog.errors import ConfigError, WarehouseConflict, WarehouseError, WarehouseUnavailable
from playlog.names import quote
from playlog.settings import WarehouseSettings
from playlog.storage.base import ObjectStore
from playlog.warehouse import pgcopy
from playlog.warehouse.dberrors import ErrorTable
from playlog.warehouse.files import read_batch_file
from playlog.warehouse.pgpool import ConnectionPool
from playlog.warehouse.sql import TaskGroup
from playlog.warehouse.sqlbase import SqlWarehouse
from playlog.warehouse.types import PostgresTypes

log = logging.getLogger("playlog.warehouse")

Conn = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

# One advisory lock serialises all playlog DDL: concurrent CREATE ... IF NOT EXISTS
# of one schema or table can otherwise fail on the catalogs' unique indexes.
_DDL_LOCK = 0x706C61796C6F67  # "playlog"
_BATCH_ROWS = 65_536
# Column types an Avro promotion widens, by oid: older files are cast to them first.
_WIDENED = {23: pa.int32(), 20: pa.int64(), 700: pa.float32(), 701: pa.float64()}
_CHUNK = 1 << 20  # bytes per COPY write

# A revoked grant, a dropped schema, table or column, a full disk.
NOT_THE_DATA: tuple[type[BaseException], ...] = (
    pg_errors.InsufficientPrivilege,
    pg_errors.UndefinedTable,
    pg_errors.InvalidSchemaName,
    pg_errors.UndefinedColumn,
    pg_errors.DiskFull,
)

POSTGRES_ERRORS = ErrorTable(
    vendor="postgres",
    driver=(psycopg.Error,),
    rules=[
        (
            (
                pg_errors.TransactionRollback,  # deadlock_detected, serialization_failure
                pg_errors.UniqueViolation,  # the ledger: another loader committed the task
                pg_errors.LockNotAvailable,  # lock_timeout
            ),
            WarehouseConflict,
        ),
        # Not the data's fault: an operator fixes it, then the paused tasks load.
        (NOT_THE_DATA, WarehouseUnavailable),
        # Only what the data or the SQL got wrong is terminal (the task is dead-lettered).
        (
            (
                pg_errors.ProgramLimitExceeded,  # e.g. a row too big
                psycopg.DataError,
                psycopg.IntegrityError,
                psycopg.ProgrammingError,
            ),
            WarehouseError,
        ),
    ],
    # Connection refused or lost, shutdown, out of resources, a read-only standby
    # during a failover...: the warehouse will get better; pause and retry.
    otherwise=WarehouseUnavailable,
    query_mistakes=(pg_errors.QueryCanceled, pg_errors.ProgramLimitExceeded),
    query_outages=(psycopg.OperationalError, psycopg.InterfaceError),
)


class PostgresWarehouse(SqlWarehouse[Conn]):
    dialect = "postgres"
    types = PostgresTypes()
    errors = POSTGRES_ERRORS

    def __init__(
        self,
        dsn: str,
        store: ObjectStore | None = None,
        statement_timeout_s: float = 300.0,
        lock_timeout_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        max_idle: int = 8,
    ) -> None:
        session_sql = (
            f"SET statement_timeout = {int(statement_timeout_s * 1000)}; "
            f"SET lock_timeout = {int(lock_timeout_s * 1000)}; SET TimeZone = 'UTC'"
        )
        # Defaults the DSN may override: fail fast on a dead host, notice a dead peer.
        defaults: dict[str, Any] = {
            "connect_timeout": max(2, round(connect_timeout_s)),  # libpq's minimum is 2
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "application_name": "playlog",
        }
        try:
            given = conninfo_to_dict(dsn)
        except psycopg.Error as exc:
            raise ConfigError(f"invalid warehouse.dsn: {exc}") from exc
        connect_args = {k: v for k, v in defaults.items() if k not in given}

        def connect() -> Conn:
            conn: Conn = psycopg.connect(dsn, autocommit=True, **connect_args)
            try:
                conn.execute(session_sql)
            except BaseException:
                conn.close()
                raise
            return conn

        self._open(store, connect, max_idle)
        try:
            self._run(lambda conn: None)  # creates the ledger
        except WarehouseUnavailable as exc:
            # Start anyway: the loader pauses until check() passes, then the first
            # connection creates the ledger.
            log.warning("postgres unreachable, will retry: %s", exc)

    def _open(self, store: ObjectStore | None, connect: Callable[[], Conn], max_idle: int) -> None:
        """What every constructor of this family does (Redshift's connects differently)."""
        SqlWarehouse.__init__(self, store)
        self._ledger_ready = False
        # What ``_before_copies`` learnt for the load this thread runs.
        self._this_load = threading.local()
        self._pool = ConnectionPool(connect, self._prepare, self.errors.vendor, max_idle)

    @classmethod
    def from_settings(
        cls, settings: WarehouseSettings, store: ObjectStore | None
    ) -> PostgresWarehouse:
        if settings.dsn is None:
            raise ConfigError("warehouse.dsn is required for the postgres warehouse")
        return cls(
            settings.dsn.get_secret_value(),
            store,
            statement_timeout_s=settings.statement_timeout_s,
            lock_timeout_s=settings.lock_timeout_s,
        )

    # connections -------------------------------------------------------------------

    def _prepare(self, conn: Conn) -> None:
        # Created on first contact: a warehouse that is down at start-up must make
        # playlog wait, not crash.
        if not self._ledger_ready:
            self._create_ledger(conn)
            self._ledger_ready = True

    def _borrow(self, work: Callable[[Conn], T]) -> T:
        return self._pool.run(work)

    def _run_query(self, work: Callable[[Conn], T]) -> T:
        # A connection of its own, closed afterwards: a user query must not leave
        # session state (advisory locks, settings) on a pooled connection.
        with self.errors.translated():
            conn = self._pool.fresh()
            try:
                return work(conn)
            finally:
                conn.close()

    def _ddl_transaction(self, conn: Conn) -> AbstractContextManager[None]:
        return self._locked_transaction(conn)

    @contextmanager
    def _locked_transaction(self, conn: Conn) -> Iterator[None]:
        with self._transaction(conn):
            self._execute(conn, "SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
            yield

    def close(self) -> None:
        self._pool.close()

    # queries and loads ---------------------------------------------------------------

    def _fetch(self, conn: Conn, statement: str, take: Callable[[Any], T]) -> tuple[list[str], T]:
        # A server-side cursor: extended protocol (one statement only), DECLARE refuses
        # data-modifying WITH, and only the rows ``take`` fetches travel.
        with conn.cursor(name="playlog_query") as cursor:
            cursor.execute(statement)
            return [d.name for d in cursor.description or []], take(cursor)

    def _interrupt(self, conn: Conn) -> None:
        conn.cancel_safe()  # a cancel request on its own connection to the server

    def _before_copies(self, conn: Conn, groups: Sequence[TaskGroup]) -> None:
        # Binary COPY must send each value in the column's exact type: ask the catalog
        # in every load (ALTER TABLE may have widened a column since the last one), for
        # all its tables at once: a round trip per table was 8% of a load (py-spy).
        self._this_load.oids = _column_oids(conn, sorted({g.table for g in groups}))

    def copy_group(self, conn: Conn, group: TaskGroup) -> None:
        assert self._store is not None
        table, columns, name = group.table, group.columns, f"{group.game}.{group.event_type}"
        oids = getattr(self._this_load, "oids", {}).get(table)
        if oids is None:
            oids = _column_oids(conn, [table]).get(table, {})
        # Tables and columns are made by registration: if one is missing, an operator
        # dropped it. Pause (registering the schema again re-creates it), never
        # dead-letter good data.
        if not oids:
            raise WarehouseUnavailable(f"table {name} does not exist")
        unknown = [c for c in columns if c not in oids]
        if unknown:
            raise WarehouseUnavailable(f"table {name} has no columns {unknown}")
        types = [oids[c] for c in columns]
        widths = {c: _WIDENED[oids[c]] for c in columns if oids[c] in _WIDENED}
        names = ", ".join(quote(c) for c in columns)
        statement = f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)"
        with conn.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(pgcopy.HEADER)
            for task in group.tasks:
                data = read_batch_file(self.batch_files(), task, columns, widths)
                for batch in data.to_batches(_BATCH_ROWS):
                    try:
                        rows = pgcopy.encode(batch, types, conn)
                    except (pa.ArrowException, ValueError, TypeError) as exc:
                        raise WarehouseError(f"{task.key}: {exc}") from exc
                    for start in range(0, len(rows), _CHUNK):
                        copy.write(rows[start : start + _CHUNK])
            copy.write(pgcopy.TRAILER)


def _column_oids(conn: Conn, tables: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{quoted table: {column: type oid}}``; a table that does not exist is absent."""
    rows = conn.execute(
        "SELECT t.name, a.attname, a.atttypid::int FROM unnest(%s::text[]) AS t(name) "
        "JOIN pg_attribute a ON a.attrelid = to_regclass(t.name) "
        "WHERE a.attnum > 0 AND NOT a.attisdropped",
        [list(tables)],
    ).fetchall()
    found: dict[str, dict[str, int]] = {}
    for table, column, oid in rows:
        found.setdefault(table, {})[column] = oid
    return found
