"""One fake clock: stands in for the ``time`` module of the code under test."""

from __future__ import annotations


class Clock:
    """``time()`` and ``monotonic()`` read ``now``; the test moves it (``sleep`` too)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
