"""Why the loader is failing: one entry per worker retrying a batch that cannot load yet.

    failures.fail(exc)   # in a worker: its batch failed with a transient error
    failures.clear()     # in that worker: its batch committed
    failures.active()    # the loader pauses consumption and reports "failing"
    failures.gap(exc)    # a copy-topic partition lost records to retention (RecordsExpired):
                         # that partition stays stopped, the rest loads, "failing" until a restart

The newest reason goes to the metrics (``playlog_loader_failure{error}``) and to
``/readyz`` (``metrics.loader_failure()``): an operator sees *why* (a revoked grant, a
missing batch file, a full disk), not only that nothing loads.
"""

from __future__ import annotations

import threading

from playlog.errors import PlaylogError, RecordsExpired
from playlog.monitor import metrics


class Failures:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_worker: dict[str, BaseException] = {}
        self._gaps: dict[object, RecordsExpired] = {}  # by partition

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            self._by_worker.pop(threading.current_thread().name, None)
            self._by_worker[threading.current_thread().name] = exc  # newest last
            self._publish()

    def clear(self) -> None:
        with self._lock:
            if self._by_worker.pop(threading.current_thread().name, None) is not None:
                self._publish()

    def active(self) -> bool:
        """Whether a worker retries a batch (consumption pauses meanwhile)."""
        with self._lock:
            return bool(self._by_worker)

    def gap(self, exc: RecordsExpired) -> None:
        with self._lock:
            self._gaps[exc.details.get("partition")] = exc
            self._publish()

    def failing(self) -> bool:
        """Whether anything keeps the loader from loading everything: a retrying
        worker, or a partition stopped by a retention gap."""
        with self._lock:
            return bool(self._by_worker or self._gaps)

    def reset(self) -> None:
        with self._lock:
            self._by_worker.clear()
            self._gaps.clear()
            self._publish()

    def _publish(self) -> None:
        reasons: list[BaseException] = [*self._gaps.values(), *self._by_worker.values()]
        if not reasons:
            metrics.set_loader_failure(None, None)
            return
        newest = reasons[-1]
        if isinstance(newest, PlaylogError):
            metrics.set_loader_failure(newest.code, newest.message)
        else:
            metrics.set_loader_failure(type(newest).__name__, f"{type(newest).__name__}: {newest}")
