"""The processor's driver loop: plan ranges, run them on an engine, publish, commit.

Exactly-once hinges on replaying *the same* ranges after a crash. Before any file
is written, the range is saved as the partition's plan on the object store (Spark's
offset log does the same). On restart, a plan starting at the committed offset is
re-run exactly, so it rewrites the same files and COPY tasks (same keys, same task
ids), and the loader's ledger drops the tasks it already loaded.

    lease check -> plan (saved) -> engine writes files -> lease check -> dead letters
    + COPY tasks appended -> lease check -> commit (never backwards)

One driver per group (``Lease``): a driver that lost its lease (it was stopped past
the TTL and another took over) stops its batch before publishing or committing, and
stands by until the lease is free again; so does a driver started while another
holds it.
"""

from __future__ import annotations

import logging
import threading
import time

import pyarrow as pa
from prometheus_client import Counter

from playlog.contracts import Engine, OffsetRange, RangeResult
from playlog.errors import ConfigError, TransientError
from playlog.log.base import Log, Message, dead_letter, in_incarnation
from playlog.monitor import metrics
from playlog.process.lease import Lease, LeaseLost
from playlog.process.plans import Plan, PlanStore
from playlog.process.replay import about
from playlog.registry.catalog import Catalog
from playlog.settings import Settings
from playlog.storage.base import ObjectStore

log = logging.getLogger("playlog.process")

# Why the processor paused and retried (disk full, store or log down, lease lost).
PROCESS_RETRIES = Counter(
    "playlog_process_retries_total", "processor pauses on a transient error", ["reason"]
)

# Until measured, assume a record (one HTTP request) carries this many events.
_INITIAL_EVENTS_PER_RECORD = 500


class Processor:
    def __init__(
        self, settings: Settings, log_: Log, store: ObjectStore, engine: Engine, catalog: Catalog
    ) -> None:
        self._settings = settings.process
        self._topic = settings.log.data_topic
        self._copy_topic = settings.log.copy_topic
        self._dead_topic = settings.log.dead_letter_topic
        self._log = log_
        self._engine = engine
        self._plans = PlanStore(store, self._settings.group, log_)
        self._lease = Lease(catalog, self._settings.group, self._settings.lease_ttl_s)
        self._token: int | None = None  # the lease token the state in memory is from
        self._recommitted = time.monotonic()
        self._events_per_record = float(_INITIAL_EVENTS_PER_RECORD)
        self._last_run: dict[int, float] = {}
        self._behind: set[int] = set()  # partitions whose last range the budget cut
        self._failures: dict[OffsetRange, int] = {}  # unexpected errors per range

    def plan(self, force: bool = False) -> list[OffsetRange]:
        """The ranges to run now: pending plans first, then new data that is due
        (a full batch waiting, or the trigger interval passed since the last run)."""
        self._check_lease()
        committed = self._log.committed(self._settings.group, self._topic)
        ends = self._log.end_offsets(self._topic)
        budget = max(1, int(self._settings.max_events_per_batch / self._events_per_record))
        now = time.monotonic()
        ranges = []
        lag = 0
        for partition, end in sorted(ends.items()):
            pending = self._plans.load(self._topic, partition, end)
            start = self._start(committed, partition, pending)
            lag += max(0, end - start)
            if pending is not None and pending.span.first == start:
                ranges.append(pending.span)
                continue
            if end <= start:
                continue
            # Never run here yet: due now (not "since the host's monotonic clock began").
            # Behind (the budget cut the last range): the rest is due now too.
            last = self._last_run.get(partition)
            due = last is None or now - last >= self._settings.trigger_interval_s
            if force or end - start >= budget or due or partition in self._behind:
                incarnation = self._plans.incarnation(self._topic, partition, end)
                last_offset = min(end, start + budget) - 1
                span = OffsetRange(self._topic, partition, start, last_offset, incarnation)
                ranges.append(self._plans.save(span).span)
                self._behind.discard(partition)
                if last_offset + 1 < end:
                    self._behind.add(partition)
        metrics.PROCESS_LAG.set(lag)
        return ranges

    def _start(self, committed: dict[int, int], partition: int, pending: Plan | None) -> int:
        """Where the partition's next range starts: the committed offset; without one
        (never committed, or expired on Kafka), the saved plan's first offset: a replay
        of it makes the same keys and task ids, never offset 0 again."""
        if partition in committed:
            return committed[partition]
        if pending is not None and pending.span.first >= 0:
            return pending.span.first
        return 0

    def _check_lease(self) -> None:
        """Renew the lease now (raises ``LeaseLost``); after a (re)acquisition, forget
        what memory says about plans: the previous holder may have written others."""
        token = self._lease.check()
        if token != self._token:
            self._plans.forget()
            self._last_run.clear()
            self._behind.clear()
            self._failures.clear()
            self._token = token

    def run_once(self, force: bool = False) -> int:
        """Process what is due; returns the number of events written."""
        planned = self.plan(force)
        if not planned:
            if time.monotonic() - self._recommitted >= self._settings.recommit_interval_s:
                self._commit({})  # a quiet group's offsets must not expire (Kafka)
            return 0
        started = time.monotonic()
        done = self._execute(planned)
        if not done:
            return 0
        ranges = [span for span, _ in done]
        results = [result for _, result in done]
        dead = [in_incarnation(m, s.incarnation) for s, r in done for m in r.dead_letters]
        if dead:
            self._check_lease()
            self._log.append(self._dead_topic, dead)
            metrics.DEAD_LETTERS.labels(stage="process").inc(len(dead))
            for message in dead:
                log.error("dead letter %s: %s", message.headers["source"], message.headers["error"])
        tasks = [t for r in results for t in r.tasks]
        self._check_lease()  # a driver that lost its lease publishes nothing
        if tasks:
            self._log.append(
                self._copy_topic, [Message(t.table.encode(), t.to_json()) for t in tasks]
            )
        # Only now is every range's work durable downstream: commit past it.
        self._commit({s.partition: s.last + 1 for s in ranges})
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
        log.debug(  # one per micro-batch: the metrics count them
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
        dead = [dead_letter(record, exc, "process", **about(record)) for record in records]
        return RangeResult([], dead, 0)

    def _commit(self, offsets: dict[int, int]) -> None:
        """Commit ``offsets``, never moving one backwards (the embedded log refuses
        that too; Kafka does not), and re-commit quiet partitions now and then: Kafka
        expires offsets not committed for ``offsets.retention.minutes``."""
        self._check_lease()
        current = self._log.committed(self._settings.group, self._topic)
        due = time.monotonic() - self._recommitted >= self._settings.recommit_interval_s
        forward = {p: o for p, o in offsets.items() if o > current.get(p, -1)}
        if due:
            forward = {**current, **forward}
        if not forward:
            return
        self._log.commit(self._settings.group, self._topic, forward)
        if due:
            self._recommitted = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        log.info("processor started (engine %s)", self._settings.engine)
        _warm_up()
        try:
            self._wait_for_lease(stop)
            while not stop.is_set():
                metrics.HEARTBEAT.labels(stage="process").set_to_current_time()
                try:
                    if self.run_once() == 0:
                        stop.wait(min(0.1, self._settings.trigger_interval_s or 0.1))
                except LeaseLost as exc:
                    PROCESS_RETRIES.labels(reason=exc.code).inc()
                    log.error("processor: %s; batch dropped, standing by", exc)
                    self._wait_for_lease(stop)
                except TransientError as exc:  # disk full, store or log down: pause
                    PROCESS_RETRIES.labels(reason=exc.code).inc()
                    log.warning("processor paused: %s; retrying in 1s", exc)
                    stop.wait(1.0)
        finally:
            self._engine.close()
            self._lease.release()
            log.info("processor stopped")

    def _wait_for_lease(self, stop: threading.Event) -> None:
        """Until this driver holds the group's lease (or ``stop``)."""
        waited = False
        while not stop.is_set():
            try:
                if self._lease.try_acquire():
                    return
            except TransientError as exc:
                log.warning("processor lease: %s", exc)
            if not waited:
                log.warning("another processor holds the lease; standing by")
                waited = True
            stop.wait(self._settings.lease_ttl_s / 3)


def _warm_up() -> None:
    """pyarrow imports pandas (when installed) at its first ``pa.array``/``pa.scalar``:
    0.4-1.6 s measured here, which the first batch after a start paid. Pay it now."""
    pa.scalar(0)
