"""The last minutes of snapshots, for rates (rows/min) and the status page's charts.

A stage samples every heartbeat into one ``History`` per process (``HISTORY``);
readers get rates between samples, so nothing here depends on how often anyone
looks."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from itertools import pairwise

from playlog.monitor import snapshot
from playlog.monitor.snapshot import Snapshot

WINDOW_S = 15 * 60.0
RATE_OVER_S = 60.0  # rows/min of a table: over the last minute of samples


class History:
    def __init__(self, window_s: float = WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[Snapshot] = deque()
        self._lock = threading.Lock()

    def record(self, sample: Snapshot) -> None:
        with self._lock:
            self._samples.append(sample)
            while self._samples and sample.at - self._samples[0].at > self._window_s:
                self._samples.popleft()

    def samples(self) -> list[Snapshot]:
        with self._lock:
            return list(self._samples)

    def series(self) -> dict[str, list[float | None]]:
        """Per sample after the first: time, events accepted/s, rows loaded/s, the
        stalest table's freshness."""
        samples = self.samples()
        pairs = list(pairwise(samples))
        return {
            "t": [b.at for _, b in pairs],
            "ingest_per_s": [_rate(a, b, lambda s: s.events_accepted) for a, b in pairs],
            "load_per_s": [_rate(a, b, lambda s: s.rows_loaded) for a, b in pairs],
            "freshness_max_s": [b.freshness_max_s for _, b in pairs],
        }

    def table_rates_per_min(self, now: Snapshot) -> dict[str, float]:
        """Rows/min of each table of ``now`` over the last minute (0 without history)."""
        earlier = [s for s in self.samples() if now.at - s.at <= RATE_OVER_S and s.at < now.at]
        if not earlier:
            return {table: 0.0 for table in now.rows_by_table}
        first = earlier[0]
        minutes = (now.at - first.at) / 60
        return {
            table: max(0.0, rows - first.rows_by_table.get(table, 0.0)) / minutes
            for table, rows in now.rows_by_table.items()
        }

    def run(self, stop: threading.Event, every_s: float) -> None:
        """The sampling stage."""
        self.record(snapshot.take())
        while not stop.wait(every_s):
            self.record(snapshot.take())


def _rate(a: Snapshot, b: Snapshot, value: Callable[[Snapshot], float]) -> float:
    """Per second between two samples; a counter that went back (a restart) is 0."""
    return max(0.0, value(b) - value(a)) / max(b.at - a.at, 1e-9)


HISTORY = History()
