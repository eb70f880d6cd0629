"""Every Prometheus metric playlog exports, in one place (names are an interface)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
