"""Test doubles for the ports: ``FakeWarehouse`` keeps the ledger and rows in memory.

    fake = FakeWarehouse(delay_s=0.01)
    fake.down_for(1.0)            # load() and check() raise WarehouseUnavailable
    fake.conflict_on(2, 5)        # the 2nd and 5th load() raise WarehouseConflict
    fake.fail_keys_containing("bad")  # a txn holding such a task raises WarehouseError

Every load is one transaction, all or nothing: failures are raised before anything
changes. Each attempt is recorded (`transactions`) with its task ids, the thread it ran
on and its outcome, and the fake watches concurrency: the most transactions at once,
and any table two transactions held at the same time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from psycopg.pq import TransactionStatus

from playlog.avro.types import Column
from playlog.contracts import CopyTask, FailedEvent
from playlog.errors import WarehouseConflict, WarehouseError, WarehouseUnavailable
from playlog.warehouse.base import DEFAULT_LIMITS, QueryLimits, QueryResult


@dataclass
class Transaction:
    """One call of ``load``."""

    number: int  # 1-based, in call order
    task_ids: tuple[str, ...]
    tables: tuple[str, ...]
    thread: str
    started: float  # time.monotonic()
    ended: float = 0.0
    outcome: str = "running"  # committed / unavailable / conflict / error
    loaded: tuple[str, ...] = ()  # committed: the ids loaded now
    skipped: tuple[str, ...] = ()  # committed: the ids already in the ledger


@dataclass
class FakeWarehouse:
    """The ``Warehouse`` port in memory. ``delay_s`` sleeps inside each transaction;
    ``hook(tasks)`` runs inside it too (it may block, or raise to fail the txn)."""

    delay_s: float = 0.0
    hook: Callable[[Sequence[CopyTask]], None] | None = None
    ledger: set[str] = field(default_factory=set)
    ledger_rows: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)  # key, when
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    loaded: Counter[str] = field(default_factory=Counter)  # task id -> times loaded
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ensure_table
    transactions: list[Transaction] = field(default_factory=list)
    checks: int = 0
    max_concurrent: int = 0
    table_overlaps: list[str] = field(default_factory=list)  # tables held twice at once
    failed: dict[str, FailedEvent] = field(default_factory=dict)  # playlog.failed_events
    max_payload: int | None = None  # a longer failed-event payload: WarehouseError
    max_text: int | None = None  # a longer stage/game/event_type/schema_hash: the same

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._down = False
        self._down_until = 0.0
        self._conflicts: set[int] = set()
        self._poison: list[str] = []
        self._active = 0
        self._held: Counter[str] = Counter()

    # scripting ---------------------------------------------------------------------

    def set_down(self, down: bool) -> None:
        self._down = down

    def down_for(self, seconds: float) -> None:
        self._down_until = time.monotonic() + seconds

    @property
    def is_down(self) -> bool:
        return self._down or time.monotonic() < self._down_until

    def conflict_on(self, *numbers: int) -> None:
        """The ``n``-th calls of ``load`` (1-based, counting every call) conflict."""
        self._conflicts.update(numbers)

    def fail_keys_containing(self, fragment: str) -> None:
        self._poison.append(fragment)

    # queries on what happened --------------------------------------------------------

    def committed(self) -> list[Transaction]:
        with self._lock:
            return [t for t in self.transactions if t.outcome == "committed"]

    def outcomes(self) -> Counter[str]:
        with self._lock:
            return Counter(t.outcome for t in self.transactions)

    def loaded_ids(self) -> set[str]:
        with self._lock:
            return set(self.ledger)

    # the port ------------------------------------------------------------------------

    def ensure_table(self, game: str, event_type: str, columns: Sequence[Column]) -> None:
        with self._lock:
            self.tables[f"{game}.{event_type}"] = tuple(c.name for c in columns)

    def drop_game(self, game: str) -> None:
        with self._lock:
            for table in [t for t in self.tables if t.split(".")[0] == game]:
                del self.tables[table]
                self.rows.pop(table, None)

    def load(self, tasks: Sequence[CopyTask]) -> list[str]:
        tables = tuple(sorted({t.table for t in tasks}))
        with self._lock:
            txn = Transaction(
                number=len(self.transactions) + 1,
                task_ids=tuple(t.task_id for t in tasks),
                tables=tables,
                thread=threading.current_thread().name,
                started=time.monotonic(),
            )
            self.transactions.append(txn)
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
            for table in tables:
                self._held[table] += 1
                if self._held[table] > 1:
                    self.table_overlaps.append(table)
        try:
            return self._run(txn, tasks)
        finally:
            with self._lock:
                self._active -= 1
                for table in tables:
                    self._held[table] -= 1
                txn.ended = time.monotonic()

    def _run(self, txn: Transaction, tasks: Sequence[CopyTask]) -> list[str]:
        try:
            self._before_commit(txn, tasks)
        except (WarehouseUnavailable, WarehouseError) as exc:
            txn.outcome = _outcome(exc)
            raise
        return self._commit(txn, tasks)

    def _before_commit(self, txn: Transaction, tasks: Sequence[CopyTask]) -> None:
        """The injected faults, in the order a real load would meet them."""
        if self.is_down:
            raise WarehouseUnavailable("fake warehouse is down")
        if txn.number in self._conflicts:
            raise WarehouseConflict(f"fake conflict on load {txn.number}")
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.hook is not None:
            self.hook(tasks)
        for task in tasks:
            if any(fragment in task.key for fragment in self._poison):
                raise WarehouseError(f"fake: cannot load {task.key}")
        if self.is_down:  # went down during the transaction: nothing committed
            raise WarehouseUnavailable("fake warehouse went down")

    def _commit(self, txn: Transaction, tasks: Sequence[CopyTask]) -> list[str]:
        with self._lock:  # ledger and rows together, or nothing
            loaded, skipped = [], []
            for task in tasks:
                if task.task_id in self.ledger:
                    skipped.append(task.task_id)
                    continue
                self.ledger.add(task.task_id)
                self.ledger_rows[task.task_id] = (task.key, dt.datetime.now(dt.UTC))
                self.loaded[task.task_id] += 1
                self.rows[task.table] += task.rows
                loaded.append(task.task_id)
            txn.outcome = "committed"
            txn.loaded, txn.skipped = tuple(loaded), tuple(skipped)
        return loaded

    def record_failed(self, events: Sequence[FailedEvent]) -> list[str]:
        if self.is_down:
            raise WarehouseUnavailable("fake warehouse is down")
        limit = self.max_payload
        if limit is not None and any(len(e.payload) > limit for e in events):
            raise WarehouseError(f"value too long for type varbyte({limit})")
        width = self.max_text
        texts = [t for e in events for t in (e.stage, e.game, e.event_type, e.schema_hash)]
        if width is not None and any(len(t) > width for t in texts):
            raise WarehouseError(f"text longer than {width} characters")
        with self._lock:
            new = {e.source: e for e in reversed(events) if e.source not in self.failed}
            self.failed.update(new)
        return sorted(new)

    def loads_before(
        self, before: dt.datetime, after_task_id: str, limit: int
    ) -> list[tuple[str, str]]:
        with self._lock:
            rows = sorted(
                (task_id, key)
                for task_id, (key, loaded_at) in self.ledger_rows.items()
                if loaded_at < before and task_id > after_task_id
            )
        return rows[:limit]

    def forget_loads(self, task_ids: Sequence[str]) -> int:
        with self._lock:
            present = self.ledger.intersection(task_ids)
            self.ledger -= present
            for task_id in present:
                self.ledger_rows.pop(task_id, None)
        return len(present)

    def check(self) -> None:
        with self._lock:
            self.checks += 1
        if self.is_down:
            raise WarehouseUnavailable("fake warehouse is down")

    def query(self, sql: str, limits: QueryLimits = DEFAULT_LIMITS) -> QueryResult:
        """Only ``rows``: one row per table with its row count."""
        with self._lock:
            rows = sorted(self.rows.items())[: limits.max_rows]
        return QueryResult(["table", "rows"], [tuple(r) for r in rows])

    def close(self) -> None:
        pass


class RecordingConnection:
    """A psycopg connection that records every statement instead of running it (no
    Redshift cluster exists here). Knows the ledger (``done``), canned answers by
    statement prefix, tracks BEGIN/COMMIT/ROLLBACK like ``info.transaction_status``,
    and raises ``fail[1]`` for every statement containing ``fail[0]``."""

    def __init__(
        self,
        done: Sequence[str] = (),
        answers: dict[str, list[tuple[Any, ...]]] | None = None,
        fail: tuple[str, Exception] | None = None,
    ) -> None:
        self.statements: list[str] = []
        self.params: list[tuple[Any, ...]] = []
        self.done = set(done)
        self.answers = answers or {}
        self.fail = fail
        self.closed = False
        self.broken = False
        self.info = SimpleNamespace(transaction_status=TransactionStatus.IDLE)
        self.description: list[tuple[str]] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, query: str, params: Sequence[Any] | None = None) -> RecordingConnection:
        self.statements.append(query)
        self.params.append(tuple(params or ()))
        word = query.split(" ", 1)[0].upper()
        if word in ("BEGIN", "COMMIT", "ROLLBACK"):
            idle = word != "BEGIN"
            status = TransactionStatus.IDLE if idle else TransactionStatus.INTRANS
            self.info.transaction_status = status
        if self.fail is not None and self.fail[0] in query:
            raise self.fail[1]
        self._rows = []
        if query.startswith('INSERT INTO "playlog"."load_ledger"'):
            self.done.update(str(v) for v in tuple(params or ())[::4])
        if query.startswith("SELECT task_id FROM"):
            self._rows = [(i,) for i in params or () if i in self.done]
        for prefix, rows in self.answers.items():
            if query.startswith(prefix):
                self._rows = rows
                self.description = [(f"c{i}",) for i in range(len(rows[0]))] if rows else []
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def fetchmany(self, size: int = 0) -> list[tuple[Any, ...]]:
        taken, self._rows = self._rows[:size], self._rows[size:]  # a cursor moves on
        return taken

    def close(self) -> None:
        self.closed = True


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def get(self, key: str) -> bytes:
        return self.objects[key]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def uri(self, key: str) -> str:
        return f"s3://bkt/{key}"

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        yield from sorted(k for k in self.objects if k.startswith(prefix))


def _outcome(exc: Exception) -> str:
    if isinstance(exc, WarehouseConflict):
        return "conflict"
    return "unavailable" if isinstance(exc, WarehouseUnavailable) else "error"
