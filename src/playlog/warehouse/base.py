"""The ``Warehouse`` port: DDL from the registry, transactional loads, read-only SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from playlog.avro.types import Column
from playlog.contracts import CopyTask, FailedEvent


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False  # more rows than max_rows existed


@dataclass(frozen=True)
class QueryLimits:
    """What one user query may take (``POST /v1/query``, ``playlog sql``)."""

    max_rows: int = 10_000  # more rows: the result is truncated (and says so)
    max_bytes: int = 32 * 1024 * 1024  # more: ResultTooLarge (413)
    timeout_s: float = 30.0  # longer: the query is cancelled, QueryTimeout (408)


DEFAULT_LIMITS = QueryLimits()


class FileReader(Protocol):
    def __call__(self, task: CopyTask) -> pa.Table: ...


class Warehouse(Protocol):
    def ensure_table(self, game: str, event_type: str, columns: Sequence[Column]) -> None:
        """CREATE the table, or ALTER it: add missing columns (with their defaults) and
        widen promoted types. Never drops or narrows anything. Idempotent."""

    def drop_game(self, game: str) -> None:
        """DROP every table of ``game`` (its schema, CASCADE). Idempotent."""

    def load(self, tasks: Sequence[CopyTask]) -> list[str]:
        """Load every task not yet in the ledger in ONE transaction, tables in sorted
        order, each with its explicit column list; record them in the ledger in the same
        transaction. A task id given twice loads once. A task that replays a failed
        event (``replay_of``) marks it replayed in the same transaction. Returns the
        ids of the tasks loaded now (skipped ones excluded).

        Raises ``WarehouseUnavailable`` (retry later; nothing committed),
        ``WarehouseConflict`` (retry now) or ``WarehouseError`` (the data is bad)."""

    def record_failed(self, events: Sequence[FailedEvent]) -> list[str]:
        """Insert into ``playlog.failed_events`` every event whose ``source`` is not
        there yet, in ONE transaction; returns the sources inserted now. Recording the
        same dead letter again (a redelivery, a stage's replay) changes nothing.
        Raises like ``load``."""

    def loads_before(
        self, before: dt.datetime, after_task_id: str, limit: int
    ) -> list[tuple[str, str]]:
        """``(task_id, file_key)`` of up to ``limit`` ledger rows loaded before
        ``before`` with a task id after ``after_task_id``, in task-id order."""

    def forget_loads(self, task_ids: Sequence[str]) -> int:
        """Delete these tasks' ledger rows in ONE transaction; how many there were.
        Only ledger retention may call it: a forgotten task would load again."""

    def check(self) -> None:
        """Run a real test query; raise ``WarehouseUnavailable`` (and nothing else: the
        loader's health loop waits on it) when it fails."""

    def query(self, sql: str, limits: QueryLimits = DEFAULT_LIMITS) -> QueryResult:
        """Run one read-only SELECT/WITH statement within ``limits``; anything else
        raises BadRequest (QueryTimeout, ResultTooLarge over the limits)."""

    def close(self) -> None: ...
