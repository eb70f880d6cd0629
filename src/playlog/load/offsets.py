"""Which copy-topic offsets may be committed: only up to the lowest one not yet done.

Tasks finish out of order (several workers, several transactions), but a committed
offset means "everything before it is in the warehouse", so each partition commits
up to its lowest unfinished offset.
"""

from __future__ import annotations

import threading


class OffsetTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, set[int]] = {}
        self._next: dict[int, int] = {}  # one past the highest offset seen
        self._committed: dict[int, int] = {}

    def add(self, partition: int, offset: int) -> None:
        with self._lock:
            self._pending.setdefault(partition, set()).add(offset)
            self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def done(self, partition: int, offset: int) -> None:
        with self._lock:
            self._pending.get(partition, set()).discard(offset)

    def in_flight(self) -> int:
        with self._lock:
            return sum(len(p) for p in self._pending.values())

    def to_commit(self) -> dict[int, int]:
        """Offsets that advanced since the last call: ``{partition: next offset}``."""
        with self._lock:
            out = {}
            for partition, end in self._next.items():
                pending = self._pending.get(partition)
                position = min(pending) if pending else end
                if position > self._committed.get(partition, -1):
                    out[partition] = position
            self._committed.update(out)
            return out

    def failed(self, offsets: dict[int, int]) -> None:
        """The commit of ``offsets`` (from ``to_commit``) failed: offer them again.
        Positions only grow, so the retry never moves an offset backwards."""
        with self._lock:
            for partition, offset in offsets.items():
                if partition in self._committed:
                    self._committed[partition] = min(self._committed[partition], offset - 1)

    def forget(self, keep: set[int]) -> None:
        """Drop partitions this member no longer owns (after a rebalance)."""
        with self._lock:
            for partition in list(self._next):
                if partition not in keep:
                    self._pending.pop(partition, None)
                    self._next.pop(partition, None)
                    self._committed.pop(partition, None)
