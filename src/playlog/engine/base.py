"""The ``Engine`` port: run the batch transform over a set of offset ranges.

The processor (driver) plans ranges, an engine executes them wherever it runs its
work (this process, or Spark executors) and returns what each range produced. The
driver alone publishes COPY tasks and commits offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from playlog.process.transform import OffsetRange, RangeResult


class Engine(Protocol):
    def execute(self, ranges: Sequence[OffsetRange]) -> list[RangeResult]:
        """One result per range, in order. Re-running a range rewrites the same files."""

    def close(self) -> None: ...
