"""Metrics computed when Prometheus scrapes, not set as they happen.

How stale each table is: the loader records the newest ``_received_at`` it loaded
per table; a scrape answers ``now - newest``. So the age keeps growing while nothing
loads, which is what an alert on a stalled table needs (a gauge set on load would
freeze at the latency of the last load instead)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class TableFreshness(Collector):
    """``playlog_table_freshness_seconds{game,event_type}`` and its older name,
    ``playlog_load_freshness_seconds{table}``, both from one record per table."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._newest_s: dict[str, float] = {}  # "game.event_type" -> newest receive time

    def loaded(self, table: str, received_max_ms: int) -> None:
        """A load of ``table`` committed rows received up to ``received_max_ms``."""
        newest = received_max_ms / 1000
        with self._lock:
            self._newest_s[table] = max(newest, self._newest_s.get(table, newest))

    def ages(self) -> dict[str, float]:
        """Seconds since the newest loaded receive time, per table."""
        now = self._clock()
        with self._lock:
            return {table: max(0.0, now - newest) for table, newest in self._newest_s.items()}

    def keep_games(self, keep: Callable[[str], bool]) -> None:
        """Forget every table whose game ``keep`` refuses (a deleted or hidden game)."""
        with self._lock:
            for table in [t for t in self._newest_s if not keep(t.partition(".")[0])]:
                del self._newest_s[table]

    def collect(self) -> Iterable[Metric]:
        return _families(self.ages())

    def describe(self) -> Iterable[Metric]:
        return _families({})


class UnsetGauge(Collector):
    """A gauge without labels that is absent until first set: a process that never
    checks (a processor has no warehouse) must not export a 0 that reads as "down"."""

    def __init__(self, name: str, documentation: str) -> None:
        self._name, self._documentation = name, documentation
        self._value: float | None = None

    def set(self, value: float) -> None:
        self._value = value

    def get(self) -> float | None:
        return self._value

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self._name, self._documentation)
        if self._value is not None:
            family.add_metric([], self._value)
        yield family

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self._name, self._documentation)]


def _families(ages: dict[str, float]) -> Iterator[Metric]:
    table = GaugeMetricFamily(
        "playlog_table_freshness_seconds",
        "now minus the newest loaded _received_at of a table (grows while nothing loads)",
        labels=["game", "event_type"],
    )
    legacy = GaugeMetricFamily(
        "playlog_load_freshness_seconds",
        "now minus the newest receive time loaded (as playlog_table_freshness_seconds)",
        labels=["table"],
    )
    for name, age in sorted(ages.items()):
        game, _, event_type = name.partition(".")
        table.add_metric([game, event_type], age)
        legacy.add_metric([name], age)
    yield table
    yield legacy
