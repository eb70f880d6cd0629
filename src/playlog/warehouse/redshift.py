"""Amazon Redshift as warehouse: PostgreSQL's adapter (pool, checks, the algorithm of
``SqlWarehouse``) with Redshift's types, errors, COPY and health check.

    wh = RedshiftWarehouse.from_settings(settings.warehouse, store)
    wh.load(tasks)   # BEGIN; LOCK tables; ledger lookup; one COPY per (table, columns);
                     # ledger rows; COMMIT

Batch files are COPYed by Redshift itself from S3, listed in a manifest the adapter
writes to the object store first; the SQL is in ``redshift_sql``. DDL commits
statement by statement (no advisory locks on Redshift). Health is a real query plus,
when ``cluster_id`` is set, the cluster's status from the Redshift API: a cluster that
is paused, resizing or in maintenance is unhealthy even if a stale connection answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from playlog.avro.types import Column
from playlog.contracts import CopyTask
from playlog.errors import (
    ConfigError,
    TransientError,
    WarehouseConflict,
    WarehouseError,
    WarehouseUnavailable,
)
from playlog.settings import WarehouseSettings
from playlog.storage.base import ObjectStore
from playlog.warehouse import redshift_sql as rsql
from playlog.warehouse.dberrors import ErrorTable
from playlog.warehouse.postgres import NOT_THE_DATA, POSTGRES_ERRORS, Conn, PostgresWarehouse
from playlog.warehouse.sql import TaskGroup
from playlog.warehouse.sqlbase import SqlWarehouse
from playlog.warehouse.types import RedshiftTypes

# Conflicts (Redshift's error 1023, deadlocks, duplicate keys) retry now, lost
# connections later, the rest never.
REDSHIFT_ERRORS = ErrorTable(
    vendor="redshift",
    driver=(psycopg.Error,),
    rules=[
        (
            (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.UniqueViolation),
            WarehouseConflict,
        ),
        ((psycopg.OperationalError, psycopg.InterfaceError, *NOT_THE_DATA), WarehouseUnavailable),
    ],
    otherwise=WarehouseError,
    conflict_text=re.compile(r"serializable isolation violation|^\s*1023\b", re.IGNORECASE),
    query_mistakes=POSTGRES_ERRORS.query_mistakes,
    query_outages=POSTGRES_ERRORS.query_outages,
)


class RedshiftWarehouse(PostgresWarehouse):
    dialect = "redshift"
    types = RedshiftTypes()
    errors = REDSHIFT_ERRORS
    reads_batch_files = False  # its COPY reads the files from S3 itself
    now_sql = "SYSDATE"  # the transaction's start, UTC

    def __init__(
        self,
        connect: Callable[[], Conn],
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
        # Not PostgresWarehouse.__init__: that one builds ``connect`` from a DSN and
        # connects at once; a Redshift cluster is first contacted on first use.
        self._open(store, connect, max_idle=8)
        self._cluster_id = cluster_id
        self._region = region
        self._aws = redshift_client
        self._credentials = (iam_role, access_key_id, secret_access_key, session_token)
        if store is not None:
            try:  # fail at start-up, not on the first batch
                rsql.authorization_sql(*self._credentials)
            except ValueError as exc:
                raise ConfigError(f"redshift COPY credentials: {exc}") from exc

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

        def connect() -> Conn:
            # prepare_threshold=None: psycopg would otherwise PREPARE/DEALLOCATE, which
            # Redshift does not fully support. connect_timeout: a paused cluster must
            # fail the health check, not hang it.
            conn: Conn = psycopg.connect(
                dsn, autocommit=True, prepare_threshold=None, connect_timeout=10
            )
            try:
                conn.execute(f"SET statement_timeout TO {timeout_ms}")
            except BaseException:
                conn.close()
                raise
            return conn

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

    # what Redshift does differently --------------------------------------------------

    def _ddl_transaction(self, conn: Conn) -> AbstractContextManager[None]:
        return nullcontext()  # autocommit: each CREATE/ALTER is its own transaction

    def _widen_column(self, conn: Conn, table: str, column: Column) -> None:
        with self._transaction(conn):
            for statement in rsql.widen_column_sql(table, column):
                self._execute(conn, statement)

    def _lock_for_load(self, conn: Conn, tables: Sequence[str]) -> None:
        self._execute(conn, rsql.lock_sql(tables))

    # A plain cursor (PostgreSQL's server-side one is not used on Redshift).
    _fetch = SqlWarehouse._fetch
    # COPY from S3 reads the columns by name: no type oids to learn first.
    _before_copies = SqlWarehouse._before_copies

    def copy_group(self, conn: Conn, group: TaskGroup) -> None:
        manifest = self._write_manifest(group.tasks)
        statement = rsql.copy_sql(group.table, group.columns, manifest, *self._credentials)
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            raise _CopyFailed(f"{group.game}.{group.event_type}", exc) from exc

    def _write_manifest(self, group: Sequence[CopyTask]) -> str:
        assert self._store is not None
        for task in group:
            if not task.uri.startswith("s3://"):
                raise WarehouseError(f"Redshift COPYs only from S3, not {task.uri!r}")
        key = rsql.manifest_key([t.task_id for t in group])
        # Not deleted after the load: a loader racing on a redelivered batch may still
        # read it. Expire the _manifests/ prefix with an S3 lifecycle rule.
        manifest = rsql.manifest_json([t.uri for t in group], [t.bytes for t in group])
        try:
            self._store.put(key, manifest)
        except TransientError as exc:
            raise WarehouseUnavailable(f"object store: {exc}") from exc
        return self._store.uri(key)

    def _after_failed_load(self, conn: Conn, exc: Exception) -> None:
        """A retryable COPY failure stays retryable; a data failure carries Redshift's
        reasons, read from the load-error views of the session's last COPY."""
        if not isinstance(exc, _CopyFailed):
            return
        error = self.errors.translate(exc.cause)
        if type(error) is WarehouseError:
            detail = ""
            for sql in (rsql.LOAD_ERRORS_SQL, rsql.STL_LOAD_ERRORS_SQL):
                with suppress(psycopg.Error):  # a view may be missing or not visible to us
                    detail = rsql.format_load_errors(self._select(conn, sql))
                if detail:
                    break
            error = WarehouseError(
                f"COPY into {exc.table} failed: {error.message}"
                + (f"; load errors: {detail}" if detail else ""),
                table=exc.table,
            )
        raise error from exc.cause

    def check(self) -> None:
        if self._cluster_id is not None:
            self._check_cluster(self._cluster_id)
        super().check()

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


class _CopyFailed(Exception):
    def __init__(self, table: str, cause: psycopg.Error) -> None:
        super().__init__(table)
        self.table = table
        self.cause = cause
