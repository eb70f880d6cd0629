"""Amazon Redshift as warehouse, over psycopg 3 (Redshift speaks the PostgreSQL protocol).

    wh = RedshiftWarehouse.from_settings(settings.warehouse, store)
    wh.load(tasks)   # BEGIN; LOCK tables; ledger lookup; one COPY per (table, columns);
                     # ledger rows; COMMIT

Batch files are COPYed by Redshift itself from S3, listed in a manifest the adapter
writes to the object store first; the SQL is in ``redshift_sql``. Connections run in
autocommit mode and transactions are explicit ``BEGIN``/``COMMIT``: DDL then commits
statement by statement, and every statement the adapter sends is visible in one place.
Each call borrows its own connection (concurrent loads never share a transaction).
Health is a real query plus, when ``cluster_id`` is set, the cluster's status from the
Redshift API: a cluster that is paused, resizing or in maintenance is unhealthy even
if a stale connection still answers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol, cast

import psycopg
from psycopg import errors as pg_errors

from playlog.avro.types import Column
from playlog.contracts import CopyTask
from playlog.errors import (
    BadRequest,
    ConfigError,
    PlaylogError,
    TransientError,
    WarehouseConflict,
    WarehouseError,
    WarehouseUnavailable,
)
from playlog.names import quote, quoted_table
from playlog.settings import WarehouseSettings
from playlog.storage.base import ObjectStore
from playlog.warehouse import redshift_sql as rsql
from playlog.warehouse.base import QueryResult
from playlog.warehouse.sql import alter_plan, create_table_sql, group_tasks, ledger_ddl

log = logging.getLogger("playlog.warehouse")


class Cursor(Protocol):
    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...
    def fetchmany(self, size: int = ...) -> list[tuple[Any, ...]]: ...


class Connection(Protocol):
    """The part of ``psycopg.Connection`` the adapter uses (tests pass a recorder)."""

    @property
    def closed(self) -> bool: ...
    def execute(self, query: str, params: Sequence[Any] | None = None) -> Cursor: ...
    def close(self) -> None: ...


class RedshiftWarehouse:
    dialect = "redshift"

    def __init__(
        self,
        connect: Callable[[], Connection],
        store: ObjectStore | None = None,
        *,
        iam_role: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        cluster_id: str | None = None,
        region: str = "us-east-1",
        redshift_client: Any = None,  # a boto3 "redshift" client; made on first use
    ) -> None:
        self._connect = connect
        self._store = store
        self._cluster_id = cluster_id
        self._region = region
        self._aws = redshift_client
        self._credentials = (iam_role, access_key_id, secret_access_key, session_token)
        if store is not None:
            try:  # fail at start-up, not on the first batch
                rsql.authorization_sql(*self._credentials)
            except ValueError as exc:
                raise ConfigError(f"redshift COPY credentials: {exc}") from exc
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._ddl_lock = threading.Lock()
        self._ledger_ready = False

    @classmethod
    def from_settings(
        cls, settings: WarehouseSettings, store: ObjectStore | None, **kwargs: Any
    ) -> RedshiftWarehouse:
        """``kwargs``: access keys for COPY when there is no ``iam_role``, or a
        ``redshift_client`` (tests)."""
        if settings.dsn is None:
            raise ConfigError("warehouse.dsn is required for kind = 'redshift'")
        dsn = settings.dsn.get_secret_value()
        timeout_ms = int(settings.statement_timeout_s * 1000)

        def connect() -> Connection:
            # prepare_threshold=None: psycopg would otherwise PREPARE/DEALLOCATE, which
            # Redshift does not fully support. connect_timeout: a paused cluster must
            # fail the health check, not hang it.
            conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None, connect_timeout=10)
            try:
                conn.execute(f"SET statement_timeout TO {timeout_ms}")
            except BaseException:
                conn.close()
                raise
            return cast(Connection, conn)

        secret = settings.secret_access_key
        token = settings.session_token
        keys = {
            "access_key_id": settings.access_key_id,
            "secret_access_key": secret.get_secret_value() if secret else None,
            "session_token": token.get_secret_value() if token else None,
        }
        return cls(
            connect,
            store,
            **{k: v for k, v in keys.items() if v is not None and k not in kwargs},
            iam_role=settings.iam_role,
            cluster_id=settings.cluster_id,
            region=settings.region,
            **kwargs,
        )

    # DDL -----------------------------------------------------------------------

    def ensure_table(self, game: str, event_type: str, columns: Sequence[Column]) -> None:
        table = quoted_table(game, event_type)
        with self._ddl_lock, self._session() as conn:
            existing = dict(
                conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    [game, event_type],
                ).fetchall()
            )
            if not existing:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(game)}")
                conn.execute(create_table_sql(table, columns, "redshift"))
                log.info("created table %s.%s", game, event_type)
                return
            add, widen = alter_plan(existing, columns)
            for column in add:  # autocommit: each ALTER is its own transaction
                conn.execute(rsql.add_column_sql(table, column))
                log.info("table %s.%s: added column %s", game, event_type, column.name)
            for column in widen:
                _in_transaction(conn, rsql.widen_column_sql(table, column))
                log.info("table %s.%s: widened column %s", game, event_type, column.name)

    # loading -------------------------------------------------------------------

    def load(self, tasks: Sequence[CopyTask]) -> list[str]:
        if self._store is None:
            raise WarehouseError("this warehouse was opened without an object store")
        if not tasks:
            return []
        with self._session() as conn:
            conn.execute("BEGIN")
            try:
                loaded = self._load_in_transaction(conn, self._store, tasks)
                conn.execute("COMMIT")
            except _CopyFailed as failed:
                _rollback(conn)
                raise self._copy_error(conn, failed) from failed.cause
            except BaseException:
                _rollback(conn)
                raise
        return loaded

    def _load_in_transaction(
        self, conn: Connection, store: ObjectStore, tasks: Sequence[CopyTask]
    ) -> list[str]:
        conn.execute(rsql.lock_sql({quoted_table(t.game, t.event_type) for t in tasks}))
        ids = [t.task_id for t in tasks]
        done = {row[0] for row in conn.execute(rsql.ledger_lookup_sql(len(ids)), ids).fetchall()}
        # Unique by id: a task listed twice must not put its file twice in a manifest.
        todo = list({t.task_id: t for t in tasks if t.task_id not in done}.values())
        for (game, event_type, columns), group in group_tasks(todo):
            manifest = self._write_manifest(store, group)
            statement = rsql.copy_sql(
                quoted_table(game, event_type), columns, manifest, *self._credentials
            )
            try:
                conn.execute(statement)
            except psycopg.Error as exc:
                raise _CopyFailed(f"{game}.{event_type}", exc) from exc
        if todo:
            params = [v for t in todo for v in (t.task_id, t.table, t.key, t.rows)]
            conn.execute(rsql.ledger_insert_sql(len(todo)), params)
        return [t.task_id for t in todo]

    def _write_manifest(self, store: ObjectStore, group: Sequence[CopyTask]) -> str:
        for task in group:
            if not task.uri.startswith("s3://"):
                raise WarehouseError(f"Redshift COPYs only from S3, not {task.uri!r}")
        key = rsql.manifest_key([t.task_id for t in group])
        # Not deleted after the load: a loader racing on a redelivered batch may still
        # read it. Expire the _manifests/ prefix with an S3 lifecycle rule.
        manifest = rsql.manifest_json([t.uri for t in group], [t.bytes for t in group])
        try:
            store.put(key, manifest)
        except TransientError as exc:
            raise WarehouseUnavailable(f"object store: {exc}") from exc
        return store.uri(key)

    def _copy_error(self, conn: Connection, failed: _CopyFailed) -> PlaylogError:
        """A retryable failure stays retryable; a data failure carries Redshift's
        reasons, read from the load-error views of the session's last COPY."""
        error = _translate(failed.cause)
        if type(error) is not WarehouseError:
            return error
        detail = ""
        for sql in (rsql.LOAD_ERRORS_SQL, rsql.STL_LOAD_ERRORS_SQL):
            with suppress(psycopg.Error):  # a view may be missing or not visible to us
                detail = rsql.format_load_errors(conn.execute(sql).fetchall())
            if detail:
                break
        return WarehouseError(
            f"COPY into {failed.table} failed: {error.message}"
            + (f"; load errors: {detail}" if detail else ""),
            table=failed.table,
        )

    # health and queries --------------------------------------------------------

    def check(self) -> None:
        if self._cluster_id is not None:
            self._check_cluster(self._cluster_id)
        with self._session() as conn:
            conn.execute(f"SELECT count(*) FROM {rsql.LEDGER} WHERE false").fetchall()

    def _check_cluster(self, cluster_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._aws is None:
                import boto3

                self._aws = boto3.client("redshift", region_name=self._region)
            clusters = self._aws.describe_clusters(ClusterIdentifier=cluster_id)["Clusters"]
        except (BotoCoreError, ClientError) as exc:
            raise WarehouseUnavailable(f"redshift cluster {cluster_id}: {exc}") from exc
        if not clusters:
            raise WarehouseUnavailable(f"redshift cluster {cluster_id} not found")
        status = clusters[0].get("ClusterStatus")
        availability = clusters[0].get("ClusterAvailabilityStatus")
        if status != "available" or availability not in (None, "Available"):
            raise WarehouseUnavailable(
                f"redshift cluster {cluster_id} is {status!r}"
                + (f" (availability {availability!r})" if availability else ""),
                cluster_status=status,
            )

    def query(self, sql: str, max_rows: int = 10_000) -> QueryResult:
        text = sql.strip().rstrip(";").rstrip()
        # No SQL parser for Redshift here: one statement (no ';' at all, even inside a
        # string: refused, never run) starting with SELECT/WITH, in a READ ONLY txn.
        if ";" in text or not _READ_ONLY.match(text):
            raise BadRequest("only a single read-only SELECT (or WITH ... SELECT) is allowed")
        with self._session() as conn:
            conn.execute("BEGIN READ ONLY")
            try:
                cursor = conn.execute(text)
                columns = [str(d[0]) for d in cursor.description or []]
                rows = cursor.fetchmany(max_rows + 1)
            except psycopg.Error as exc:
                error = _translate(exc)
                if isinstance(error, WarehouseUnavailable):
                    raise error from exc
                raise BadRequest(f"query failed: {exc}") from exc
            finally:
                _rollback(conn)
        return QueryResult(columns, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                conn.close()

    # connections ---------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Connection]:
        """Borrow a connection; driver errors become playlog's. A connection that may
        be broken (``WarehouseUnavailable``) is closed instead of reused."""
        conn = self._checkout()
        keep = False
        try:
            try:
                yield conn
            except psycopg.Error as exc:
                raise _translate(exc) from exc
            keep = True
        except WarehouseUnavailable as exc:
            keep = isinstance(exc, WarehouseConflict)
            raise
        except PlaylogError:
            keep = True
            raise
        finally:
            if keep and not conn.closed:
                with self._lock:
                    self._idle.append(conn)
            else:
                with suppress(Exception):
                    conn.close()

    def _checkout(self) -> Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            conn = self._connect()
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        if not self._ledger_ready:
            # Created on first contact rather than at start-up: a cluster that is down
            # when playlog starts must make it wait, not crash.
            try:
                for statement in ledger_ddl("redshift"):
                    conn.execute(statement)
            except psycopg.Error as exc:
                with suppress(Exception):
                    conn.close()
                raise _translate(exc) from exc
            self._ledger_ready = True
        return conn


class _CopyFailed(Exception):
    def __init__(self, table: str, cause: psycopg.Error) -> None:
        super().__init__(table)
        self.table = table
        self.cause = cause


_READ_ONLY = re.compile(r"\(*\s*(select|with)\b", re.IGNORECASE)
_CONFLICT_TEXT = re.compile(r"serializable isolation violation|^\s*1023\b", re.IGNORECASE)


def _translate(exc: psycopg.Error) -> PlaylogError:
    """Whether to retry follows from the type: conflicts (Redshift's error 1023,
    deadlocks, duplicate keys) retry now, lost connections later, the rest never."""
    text = str(exc).strip() or type(exc).__name__
    detail = exc.diag.message_detail or ""
    if (
        isinstance(
            exc,
            pg_errors.SerializationFailure | pg_errors.DeadlockDetected | pg_errors.UniqueViolation,
        )
        or _CONFLICT_TEXT.search(text)
        or _CONFLICT_TEXT.search(detail)
    ):
        return WarehouseConflict(f"redshift: {text} {detail}".strip())
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return WarehouseUnavailable(f"redshift: {text}")
    return WarehouseError(f"redshift: {text}" + (f" ({detail})" if detail else ""))


def _rollback(conn: Connection) -> None:
    with suppress(psycopg.Error):  # the connection may be gone; nothing was committed
        conn.execute("ROLLBACK")


def _in_transaction(conn: Connection, statements: Sequence[str]) -> None:
    conn.execute("BEGIN")
    try:
        for statement in statements:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
