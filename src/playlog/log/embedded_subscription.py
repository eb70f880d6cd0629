"""A consumer-group member of the embedded log. One process owns every partition:
the embedded log has no group coordinator, so run one member per group.

Never skips: a committed offset below the first record still in the log (retention, or
a restored file, deleted what the group never read) raises ``RecordsExpired`` once,
and that partition is not read again by this member (``expired()``); a partition the
group never committed starts at the first record there is."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from playlog.errors import RecordsExpired
from playlog.log.base import Record

if TYPE_CHECKING:
    from playlog.log.embedded import EmbeddedLog


class EmbeddedSubscription:
    def __init__(self, log: EmbeddedLog, group: str, topic: str) -> None:
        self._log = log
        self._group = group
        self._topic = topic
        committed = log.committed(group, topic)
        self._positions = {p: committed.get(p, 0) for p in range(log.partitions(topic))}
        self._paused = False
        self._next_partition = 0
        self._expired: dict[int, RecordsExpired] = {}
        self._unreported: list[RecordsExpired] = []
        for partition, offset in sorted(committed.items()):
            self._check_start(partition, offset)

    def _check_start(self, partition: int, committed: int) -> None:
        first = self._log.read(self._topic, partition, 0, 2**62, limit=1)
        start = first[0].offset if first else self._log.end_offsets(self._topic)[partition]
        if committed >= start or partition not in self._positions:
            return
        error = RecordsExpired(
            f"{self._group} on {self._topic}[{partition}]: committed offset {committed} is "
            f"no longer in the log (log starts at {start}); the records retention deleted "
            "were never read. Not skipping: replay that range, then move the group's "
            "offset on",
            group=self._group, topic=self._topic, partition=partition, committed=committed,
        )  # fmt: skip
        self._expired[partition] = error
        self._unreported.append(error)

    def expired(self) -> dict[int, RecordsExpired]:
        """Partitions stopped by a gap (``RecordsExpired``), by partition."""
        return dict(self._expired)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        if self._unreported:
            raise self._unreported.pop(0)
        deadline = time.monotonic() + timeout_s
        while True:
            if not self._paused:
                records = self._fetch(max_records)
                if records:
                    return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._log.wait_for_append(min(remaining, 0.05))

    def _fetch(self, max_records: int) -> list[Record]:
        """Read partitions round-robin so a busy one cannot starve the others."""
        out: list[Record] = []
        partitions = sorted(p for p in self._positions if p not in self._expired)
        for i in range(len(partitions)):
            partition = partitions[(self._next_partition + i) % len(partitions)]
            if len(out) >= max_records:
                break
            position = self._positions[partition]
            records = self._log.read(
                self._topic, partition, position, 2**62, limit=max_records - len(out)
            )
            if records:
                self._positions[partition] = records[-1].offset + 1
                out.extend(records)
        self._next_partition = (self._next_partition + 1) % max(len(partitions), 1)
        return out

    def assignment(self) -> set[int]:
        return set(self._positions)

    def commit(self, offsets: Mapping[int, int]) -> None:
        owned = {p: o for p, o in offsets.items() if p in self._positions}
        if owned:
            self._log.commit(self._group, self._topic, owned)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def close(self) -> None:
        pass
