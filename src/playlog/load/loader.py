"""The loader: COPY tasks from the copy topic into the warehouse, fault-tolerantly.

    poll (bounded in flight) -> worker = hash(table) % workers -> batch (max tasks,
    max wait) -> one transaction per batch -> mark done -> commit lowest not-done

* Backpressure: at ``max_in_flight`` unfinished tasks the subscription is paused
  (and still polled, so the group keeps us), never buffered without bound.
* No deadlocks: a table always goes to the same worker, and each transaction takes
  its tables in sorted order; a conflict that still happens is retried.
* Failing: a batch failing with a ``TransientError`` (warehouse down, permission
  denied, table or batch file missing, disk full, a failed COMMIT) or with an error
  nobody expected pauses consumption and reports ``failing`` with its reason
  (``failures``); the worker probes the warehouse with a real test query, then
  retries the same batch with exponential backoff until it commits.
* Only a ``WarehouseError`` (the data) splits a batch in halves until the bad task is
  alone; that task goes to the dead-letter topic with the database's message, the
  rest load.
* The log failing (a commit racing a rebalance, a poll during a broker failover) is
  logged and retried on the next round; the offsets are offered again, never moved
  backwards.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from playlog.contracts import REPLAY_OF, CopyTask
from playlog.errors import (
    CorruptRecord,
    RecordsExpired,
    TransientError,
    WarehouseConflict,
    WarehouseError,
    WarehouseUnavailable,
)
from playlog.load.failures import Failures
from playlog.load.offsets import OffsetTracker
from playlog.log.base import Log, Record, Subscription, dead_letter
from playlog.monitor import metrics
from playlog.settings import Settings
from playlog.warehouse.base import Warehouse

log = logging.getLogger("playlog.load")


@dataclass(frozen=True)
class _Item:
    record: Record
    task: CopyTask


class Loader:
    def __init__(self, settings: Settings, log_: Log, warehouse: Warehouse) -> None:
        self._settings = settings.load
        self._copy_topic = settings.log.copy_topic
        self._dead_topic = settings.log.dead_letter_topic
        self._heartbeat_s = settings.monitor.heartbeat_interval_s
        self._log = log_
        self._warehouse = warehouse
        self._tracker = OffsetTracker()
        self._healthy = threading.Event()
        self._healthy.set()
        self._health_lock = threading.Lock()
        self._idle_check = threading.Event()  # an idle probe is running
        self._failures = Failures()
        self._queues: list[queue.Queue[_Item]] = [
            queue.Queue() for _ in range(self._settings.workers)
        ]
        self.state = "stopped"

    # the consuming loop ---------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        subscription = self._log.subscribe(self._settings.group, self._copy_topic)
        # Workers stop on ``halt``, set once this loop ends for any reason: joining
        # them on ``stop`` alone would hang forever when the loop raises.
        halt = threading.Event()
        workers = [
            threading.Thread(target=self._work, args=(i, halt), name=f"load-worker-{i}")
            for i in range(self._settings.workers)
        ]
        for worker in workers:
            worker.start()
        paused = False
        last_heartbeat = 0.0
        log.info("loader started: %d workers", len(workers))
        try:
            while not stop.is_set():
                if not all(worker.is_alive() for worker in workers):
                    # Its tasks would stay in flight forever: fail loudly, restart clean.
                    raise RuntimeError("a load worker died (its error is logged above)")
                in_flight = self._tracker.in_flight()
                metrics.LOAD_IN_FLIGHT.set(in_flight)
                retrying = not self._healthy.is_set() or self._failures.active()
                should_pause = retrying or in_flight >= self._settings.max_in_flight
                if should_pause != paused:
                    (subscription.pause if should_pause else subscription.resume)()
                    paused = should_pause
                failing = retrying or self._failures.failing()
                self._set_state("failing" if failing else "paused" if paused else "consuming")
                self._poll_and_commit(subscription, in_flight, stop)
                if time.monotonic() - last_heartbeat >= self._heartbeat_s:
                    last_heartbeat = time.monotonic()
                    self._heartbeat(in_flight)
                    if in_flight == 0:
                        self._check_while_idle(stop)
        finally:
            halt.set()
            for worker in workers:
                worker.join()
            try:
                self._commit(subscription)
            finally:
                subscription.close()
                self._failures.reset()
                self._set_state("stopped")
                log.info("loader stopped")

    def _poll_and_commit(
        self, subscription: Subscription, in_flight: int, stop: threading.Event
    ) -> None:
        """One round. The log failing (a rebalance under way, a broker failing over) is
        no reason to stop: the next round polls again and offers the offsets again."""
        room = max(1, self._settings.max_in_flight - in_flight)
        try:
            for record in subscription.poll(min(room, 1000), 0.2):
                self._dispatch(record, stop)
        except TransientError as exc:
            log.warning("copy-topic poll failed, polling again: %s", exc)
            stop.wait(0.2)
        except RecordsExpired as exc:
            # Never skip: that partition stays stopped (the subscription keeps it
            # paused), every other one loads on, and the loader says why it fails.
            log.error("copy topic: %s; that partition is stopped until an operator acts", exc)
            self._failures.gap(exc)
        self._tracker.forget(subscription.assignment())
        self._commit(subscription)

    def _commit(self, subscription: Subscription) -> None:
        offsets = self._tracker.to_commit()
        if not offsets:
            return
        try:
            subscription.commit(offsets)
        except TransientError as exc:
            # Nothing is lost: these tasks are in the warehouse; at worst a restart
            # redelivers them and the ledger skips them.
            self._tracker.failed(offsets)
            log.warning("offset commit failed, retrying after the next poll: %s", exc)

    def _dispatch(self, record: Record, stop: threading.Event) -> None:
        self._tracker.add(record.partition, record.offset)
        try:
            task = CopyTask.from_json(record.value)
        except CorruptRecord as exc:
            self._dead_letter(record, exc, stop)
            return
        worker = zlib.crc32(task.table.encode()) % len(self._queues)
        self._queues[worker].put(_Item(record, task))

    def _heartbeat(self, in_flight: int) -> None:
        metrics.HEARTBEAT.labels(stage="load").set_to_current_time()
        # debug: a line every heartbeat drowns the state changes INFO is for
        log.debug("loader heartbeat: state=%s in_flight=%d", self.state, in_flight)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            log.info("loader state: %s -> %s", self.state, state)
            self.state = state
            metrics.set_loader_state(state)

    # workers --------------------------------------------------------------------

    def _work(self, index: int, stop: threading.Event) -> None:
        inbox = self._queues[index]
        while not stop.is_set():
            batch = self._next_batch(inbox, stop)
            if batch:
                self._load(batch, stop)

    def _next_batch(self, inbox: queue.Queue[_Item], stop: threading.Event) -> list[_Item]:
        """Up to ``max_tasks_per_txn`` tasks, waiting at most ``max_wait_s`` after the
        first: each commit queues in the warehouse, so fewer, fuller ones win. A pause
        of ``batch_gap_s`` closes the batch early: a processor batch's tasks arrive
        together (measured: waiting out 0.5 s after them was a sixth of the time
        `playlog up` took to load a 210k-event backlog)."""
        try:
            batch = [inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._settings.max_wait_s
        gap = self._settings.batch_gap_s
        while len(batch) < self._settings.max_tasks_per_txn and not stop.is_set():
            try:
                wait = min(gap, max(0.0, deadline - time.monotonic()))
                batch.append(inbox.get(timeout=wait))
            except queue.Empty:
                break
        return batch

    def _load(self, batch: Sequence[_Item], stop: threading.Event) -> None:
        """Load ``batch`` until it commits; mark its tasks done only then."""
        attempt = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                loaded = set(self._warehouse.load([item.task for item in batch]))
            except WarehouseConflict as exc:
                metrics.LOAD_TRANSACTIONS.labels(outcome="conflict").inc()
                log.warning("load conflict, retrying: %s", exc)
                stop.wait(0.05)
                continue
            except WarehouseError as exc:
                metrics.LOAD_TRANSACTIONS.labels(outcome="error").inc()
                self._failures.clear()
                self._isolate(batch, exc, stop)
                return
            except Exception as exc:  # TransientError, or a failure nobody expected
                metrics.LOAD_TRANSACTIONS.labels(outcome="unavailable").inc()
                attempt += 1
                self._retry_later(exc, attempt, stop)
                continue
            metrics.LOAD_TRANSACTIONS.labels(outcome="committed").inc()
            metrics.WAREHOUSE_UP.set(1)
            metrics.LOAD_SECONDS.observe(time.monotonic() - started)
            self._failures.clear()
            self._record_done(batch, loaded)
            return

    def _retry_later(self, exc: Exception, attempt: int, stop: threading.Event) -> None:
        """Report ``failing`` with ``exc``, wait until the warehouse answers a real test
        query, then back off more with each failed attempt of the same batch: a revoked
        grant or a missing file passes the test query, and must not be hammered."""
        if isinstance(exc, TransientError):
            log.error("load failed, will retry (attempt %d): %s", attempt, exc)
        else:
            log.exception("load failed unexpectedly, will retry (attempt %d)", attempt)
        self._failures.fail(exc)
        self._wait_until_healthy(exc, stop)
        interval = self._settings.health_interval_s
        stop.wait(min(interval * (2 ** (attempt - 1) - 1), self._settings.max_backoff_s))

    def _isolate(self, batch: Sequence[_Item], exc: WarehouseError, stop: threading.Event) -> None:
        if len(batch) == 1:
            log.error("task %s cannot be loaded: %s", batch[0].task.key, exc)
            self._dead_letter(batch[0].record, exc, stop, batch[0].task)
            return
        half = len(batch) // 2
        self._load(batch[:half], stop)
        self._load(batch[half:], stop)

    def _record_done(self, batch: Sequence[_Item], loaded: set[str]) -> None:
        for item in batch:
            task = item.task
            if task.task_id in loaded:
                metrics.LOAD_TASKS.inc()
                metrics.count_loaded(task.table, task.rows, task.received_max_ms)
            else:
                metrics.LOAD_SKIPPED.inc()
            self._tracker.done(item.record.partition, item.record.offset)

    def _dead_letter(
        self, record: Record, exc: Exception, stop: threading.Event, task: CopyTask | None = None
    ) -> None:
        """Until the dead-letter topic took it: only then is the record done.

        A task's failure is named after its file (``source`` = the file key): a task
        delivered twice fails as one event. Never after the failed event a replay's
        task replays (header ``replay_of`` links to it): that row exists already, and
        a replayed record's tasks (one per event type) may fail one by one."""
        delay = self._settings.health_interval_s
        if task is None:
            message = dead_letter(record, exc, "load")
        else:
            about = {"game": task.game, "event_type": task.event_type}
            if task.replay_of:
                about[REPLAY_OF] = task.replay_of
            message = dead_letter(record, exc, "load", task.key, **about)
        while not stop.is_set():
            try:
                self._log.append(self._dead_topic, [message])
            except TransientError as error:
                log.warning("dead-letter append failed, retrying: %s", error)
                stop.wait(delay)
                delay = min(delay * 2, self._settings.max_backoff_s)
                continue
            metrics.DEAD_LETTERS.labels(stage="load").inc()
            self._tracker.done(record.partition, record.offset)
            return

    # health -----------------------------------------------------------------------

    def _check_while_idle(self, stop: threading.Event) -> None:
        """With nothing in flight no load can fail, yet the warehouse may be down (and
        the processor waiting on the same database): probe it now and then, off this
        loop, so the loader reports failing (and pauses) before work arrives."""
        if not self._healthy.is_set() or self._idle_check.is_set():
            return
        self._idle_check.set()

        def probe() -> None:
            try:
                self._warehouse.check()
                metrics.WAREHOUSE_UP.set(1)
            except WarehouseUnavailable as exc:
                self._wait_until_healthy(exc, stop)
            finally:
                self._idle_check.clear()

        threading.Thread(target=probe, name="load-health", daemon=True).start()

    def _wait_until_healthy(self, cause: Exception, stop: threading.Event) -> None:
        """One worker probes with backoff; the others wait for it.

        A waiter that finds nobody probing becomes the prober: a worker can clear
        ``_healthy`` just after the prober set it, and must not wait for a set that
        nobody will do any more."""
        self._healthy.clear()
        while not stop.is_set():
            if self._health_lock.acquire(blocking=False):
                try:
                    self._probe_until_healthy(cause, stop)
                finally:
                    self._health_lock.release()
                return
            if self._healthy.wait(0.2):
                return

    def _probe_until_healthy(self, cause: Exception, stop: threading.Event) -> None:
        log.error("warehouse unavailable, pausing consumption: %s", cause)
        metrics.WAREHOUSE_UP.set(0)
        delay = min(self._settings.health_interval_s, self._settings.max_backoff_s)
        while not stop.is_set():
            stop.wait(delay)
            try:
                self._warehouse.check()
            except WarehouseUnavailable as exc:
                delay = min(delay * 2, self._settings.max_backoff_s)
                log.warning("warehouse still unavailable (next check in %.1fs): %s", delay, exc)
                continue
            log.info("warehouse healthy again, resuming")
            metrics.WAREHOUSE_UP.set(1)
            self._healthy.set()
            return
