"""The tracker's bounded buffer: events wait here, encoded, until the sender takes
them as a batch; they hold their place until their batch is resolved (sent or
failed), so a server that is down fills the buffer and the policy decides:

- ``"block"``: ``put`` waits up to ``block_timeout_s`` for room, then ``BufferFull``;
- ``"drop"``: ``put`` returns False at once and the event is counted as dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from playlog.client.errors import BufferFull
from playlog.client.schemas import WriterSchema
from playlog.errors import ConfigError

WhenFull = Literal["block", "drop"]


@dataclass(frozen=True)
class Batching:
    max_events: int = 500
    max_bytes: int = 1_000_000
    linger_s: float = 0.2  # the oldest waiting event is sent after at most this


@dataclass(frozen=True, slots=True)
class Encoded:
    schema: WriterSchema
    datum: bytes
    at: float  # monotonic time of track()


class Buffer:
    def __init__(self, capacity: int, when_full: WhenFull, block_timeout_s: float) -> None:
        if capacity < 1 or when_full not in ("block", "drop"):
            raise ConfigError(
                f"capacity must be >= 1 (not {capacity}) and when_full 'block' or 'drop' "
                f"(not {when_full!r})"
            )
        self._capacity, self._when_full, self._block_timeout_s = (
            capacity,
            when_full,
            block_timeout_s,
        )
        self._waiting: deque[Encoded] = deque()
        self._waiting_bytes = 0
        self._held = 0  # waiting plus taken but not yet resolved
        self._urgent = False  # flush or close: send without lingering
        self._changed = threading.Condition()

    @property
    def held(self) -> int:
        return self._held

    def put(self, event: Encoded) -> bool:
        with self._changed:
            if self._held >= self._capacity:
                if self._when_full == "drop":
                    return False
                room = self._changed.wait_for(
                    lambda: self._held < self._capacity, self._block_timeout_s
                )
                if not room:
                    raise BufferFull(
                        f"{self._held} events waiting for the server (capacity "
                        f"{self._capacity}) for {self._block_timeout_s} s",
                        capacity=self._capacity,
                    )
            self._waiting.append(event)
            self._waiting_bytes += len(event.datum)
            self._held += 1
            self._changed.notify_all()
            return True

    def take(self, batching: Batching, stop: threading.Event) -> list[Encoded]:
        """The next batch once it is full, its oldest event has lingered enough, a
        flush asks for it, or ``stop`` is set; empty when ``stop`` is set and nothing
        waits."""
        with self._changed:
            while not self._ready(batching) and not stop.is_set():
                oldest = self._waiting[0].at if self._waiting else None
                pause = None if oldest is None else oldest + batching.linger_s - time.monotonic()
                self._changed.wait(0.1 if pause is None else max(0.0, min(pause, 0.1)))
            batch: list[Encoded] = []
            size = 0
            while self._waiting and len(batch) < batching.max_events:
                datum = self._waiting[0].datum
                if batch and size + len(datum) > batching.max_bytes:
                    break
                batch.append(self._waiting.popleft())
                size += len(datum)
            self._waiting_bytes -= size
            return batch

    def _ready(self, batching: Batching) -> bool:
        if not self._waiting:
            return False
        return (
            self._urgent
            or len(self._waiting) >= batching.max_events
            or self._waiting_bytes >= batching.max_bytes
            or time.monotonic() - self._waiting[0].at >= batching.linger_s
        )

    def resolved(self, count: int) -> None:
        with self._changed:
            self._held -= count
            if self._held == 0:
                self._urgent = False
            self._changed.notify_all()

    def drain(self, timeout_s: float | None) -> bool:
        """Send what waits without lingering; True once every event is resolved."""
        with self._changed:
            self._urgent = True
            self._changed.notify_all()
            return self._changed.wait_for(lambda: self._held == 0, timeout_s)
