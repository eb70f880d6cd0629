"""The in-process engine: reads each range from the log and transforms it here."""

from __future__ import annotations

from collections.abc import Sequence

from playlog.avro.limits import DEFAULT_LIMITS, Limits
from playlog.contracts import OffsetRange, RangeResult
from playlog.log.base import Log
from playlog.process.transform import transform_range
from playlog.registry.registry import Registry
from playlog.storage.base import ObjectStore


class InProcessEngine:
    def __init__(
        self, log: Log, registry: Registry, store: ObjectStore, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self._log = log
        self._limits = limits  # the server's: what ingest accepted is processed
        self._registry = registry
        self._store = store

    def execute(self, ranges: Sequence[OffsetRange]) -> list[RangeResult]:
        # Planned ranges were appended after their schemas were registered (ingest
        # validates first): a reload now sees every version, including one registered
        # through another process since the last batch, so "latest" is not stale.
        self._registry.reload(force=True)
        results = []
        for span in ranges:
            records = self._log.read(span.topic, span.partition, span.first, span.last + 1)
            results.append(
                transform_range(
                    span,
                    records,
                    lambda game, fp: self._registry.lookup(game, fp, fresh=True),
                    self._registry.latest,
                    self._store,
                    self._limits,
                )
            )
        return results

    def close(self) -> None:
        pass
