"""Every Prometheus metric playlog exports, in one place (names are an interface)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from playlog.log.base import Record


class LagSource(Protocol):
    """What ``observe_lag`` needs of a ``Log``."""

    def committed(self, group: str, topic: str) -> dict[int, int]: ...

    def end_offsets(self, topic: str) -> dict[int, int]: ...

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Record]: ...


# ingest
REQUESTS = Counter("playlog_ingest_requests_total", "HTTP event batches", ["status"])
EVENTS_ACCEPTED = Counter("playlog_ingest_events_total", "events accepted", ["game"])
BYTES_ACCEPTED = Counter("playlog_ingest_bytes_total", "event body bytes accepted")
APPEND_SECONDS = Histogram("playlog_log_append_seconds", "time to append a batch durably")

# process
PROCESS_BATCHES = Counter("playlog_process_batches_total", "micro-batches processed")
PROCESS_EVENTS = Counter("playlog_process_events_total", "events written to batch files")
PROCESS_FILES = Counter("playlog_process_files_total", "batch files written")
DEAD_LETTERS = Counter(
    "playlog_dead_letters_total", "records sent to the dead-letter topic", ["stage"]
)
PROCESS_LAG = Gauge("playlog_process_lag_records", "data-topic records not yet processed")
PROCESS_SECONDS = Histogram("playlog_process_batch_seconds", "time per micro-batch")

# load
LOAD_TASKS = Counter("playlog_load_tasks_total", "COPY tasks loaded (skipped ones excluded)")
LOAD_ROWS = Counter("playlog_load_rows_total", "rows loaded", ["table"])
LOAD_SKIPPED = Counter("playlog_load_skipped_total", "COPY tasks already in the ledger")
LOAD_TRANSACTIONS = Counter(
    "playlog_load_transactions_total", "warehouse transactions", ["outcome"]
)
LOAD_SECONDS = Histogram("playlog_load_transaction_seconds", "time per load transaction")
LOAD_IN_FLIGHT = Gauge("playlog_load_in_flight_tasks", "COPY tasks consumed and not yet done")
LOADER_STATE = Gauge("playlog_loader_state", "1 for the loader's current state", ["state"])
HEARTBEAT = Gauge("playlog_heartbeat_timestamp_seconds", "last heartbeat of a stage", ["stage"])
FRESHNESS = Gauge(
    "playlog_load_freshness_seconds", "now minus the newest receive time loaded", ["table"]
)

# failed events: one per row of playlog.failed_events (reason: a bounded category)
FAILED_EVENTS = Counter(
    "playlog_failed_events_total", "dead letters recorded in playlog.failed_events",
    ["stage", "reason"],
)  # fmt: skip

# canary
CANARY_LATENCY = Gauge("playlog_canary_latency_seconds", "last end-to-end canary latency")
CANARY_OK = Gauge("playlog_canary_ok", "1 when the last canary arrived in time")

LOADER_STATES = ("consuming", "paused", "failing", "stopped")


def set_loader_state(state: str) -> None:
    for name in LOADER_STATES:
        LOADER_STATE.labels(state=name).set(1 if name == state else 0)


# Why the loader is failing, for /readyz and the status page (None: it is not).
LOADER_FAILURE = Gauge(
    "playlog_loader_failure", "1 while the loader retries after this error", ["error"]
)
_loader_failure: str | None = None


def set_loader_failure(error: str | None, reason: str | None) -> None:
    """``error``: the error's code (a label); ``reason``: its message (no label: unbounded)."""
    global _loader_failure
    _loader_failure = reason
    LOADER_FAILURE.clear()
    if error is not None:
        LOADER_FAILURE.labels(error=error).set(1)


def loader_failure() -> str | None:
    return _loader_failure


# log: how far each group is behind, against the topic's retention. Alert when the age
# of the oldest unconsumed record nears the retention: past it, records are deleted
# unread (the copy topic's consumer then stops with RecordsExpired, never skips).
LOG_LAG = Gauge(
    "playlog_log_lag_records", "records not yet committed by a group",
    ["topic", "partition", "group"],
)  # fmt: skip
LOG_OLDEST_UNCONSUMED_AGE = Gauge(
    "playlog_log_oldest_unconsumed_age_seconds",
    "age of the oldest record a group has not committed (0: none)",
    ["topic", "partition", "group"],
)
LOG_RETENTION = Gauge("playlog_log_retention_seconds", "a topic's retention", ["topic"])


def observe_lag(log: LagSource, group: str, topic: str, retention_s: float) -> None:
    """Set the lag gauges of ``group`` on ``topic`` (one ``read`` of one record per
    lagging partition). A partition never committed lags from offset 0."""
    LOG_RETENTION.labels(topic=topic).set(retention_s)
    committed = log.committed(group, topic)
    now_ms = time.time() * 1000
    for partition, end in log.end_offsets(topic).items():
        start = committed.get(partition, 0)
        labels = {"topic": topic, "partition": str(partition), "group": group}
        LOG_LAG.labels(**labels).set(max(0, end - start))
        oldest = log.read(topic, partition, start, start + 1) if end > start else []
        age_s = (now_ms - oldest[0].timestamp_ms) / 1000 if oldest else 0.0
        LOG_OLDEST_UNCONSUMED_AGE.labels(**labels).set(max(0.0, age_s))
