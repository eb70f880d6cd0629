"""Every Prometheus metric playlog exports, in one place (names are an interface)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from playlog.monitor.collectors import TableFreshness, UnsetGauge
from playlog.names import CANARY_GAME

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
REFUSED_EVENTS = Counter(
    "playlog_ingest_refused_events_total",
    "events refused, by the error code answered (a body refused before its events were "
    "counted counts as one)",
    ["reason"],
)
HTTP_SECONDS = Histogram(
    "playlog_http_request_duration_seconds",
    "time to answer an HTTP request, by route template",
    ["method", "route", "code"],
)

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
# playlog_table_freshness_seconds and playlog_load_freshness_seconds, aged at scrape time
FRESHNESS = TableFreshness()
REGISTRY.register(FRESHNESS)
WAREHOUSE_UP = UnsetGauge(
    "playlog_warehouse_up", "1 when the warehouse answered its last check, 0 when not"
)
REGISTRY.register(WAREHOUSE_UP)

# failed events: one per row of playlog.failed_events (reason: a bounded category)
FAILED_EVENTS = Counter(
    "playlog_failed_events_total", "dead letters recorded in playlog.failed_events",
    ["stage", "reason"],
)  # fmt: skip

# canary
CANARY_LATENCY = Gauge("playlog_canary_latency_seconds", "last end-to-end canary latency")
CANARY_OK = Gauge("playlog_canary_ok", "1 when the last canary arrived in time")
_canary_arrived: bool | None = None  # None: no canary finished yet (the gauge reads 0)


def set_canary(latency_s: float | None) -> None:
    """The outcome of one canary: its latency, or None when it did not arrive in time."""
    global _canary_arrived
    _canary_arrived = latency_s is not None
    CANARY_OK.set(1 if _canary_arrived else 0)
    if latency_s is not None:
        CANARY_LATENCY.set(latency_s)


def canary_arrived() -> bool | None:
    return _canary_arrived


LOADER_STATES = ("consuming", "paused", "failing", "stopped")

# Label series of games that are gone (a loadtest's, a deleted one) would stay in every
# scrape until a restart; playlog's own canary game is never a label at all.
HIDDEN_GAMES = frozenset({CANARY_GAME})


def count_accepted(game: str, events: int) -> None:
    if game not in HIDDEN_GAMES:
        EVENTS_ACCEPTED.labels(game=game).inc(events)


def count_loaded(table: str, rows: int, received_max_ms: int) -> None:
    if table.partition(".")[0] not in HIDDEN_GAMES:
        LOAD_ROWS.labels(table=table).inc(rows)
        FRESHNESS.loaded(table, received_max_ms)


def keep_only_games(games: set[str]) -> None:
    """Drop every per-game series of a game not in ``games`` (or hidden)."""

    def keep(game: str) -> bool:
        return game in games and game not in HIDDEN_GAMES

    _drop_series(EVENTS_ACCEPTED, "game", keep)
    _drop_series(LOAD_ROWS, "table", lambda table: keep(table.partition(".")[0]))
    FRESHNESS.keep_games(keep)


def _drop_series(metric: Counter, label: str, keep: Callable[[str], bool]) -> None:
    for family in metric.collect():
        for value in {s.labels[label] for s in family.samples if not keep(s.labels[label])}:
            metric.remove(value)


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
