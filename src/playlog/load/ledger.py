"""Ledger retention: old ledger rows go, exactly-once stays.

    compact_ledger(warehouse, store, ledger_cutoff(settings, now))

A ledger row is what keeps a COPY task from loading twice, so one is deleted only
when nothing can bring its task back:

* its file is gone from the object store (a lifecycle rule, an operator): while the
  file is there, a redelivered task, a rewritten file or ``playlog reconcile`` would
  find no row and load it again, so its row stays, however old;
* it is older than ``load.ledger_retention_hours``, which the settings refuse below
  the data topic's and the copy topic's retention: the task is no longer on the copy
  topic, and the records it was made of are gone from the data topic, so neither a
  redelivery nor the processor re-running the range can make the task again.

A task that still turned up (a copy topic restored from a backup) finds no file and
pauses the loader with "batch file missing": an operator's matter, never a second copy.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from playlog.errors import PlaylogError
from playlog.settings import Settings
from playlog.storage.base import ObjectStore
from playlog.supervisor import Stage
from playlog.warehouse.base import Warehouse

log = logging.getLogger("playlog.load")
COMPACT_EVERY_S = 3600.0
PAGE = 1_000  # ledger rows per page (and per DELETE)


@dataclass(frozen=True)
class Compaction:
    scanned: int  # rows older than the cutoff
    forgotten: int  # of those, deleted: their file was gone


def ledger_cutoff(settings: Settings, now: dt.datetime) -> dt.datetime | None:
    """Rows loaded before this may go; None: ledger retention is off (the default)."""
    hours = settings.load.ledger_retention_hours
    return None if hours is None else now - dt.timedelta(hours=hours)


def compact_ledger(
    warehouse: Warehouse, store: ObjectStore, before: dt.datetime, page: int = PAGE
) -> Compaction:
    """Delete the ledger rows loaded before ``before`` whose file the store lost."""
    scanned = forgotten = 0
    after = ""
    while rows := warehouse.loads_before(before, after, page):
        scanned += len(rows)
        gone = [task_id for task_id, key in rows if not store.exists(key)]
        if gone:
            forgotten += warehouse.forget_loads(gone)
        after = rows[-1][0]
    return Compaction(scanned, forgotten)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ledger_retention(
    settings: Settings,
    warehouse: Warehouse,
    store: ObjectStore,
    every_s: float = COMPACT_EVERY_S,
    now: Callable[[], dt.datetime] = _utc_now,
) -> Stage:
    """A stage compacting the ledger every ``every_s`` (when a retention is set)."""

    def compact(stop: threading.Event) -> None:
        while not stop.wait(every_s):
            cutoff = ledger_cutoff(settings, now())
            if cutoff is None:
                continue
            try:
                done = compact_ledger(warehouse, store, cutoff)
            except PlaylogError as exc:
                log.warning("ledger retention: %s", exc)
                continue
            if done.forgotten:
                log.info(
                    "ledger retention: deleted %d of %d old rows", done.forgotten, done.scanned
                )

    return compact
