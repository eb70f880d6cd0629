"""Deadlines that hold on a busy machine: every start and load deadline of the tests goes
through :func:`scaled`, so ``PLAYLOG_TEST_SLOWDOWN=3`` gives a loaded machine three times
as long. Waiting is :func:`wait_until` on a condition, never a bare sleep."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

ENV_SLOWDOWN = "PLAYLOG_TEST_SLOWDOWN"


def slowdown() -> float:
    """The factor from ``PLAYLOG_TEST_SLOWDOWN`` (default 1; the defaults themselves are
    sized for a 2-core machine running other work)."""
    raw = os.environ.get(ENV_SLOWDOWN, "").strip()
    try:
        factor = float(raw) if raw else 1.0
    except ValueError as exc:
        raise ValueError(f"{ENV_SLOWDOWN} must be a number, not {raw!r}") from exc
    return max(factor, 0.1)


def scaled(seconds: float) -> float:
    return seconds * slowdown()


class Deadline:
    """A point in time ``seconds`` (scaled) from now."""

    def __init__(self, seconds: float, *, scale: bool = True) -> None:
        self.seconds = scaled(seconds) if scale else seconds
        self.start = time.monotonic()
        self.at = self.start + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def deadline(seconds: float) -> Deadline:
    return Deadline(seconds)


class WaitTimeout(AssertionError):
    """A condition did not hold in time (an AssertionError: a test failure, not an error
    of the test machinery)."""


def wait_until(
    predicate: Callable[[], T],
    seconds: float,
    what: str,
    *,
    interval: float = 0.05,
    abort: Callable[[], str | None] | None = None,
    details: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    ``seconds`` is scaled by ``PLAYLOG_TEST_SLOWDOWN``. ``abort`` is asked on every turn
    and stops the wait early with its reason (a server that exited will never become
    ready); ``details`` adds context (a log tail) to the failure message.
    """
    limit = Deadline(seconds)
    while True:
        value = predicate()
        if value:
            return value
        reason = abort() if abort is not None else None
        if reason is None and limit.expired():
            reason = f"not within {limit.seconds:.0f} s ({ENV_SLOWDOWN}={slowdown():g})"
        if reason is not None:
            extra = f"\n{details()}" if details is not None else ""
            raise WaitTimeout(f"{what}: {reason}{extra}")
        time.sleep(interval)  # the poll interval, not a wait for something to happen
