"""The dead-letter topic into ``playlog.failed_events``: every dead letter, once.

    poll the dead-letter topic -> rows -> one transaction that inserts the rows whose
    ``source`` is not in the table yet -> commit the offsets

Why a consumer of the dead-letter topic (and not a side channel in each stage): every
stage already hands its dead letters to that topic durably, before it commits its own
input, so nothing more is needed from them, and a warehouse outage never holds a
stage up. Exactly-once holds the way the loader's ledger holds it: the table's key
(``source``, the position the data first had) is checked and written in the same
transaction, and offsets are committed only after it committed. A crash anywhere
redelivers records whose rows are already there (skipped), and a stage that appended
the same dead letter twice (a crash before its own commit) gives the same ``source``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence

from playlog.contracts import FailedEvent
from playlog.errors import PlaylogError, WarehouseError
from playlog.log.base import Log, Record, Subscription
from playlog.monitor import metrics
from playlog.settings import Settings
from playlog.warehouse.base import Warehouse

log = logging.getLogger("playlog.load")

BATCH = 100  # dead letters per transaction (each may hold a 10 MiB request body)


def failed_event(record: Record) -> FailedEvent:
    """The row of one dead-letter record (headers from ``playlog.log.base.dead_letter``)."""
    headers = record.headers
    return FailedEvent(
        failed_at_ms=int(headers.get("failed_at_ms", record.timestamp_ms)),
        stage=headers.get("stage", "unknown"),
        game=headers.get("game", ""),
        event_type=headers.get("event_type", ""),
        schema_hash=headers.get("schema_hash", ""),
        reason=headers.get("error", ""),
        source=headers.get("source") or f"{record.topic}/{record.partition}/{record.offset}",
        payload=record.value,
    )


class FailedEventSink:
    def __init__(self, settings: Settings, log_: Log, warehouse: Warehouse) -> None:
        self._topic = settings.log.dead_letter_topic
        self._group = f"{settings.load.group}-failed"
        self._first_delay_s = settings.load.health_interval_s
        self._max_delay_s = settings.load.max_backoff_s
        self._log = log_
        self._warehouse = warehouse

    def run(self, stop: threading.Event) -> None:
        subscription = self._log.subscribe(self._group, self._topic)
        try:
            while not stop.is_set():
                try:
                    records = subscription.poll(BATCH, 0.5)
                except PlaylogError as exc:
                    log.warning("dead-letter poll failed, polling again: %s", exc)
                    stop.wait(self._first_delay_s)
                    continue
                if records and self._record(records, stop):
                    self._commit(subscription, records)
        finally:
            subscription.close()

    def _record(self, records: Sequence[Record], stop: threading.Event) -> bool:
        """Until the rows committed (True) or ``stop`` (False: redelivered later)."""
        events = [failed_event(r) for r in records]
        # source -> (stage, bounded reason) for the metric
        labels = {
            e.source: (e.stage, r.headers.get("category", "other"))
            for e, r in zip(events, records, strict=True)
        }
        delay = self._first_delay_s
        while not stop.is_set():
            try:
                inserted = self._insert(events)
            except PlaylogError as exc:  # down, or a conflict: retry
                log.warning("recording %d failed events failed, retrying: %s", len(events), exc)
                stop.wait(delay)
                delay = min(delay * 2, self._max_delay_s)
                continue
            for source in inserted:
                stage, reason = labels[source]
                metrics.FAILED_EVENTS.labels(stage=stage, reason=reason).inc()
            return True
        return False

    def _insert(self, events: Sequence[FailedEvent]) -> list[str]:
        """``record_failed``; a batch the warehouse refuses (``WarehouseError``: the
        data) goes one by one, so that one bad row holds back no other."""
        try:
            return self._warehouse.record_failed(events)
        except WarehouseError as exc:
            if len(events) > 1:
                return [source for e in events for source in self._insert([e])]
            return self._insert_refused(events[0], exc)

    def _insert_refused(self, event: FailedEvent, exc: WarehouseError) -> list[str]:
        """An event the warehouse refuses goes without its payload (e.g. over Redshift's
        VARBYTE limit), the reason saying so; one it still refuses goes as a minimal row
        (its source, stage and reason ``unrecordable: ...``): retrying a row that can
        never fit would block every later dead letter. A minimal row refused raises
        (retried: then the table itself is the problem)."""
        if event.payload:
            log.error("failed event %s recorded without its payload: %s", event.source, exc)
            note = f" (payload of {len(event.payload)} bytes not stored: {exc.message})"
            stripped = dataclasses.replace(event, payload=b"", reason=event.reason + note)
            try:
                return self._warehouse.record_failed([stripped])
            except WarehouseError as again:
                exc = again
        log.error("failed event %s recorded as unrecordable: %s", event.source, exc)
        minimal = FailedEvent(
            failed_at_ms=event.failed_at_ms, stage=event.stage, game="", event_type="",
            schema_hash="", reason=f"unrecordable: {event.reason} ({exc.message})",
            source=event.source, payload=b"",
        )  # fmt: skip
        return self._warehouse.record_failed([minimal])

    def _commit(self, subscription: Subscription, records: Sequence[Record]) -> None:
        offsets: dict[int, int] = {}
        for record in records:
            offsets[record.partition] = max(offsets.get(record.partition, 0), record.offset + 1)
        try:
            subscription.commit(offsets)
        except PlaylogError as exc:  # redelivered later: the rows are there, skipped
            log.warning("dead-letter offset commit failed: %s", exc)
