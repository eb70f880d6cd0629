"""The ``Log`` port: topics with partitions, offsets and consumer-group commits.

Two ways to read, because the stages need different things:

* the processor plans exact offset ranges (``end_offsets`` + ``read``), so a replayed
  micro-batch covers exactly the same records and rewrites the same files;
* the loader is one of N members of a consumer group (``subscribe``): partitions
  are shared among members, with pause/resume for backpressure and health.

Offsets follow Kafka: a committed offset is the *next* offset to read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """A record to append. ``key`` picks the partition (same key, same partition)."""

    key: bytes
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Record:
    """A record read back from the log."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: Mapping[str, str]
    timestamp_ms: int


def dead_letter(record: Record, exc: BaseException) -> Message:
    """``record`` for the dead-letter topic: as it was, plus why and where from.

    The ``source`` header (``topic/partition/offset``) is the dead letter's id: it
    depends on the record's position only, never on the error. A stage that crashes
    after appending its dead letters and before appending its tasks or committing
    appends them again on replay, with the same ``source``: readers of the dead-letter
    topic keep the first record of each ``source`` (e.g. as the key of
    ``playlog.failed_events``) and drop the rest.
    """
    headers = {
        **record.headers,
        "error": f"{type(exc).__name__}: {exc}",
        "source": f"{record.topic}/{record.partition}/{record.offset}",
    }
    return Message(record.key, record.value, headers)


class Subscription(Protocol):
    """A consumer-group member. Never commits on its own."""

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to ``max_records`` from the assigned, unpaused partitions."""

    def assignment(self) -> set[int]:
        """Partitions currently owned by this member."""

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit ``{partition: next offset}``; partitions no longer owned are skipped."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def close(self) -> None: ...


class Log(Protocol):
    def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create the topic if missing (existing topics are left as they are)."""

    def partitions(self, topic: str) -> int: ...

    def incarnation(self) -> str:
        """An id created with the log ("" for a log that never loses its tail): file
        keys carry it, so a recreated log's offsets never collide with old ones."""

    def append(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        """Append durably; returns ``(partition, offset)`` per message, in order.

        Returning means every message is durable. Raises ``LogUnavailable`` otherwise.
        """

    def end_offsets(self, topic: str) -> dict[int, int]:
        """``{partition: offset the next appended record will get}``."""

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        """Every record with ``start <= offset < end``, in offset order."""

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """Committed offsets of ``group``; partitions never committed are absent."""

    def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None: ...

    def subscribe(self, group: str, topic: str) -> Subscription: ...

    def trim_expired(self) -> int:
        """Delete records past the log's retention that every group has consumed; how
        many. A no-op (0) where the broker enforces retention itself (Kafka)."""

    def close(self) -> None: ...
