"""The processor's driver loop: plan ranges, run them on an engine, publish, commit.

Exactly-once hinges on replaying *the same* ranges after a crash. Before any file
is written, the range is saved as the partition's plan on the object store (Spark's
offset log does the same). On restart, a plan starting at the committed offset is
re-run exactly, so it rewrites the same files and COPY tasks (same keys, same task
ids), and the loader's ledger drops the tasks it already loaded.

    plan (saved) -> engine writes files -> dead letters + COPY tasks appended -> commit
"""

from __future__ import annotations

import json
import logging
import threading
import time

from playlog.contracts import Engine, OffsetRange, RangeResult
from playlog.errors import ConfigError, ObjectMissing, TransientError
from playlog.log.base import Log, Message, dead_letter
from playlog.monitor import metrics
from playlog.process.lease import Lease
from playlog.settings import Settings
from playlog.storage.base import ObjectStore

log = logging.getLogger("playlog.process")

# Until measured, assume a record (one HTTP request) carries this many events.
_INITIAL_EVENTS_PER_RECORD = 500


class PlanStore:
    """Each partition's current range, saved before its files are written.

    The driver is the only writer of its group's plans, so after the first read
    (at start, to find a crashed batch) they are served from memory."""

    def __init__(self, store: ObjectStore, group: str) -> None:
        self._store = store
        self._group = group
        self._known: dict[tuple[str, int], OffsetRange | None] = {}

    def _key(self, topic: str, partition: int) -> str:
        return f"_plans/{self._group}/{topic}-{partition}.json"

    def load(self, topic: str, partition: int) -> OffsetRange | None:
        if (topic, partition) not in self._known:
            try:
                data = json.loads(self._store.get(self._key(topic, partition)))
                found = OffsetRange(topic, partition, int(data["first"]), int(data["last"]))
            except ObjectMissing:
                found = None
            self._known[(topic, partition)] = found
        return self._known[(topic, partition)]

    def save(self, span: OffsetRange) -> None:
        body = json.dumps({"first": span.first, "last": span.last}).encode()
        self._store.put(self._key(span.topic, span.partition), body)
        self._known[(span.topic, span.partition)] = span


class Processor:
    def __init__(self, settings: Settings, log_: Log, store: ObjectStore, engine: Engine) -> None:
        self._settings = settings.process
        self._topic = settings.log.data_topic
        self._copy_topic = settings.log.copy_topic
        self._dead_topic = settings.log.dead_letter_topic
        self._log = log_
        self._engine = engine
        self._plans = PlanStore(store, self._settings.group)
        self._lease = Lease(store, self._settings.group)
        self._events_per_record = float(_INITIAL_EVENTS_PER_RECORD)
        self._last_run: dict[int, float] = {}
        self._failures: dict[OffsetRange, int] = {}  # unexpected errors per range

    def plan(self, force: bool = False) -> list[OffsetRange]:
        """The ranges to run now: pending plans first, then new data that is due
        (a full batch waiting, or the trigger interval passed since the last run)."""
        committed = self._log.committed(self._settings.group, self._topic)
        ends = self._log.end_offsets(self._topic)
        budget = max(1, int(self._settings.max_events_per_batch / self._events_per_record))
        now = time.monotonic()
        ranges = []
        lag = 0
        for partition, end in sorted(ends.items()):
            start = committed.get(partition, 0)
            lag += max(0, end - start)
            pending = self._plans.load(self._topic, partition)
            if pending is not None and pending.first == start:
                ranges.append(pending)
                continue
            if end <= start:
                continue
            # Never run here yet: due now (not "since the host's monotonic clock began").
            last = self._last_run.get(partition)
            due = last is None or now - last >= self._settings.trigger_interval_s
            if force or end - start >= budget or due:
                span = OffsetRange(self._topic, partition, start, min(end, start + budget) - 1)
                self._plans.save(span)
                ranges.append(span)
        metrics.PROCESS_LAG.set(lag)
        return ranges

    def run_once(self, force: bool = False) -> int:
        """Process what is due; returns the number of events written."""
        planned = self.plan(force)
        if not planned:
            return 0
        started = time.monotonic()
        done = self._execute(planned)
        if not done:
            return 0
        ranges = [span for span, _ in done]
        results = [result for _, result in done]
        dead = [m for r in results for m in r.dead_letters]
        if dead:
            self._log.append(self._dead_topic, dead)
            metrics.DEAD_LETTERS.labels(stage="process").inc(len(dead))
            for message in dead:
                log.error("dead letter %s: %s", message.headers["source"], message.headers["error"])
        tasks = [t for r in results for t in r.tasks]
        if tasks:
            self._log.append(
                self._copy_topic, [Message(t.table.encode(), t.to_json()) for t in tasks]
            )
        # Only now is every range's work durable downstream: commit past it.
        self._log.commit(
            self._settings.group, self._topic, {s.partition: s.last + 1 for s in ranges}
        )
        events = sum(r.events for r in results)
        records = sum(s.last - s.first + 1 for s in ranges)
        if events:
            self._events_per_record = max(1.0, events / records)
        for span in ranges:
            self._last_run[span.partition] = time.monotonic()
        elapsed = time.monotonic() - started
        metrics.PROCESS_BATCHES.inc()
        metrics.PROCESS_EVENTS.inc(events)
        metrics.PROCESS_FILES.inc(len(tasks))
        metrics.PROCESS_SECONDS.observe(elapsed)
        log.info(
            "batch done: %d ranges, %d records, %d events, %d files in %.3fs",
            len(ranges),
            records,
            events,
            len(tasks),
            elapsed,
        )
        return events

    def _execute(self, ranges: list[OffsetRange]) -> list[tuple[OffsetRange, RangeResult]]:
        """Each range with its result. When the batch fails unexpectedly (a bug, a
        decoder crash: anything but a transient or configuration error), every range
        runs alone: the healthy ones go on, a failing one is retried on the next
        round and, after ``max_range_attempts``, dead-lettered whole."""
        try:
            return list(zip(ranges, self._engine.execute(ranges), strict=True))
        except (TransientError, ConfigError):
            raise
        except Exception as exc:
            if len(ranges) > 1:
                log.warning("batch of %d ranges failed (%r); running each alone", len(ranges), exc)
        done = []
        for span in ranges:
            try:
                done.append((span, self._engine.execute([span])[0]))
                self._failures.pop(span, None)
            except (TransientError, ConfigError):
                raise
            except Exception as exc:
                attempts = self._failures[span] = self._failures.get(span, 0) + 1
                limit = self._settings.max_range_attempts
                log.exception("range %s failed (attempt %d of %d)", span, attempts, limit)
                if attempts >= limit:
                    del self._failures[span]
                    done.append((span, self._dead_range(span, exc)))
        return done

    def _dead_range(self, span: OffsetRange, exc: Exception) -> RangeResult:
        records = self._log.read(span.topic, span.partition, span.first, span.last + 1)
        log.error("range %s: giving up, dead-lettering its %d records", span, len(records))
        return RangeResult([], [dead_letter(record, exc) for record in records], 0)

    def run(self, stop: threading.Event) -> None:
        self._lease.acquire()
        log.info("processor started (engine %s)", self._settings.engine)
        try:
            while not stop.is_set():
                metrics.HEARTBEAT.labels(stage="process").set_to_current_time()
                try:
                    self._lease.renew()
                    if self.run_once() == 0:
                        stop.wait(min(0.1, self._settings.trigger_interval_s or 0.1))
                except TransientError as exc:
                    log.warning("processor: %s; retrying in 1s", exc)
                    stop.wait(1.0)
        finally:
            self._engine.close()
            self._lease.release()
            log.info("processor stopped")
