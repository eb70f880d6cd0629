"""The algorithm every SQL warehouse shares; a dialect supplies only what differs.

    class MyWarehouse(SqlWarehouse[Conn]):
        types = MyTypes()            # column kinds -> SQL types
        errors = MY_ERRORS           # driver errors -> playlog's
        def _borrow(self, work): ... # run work(conn) on a connection
        def copy_group(self, conn, group): ...  # one COPY of a TaskGroup

``load`` is: dedupe task ids -> BEGIN -> lock hook -> ledger lookup -> tasks grouped per
(table, column list) in sorted order -> ``copy_group`` per group -> ledger rows ->
COMMIT. ``ensure_table`` is the idempotent create/alter plan of ``sql``. ``query``
runs one statement that ``sqlcheck`` lets through, in a read-only transaction that is
rolled back. ``loads_before``/``forget_loads`` page and delete ledger rows (ledger
retention, load/ledger.py). ``check`` raises ``WarehouseUnavailable`` and nothing
else. Models: dlt's ``SqlClientBase`` and quix-streams' ``BatchingSink`` (the base
batches, a sink writes).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import pyarrow as pa

from playlog.avro.types import Column
from playlog.contracts import CopyTask, FailedEvent
from playlog.errors import (
    BadRequest,
    ClientError,
    PlaylogError,
    QueryTimeout,
    WarehouseError,
    WarehouseUnavailable,
)
from playlog.names import quote, quoted_table
from playlog.storage.base import ObjectStore
from playlog.warehouse import sql as sqltext
from playlog.warehouse.base import DEFAULT_LIMITS, QueryLimits, QueryResult
from playlog.warehouse.dberrors import ErrorTable
from playlog.warehouse.files import BatchFiles, arrow_of_sql, narrower_than
from playlog.warehouse.prefetch import Prefetched
from playlog.warehouse.sql import TaskGroup
from playlog.warehouse.sqlcheck import single_select
from playlog.warehouse.types import TypeMapper
from playlog.warehouse.userquery import Deadline, take_rows

log = logging.getLogger("playlog.warehouse")
T = TypeVar("T")
_HEALTH_SQL = f"SELECT count(*) FROM {sqltext.LEDGER} WHERE false"


class DbConnection(Protocol):
    """What the base needs of a connection (or DuckDB cursor): DB-API ``execute``."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


C = TypeVar("C", bound=DbConnection)


class SqlWarehouse(Generic[C]):
    types: ClassVar[TypeMapper]
    errors: ClassVar[ErrorTable]
    placeholder: ClassVar[str] = "%s"
    now_sql: ClassVar[str] = "now()"
    begin_read_only: ClassVar[str] = "BEGIN READ ONLY"

    # Whether ``copy_group`` reads the batch files itself (Redshift's COPY reads S3).
    reads_batch_files: ClassVar[bool] = True

    def __init__(self, store: ObjectStore | None) -> None:
        self._store = store
        self._prefetched = threading.local()  # per load worker: its transaction's files
        self._ddl_lock = threading.Lock()
        # {quoted table: {column: Arrow type}} of the columns a promotion can widen;
        # dropped after an ALTER or a failed load, refreshed when a file is wider.
        self._widths: dict[str, dict[str, pa.DataType]] = {}

    # hooks -----------------------------------------------------------------------

    def _borrow(self, work: Callable[[C], T]) -> T:
        """``work`` on a connection of this warehouse. ``work`` raises playlog errors;
        opening a connection may raise the driver's."""
        raise NotImplementedError

    def copy_group(self, conn: C, group: TaskGroup) -> None:
        """Load the group's files (one table, one column list) inside the transaction."""
        raise NotImplementedError

    def batch_files(self) -> BatchFiles:
        """Where ``copy_group`` reads a task's file: the load's files fetched ahead."""
        assert self._store is not None
        files: BatchFiles | None = getattr(self._prefetched, "files", None)
        return self._store if files is None else files

    def _before_copies(self, conn: C, groups: Sequence[TaskGroup]) -> None:
        """In the load's transaction, before the first ``copy_group``."""

    def _lock_for_load(self, conn: C, tables: Sequence[str]) -> None:
        """After BEGIN, before the ledger lookup (quoted table names, sorted)."""

    def _ddl_transaction(self, conn: C) -> AbstractContextManager[None]:
        """All DDL of one version in one transaction: a failure midway adds nothing."""
        return self._transaction(conn)

    def _widen_column(self, conn: C, table: str, column: Column) -> None:
        self._execute(conn, sqltext.alter_type_sql(table, column, self.types))

    def _after_failed_load(self, conn: C, exc: Exception) -> None:
        """Called after the ROLLBACK of a failed load; may raise a better error."""

    def _run_query(self, work: Callable[[C], T]) -> T:
        return self._run(work)

    def _validate_select(self, statement: str) -> None:
        """A dialect's own parser may refuse more than ``sqlcheck`` does."""

    def _fetch(self, conn: C, statement: str, take: Callable[[Any], T]) -> tuple[list[str], T]:
        """The statement's column names and what ``take`` makes of its cursor."""
        cursor = conn.execute(statement)
        return [str(d[0]) for d in cursor.description or []], take(cursor)

    def _interrupt(self, conn: C) -> None:
        """Cancel what ``conn`` runs now (called from another thread at a deadline)."""

    # helpers ---------------------------------------------------------------------

    def _execute(self, conn: C, statement: str, params: Sequence[Any] | None = None) -> None:
        if params is None:
            conn.execute(statement)
        else:
            conn.execute(statement, params)

    def _select(
        self, conn: C, statement: str, params: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        cursor = conn.execute(statement) if params is None else conn.execute(statement, params)
        return [tuple(row) for row in cursor.fetchall()]

    def _run(self, work: Callable[[C], T]) -> T:
        """``work`` on a borrowed connection, every driver error translated."""

        def translated(conn: C) -> T:
            with self.errors.translated():
                return work(conn)

        with self.errors.translated():
            return self._borrow(translated)

    @contextmanager
    def _transaction(self, conn: C, begin: str = "BEGIN", commit: bool = True) -> Iterator[None]:
        self._execute(conn, begin)
        try:
            yield
        except BaseException:
            self._rollback(conn)
            raise
        if commit:
            self._execute(conn, "COMMIT")
        else:
            self._rollback(conn)

    def _rollback(self, conn: C) -> None:
        with suppress(*self.errors.driver):  # the connection may be gone; nothing committed
            self._execute(conn, "ROLLBACK")

    def _column_widths(
        self, conn: C, group: TaskGroup, files: Sequence[pa.Table]
    ) -> dict[str, pa.DataType]:
        """The Arrow types the group's table holds now, for the columns a promotion
        widens: what files of older versions are cast to before they combine."""
        known = self._widths.get(group.table)
        if known is None or any(narrower_than(f, known) for f in files):
            query = sqltext.columns_sql(self.placeholder)
            rows = self._select(conn, query, [group.game, group.event_type])
            known = self._widths[group.table] = _widths_of(rows)
        return known

    def _learn_widths(self, conn: C, groups: Sequence[TaskGroup]) -> None:
        """``_column_widths`` of every table of ``groups`` not known yet, in one query:
        one per table was a fifth of a first load of 70 tables (DuckDB)."""
        new = {(g.game, g.event_type): g.table for g in groups if g.table not in self._widths}
        if not new:
            return
        query = sqltext.tables_columns_sql(len(new), self.placeholder)
        found: dict[tuple[str, str], list[tuple[Any, ...]]] = {key: [] for key in new}
        for game, event_type, name, kind in self._select(conn, query, [*itertools.chain(*new)]):
            found[(str(game), str(event_type))].append((name, kind))
        for key, rows in found.items():
            self._widths[new[key]] = _widths_of(rows)

    def _create_ledger(self, conn: C) -> None:
        with self._ddl_transaction(conn):
            for statement in sqltext.ledger_ddl(self.types):
                self._execute(conn, statement)

    # the port ----------------------------------------------------------------------

    def ensure_table(self, game: str, event_type: str, columns: Sequence[Column]) -> None:
        table = quoted_table(game, event_type)

        def work(conn: C) -> None:
            with self._ddl_transaction(conn):
                query = sqltext.columns_sql(self.placeholder)
                existing = dict(self._select(conn, query, [game, event_type]))
                if not existing:
                    self._execute(conn, f"CREATE SCHEMA IF NOT EXISTS {quote(game)}")
                    self._execute(conn, sqltext.create_table_sql(table, columns, self.types))
                    log.info("created table %s.%s", game, event_type)
                    return
                add, widen = sqltext.alter_plan(existing, columns, self.types)
                for column in add:
                    self._execute(conn, sqltext.add_column_sql(table, column, self.types))
                    log.info("table %s.%s: added column %s", game, event_type, column.name)
                for column in widen:
                    self._widen_column(conn, table, column)
                    log.info("table %s.%s: widened column %s", game, event_type, column.name)

        with self._ddl_lock:
            try:
                self._run(work)
            finally:
                self._widths.pop(table, None)

    def drop_game(self, game: str) -> None:
        def work(conn: C) -> None:
            with self._ddl_transaction(conn):
                self._execute(conn, f"DROP SCHEMA IF EXISTS {quote(game)} CASCADE")

        with self._ddl_lock:
            try:
                self._run(work)
            finally:
                self._widths.clear()  # keyed by table; a new game of that name starts anew

    def load(self, tasks: Sequence[CopyTask]) -> list[str]:
        if self._store is None:
            raise WarehouseError("this warehouse was opened without an object store")
        # A task redelivered twice into one batch must load (and enter the ledger) once.
        unique = list({t.task_id: t for t in tasks}.values())

        def work(conn: C) -> list[str]:
            try:
                with self._transaction(conn):
                    return self._load_in_transaction(conn, unique)
            except Exception as exc:
                self._widths.clear()  # a table may have changed under us
                self._after_failed_load(conn, exc)
                raise

        return self._run(work)

    def _load_in_transaction(self, conn: C, tasks: Sequence[CopyTask]) -> list[str]:
        if not tasks:
            return []
        tables = {quoted_table(t.game, t.event_type) for t in tasks}
        replays = sorted({t.replay_of for t in tasks if t.replay_of})
        self._lock_for_load(conn, sorted(tables | ({sqltext.FAILED} if replays else set())))
        ids = [t.task_id for t in tasks]
        lookup = sqltext.ledger_lookup_sql(len(ids), self.placeholder)
        done = {row[0] for row in self._select(conn, lookup, ids)}
        todo = [t for t in tasks if t.task_id not in done]
        groups = sqltext.group_tasks(todo)
        if self.reads_batch_files and self._store is not None:
            keys = [t.key for group in groups for t in group.tasks]
            self._prefetched.files = Prefetched(self._store, keys)
        try:
            self._before_copies(conn, groups)
            for group in groups:
                self.copy_group(conn, group)
        finally:
            self._prefetched.files = None
        if todo:
            # The primary key turns a racing loader's duplicate into a conflict;
            # inserting in id order makes two such loaders wait, not deadlock.
            rows = sorted((t.task_id, t.table, t.key, t.rows) for t in todo)
            insert = sqltext.ledger_insert_sql(len(rows), self.placeholder, self.now_sql)
            self._execute(conn, insert, [v for row in rows for v in row])
        # Marked in the transaction that loads the replay; a replay the ledger skips
        # (its file loaded already, e.g. by ``reconcile --apply``) is marked too, else
        # every ``playlog replay`` would send it again. Marking is once: see the SQL.
        if replays:
            mark = sqltext.failed_mark_sql(len(replays), self.placeholder, self.now_sql)
            self._execute(conn, mark, replays)
        return [t.task_id for t in todo]

    def record_failed(self, events: Sequence[FailedEvent]) -> list[str]:
        # The first of each source wins, as the table's key would have it.
        unique = list({e.source: e for e in reversed(events)}.values())

        def work(conn: C) -> list[str]:
            with self._transaction(conn):
                return self._record_failed_in_transaction(conn, unique)

        return self._run(work) if unique else []

    def _record_failed_in_transaction(self, conn: C, events: Sequence[FailedEvent]) -> list[str]:
        self._lock_for_load(conn, [sqltext.FAILED])
        sources = [e.source for e in events]
        lookup = sqltext.failed_lookup_sql(len(sources), self.placeholder)
        present = {row[0] for row in self._select(conn, lookup, sources)}
        new = sorted((e for e in events if e.source not in present), key=lambda e: e.source)
        if new:
            insert = sqltext.failed_insert_sql(len(new), self.placeholder)
            self._execute(conn, insert, [v for e in new for v in sqltext.failed_row(e, self.types)])
        return [e.source for e in new]

    def loads_before(
        self, before: dt.datetime, after_task_id: str, limit: int
    ) -> list[tuple[str, str]]:
        page = sqltext.ledger_page_sql(limit, self.placeholder)
        rows = self._run(lambda conn: self._select(conn, page, [before, after_task_id]))
        return [(str(task_id), str(key)) for task_id, key in rows]

    def forget_loads(self, task_ids: Sequence[str]) -> int:
        def work(conn: C) -> int:
            with self._transaction(conn):
                lookup = sqltext.ledger_lookup_sql(len(task_ids), self.placeholder)
                present = [row[0] for row in self._select(conn, lookup, task_ids)]
                if present:
                    delete = sqltext.ledger_delete_sql(len(present), self.placeholder)
                    self._execute(conn, delete, present)
                return len(present)

        return self._run(work) if task_ids else 0

    def check(self) -> None:
        try:
            self._run(lambda conn: self._select(conn, _HEALTH_SQL))
        except WarehouseUnavailable:
            raise
        except Exception as exc:
            # The loader's health loop waits on WarehouseUnavailable only: anything
            # else from a health check would end it.
            message = exc.message if isinstance(exc, PlaylogError) else repr(exc)
            raise WarehouseUnavailable(f"{self.errors.vendor}: {message}") from exc

    def query(self, sql: str, limits: QueryLimits = DEFAULT_LIMITS) -> QueryResult:
        statement = single_select(sql)
        self._validate_select(statement)
        deadline = Deadline(limits.timeout_s)

        def work(conn: C) -> tuple[list[str], tuple[list[Any], bool]]:
            with (
                self._transaction(conn, self.begin_read_only, commit=False),
                deadline.armed(lambda: self._interrupt(conn)),
            ):
                return self._fetch(conn, statement, lambda cursor: take_rows(cursor, limits))

        try:
            columns, (rows, truncated) = self._run_query(work)
        except ClientError:
            raise
        except PlaylogError as exc:
            if deadline.expired:
                raise QueryTimeout(
                    f"the query ran longer than {limits.timeout_s:g} s (query.timeout_s) and "
                    "was cancelled",
                    limit_s=limits.timeout_s,
                ) from exc
            if self.errors.is_outage(exc):
                raise
            raise BadRequest(f"query failed: {exc.__cause__ or exc}") from exc
        return QueryResult(columns, [tuple(r) for r in rows], truncated)


def _widths_of(rows: Iterable[tuple[Any, ...]]) -> dict[str, pa.DataType]:
    """``(column, information_schema type)`` rows -> the Arrow types of those a
    promotion can widen."""
    arrow = {str(name): arrow_of_sql(str(kind)) for name, kind in rows}
    return {name: kind for name, kind in arrow.items() if kind is not None}
