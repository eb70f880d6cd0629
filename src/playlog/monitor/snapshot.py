"""What this process's metrics say now, as plain values: one read of the registry
for the status page and the webhook (neither parses metric names on its own)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from playlog.monitor import metrics
from playlog.monitor.merged import EXPOSED


@dataclass(frozen=True)
class Snapshot:
    at: float
    events_accepted: float = 0.0
    rows_loaded: float = 0.0
    rows_by_table: dict[str, float] = field(default_factory=dict)
    freshness_s: dict[str, float] = field(default_factory=dict)
    refused_by_reason: dict[str, float] = field(default_factory=dict)
    dead_letters_by_stage: dict[str, float] = field(default_factory=dict)
    lag_records: dict[str, float] = field(default_factory=dict)  # "group on topic"
    oldest_unread_s: dict[str, float] = field(default_factory=dict)
    heartbeat_age_s: dict[str, float] = field(default_factory=dict)
    loader_state: str | None = None
    loader_reason: str | None = None
    warehouse_up: bool | None = None
    canary_ok: bool | None = None
    canary_latency_s: float | None = None

    @property
    def freshness_max_s(self) -> float | None:
        return max(self.freshness_s.values(), default=None)


def _summed(samples: list[Sample], label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for sample in samples:
        out[sample.labels[label]] += sample.value
    return dict(out)


def _per_group(samples: list[Sample], how: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for sample in samples:
        key = f"{sample.labels['group']} on {sample.labels['topic']}"
        value = out.get(key, 0.0)
        out[key] = value + sample.value if how == "sum" else max(value, sample.value)
    return out


def take(registry: CollectorRegistry = EXPOSED) -> Snapshot:
    """One consistent read of every series the operator's views show (a child
    process's too: the processor's under ``playlog up``)."""
    now = time.time()
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for family in registry.collect():
        for sample in family.samples:
            by_name[sample.name].append(sample)

    def one(name: str) -> float | None:
        values = [s.value for s in by_name[name]]
        return values[0] if values else None

    up = one("playlog_warehouse_up")
    states = [s.labels["state"] for s in by_name["playlog_loader_state"] if s.value == 1]
    rows = _summed(by_name["playlog_load_rows_total"], "table")
    canary_ok = metrics.canary_arrived()
    return Snapshot(
        at=now,
        events_accepted=sum(s.value for s in by_name["playlog_ingest_events_total"]),
        rows_loaded=sum(rows.values()),
        rows_by_table=rows,
        freshness_s=_summed(by_name["playlog_load_freshness_seconds"], "table"),
        refused_by_reason=_summed(by_name["playlog_ingest_refused_events_total"], "reason"),
        dead_letters_by_stage=_summed(by_name["playlog_dead_letters_total"], "stage"),
        lag_records=_per_group(by_name["playlog_log_lag_records"], "sum"),
        oldest_unread_s=_per_group(by_name["playlog_log_oldest_unconsumed_age_seconds"], "max"),
        heartbeat_age_s={
            s.labels["stage"]: max(0.0, now - s.value)
            for s in by_name["playlog_heartbeat_timestamp_seconds"]
        },
        loader_state=states[0] if states else None,
        loader_reason=metrics.loader_failure(),
        warehouse_up=None if up is None else up == 1,
        canary_ok=canary_ok,
        canary_latency_s=one("playlog_canary_latency_seconds") if canary_ok else None,
    )
