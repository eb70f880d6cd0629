"""The ``Log`` port: topics with partitions, offsets and consumer-group commits.

Two ways to read, because the stages need different things:

* the processor plans exact offset ranges (``end_offsets`` + ``read``), so a replayed
  micro-batch covers exactly the same records and rewrites the same files;
* the loader is one of N members of a consumer group (``subscribe``): partitions
  are shared among members, with pause/resume for backpressure and health.

Offsets follow Kafka: a committed offset is the *next* offset to read.
"""

from __future__ import annotations

import time
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


def dead_letter(
    record: Record, exc: BaseException, stage: str, source: str | None = None, **about: str
) -> Message:
    """``record`` for the dead-letter topic: as it was, plus why, when and where from.

    The ``source`` header is the dead letter's id: ``topic/partition/offset`` of the
    record by default (a stage passes a better one: the loader the task's file key;
    the processor adds the range's incarnation, :func:`in_incarnation`),
    the failed event's own source for a record ``playlog replay`` sent again. It
    depends on the data's position only, never on the error. A stage that crashes
    after appending its dead letters and before appending its tasks or committing
    appends them again on replay, with the same ``source``: ``playlog.failed_events``
    keeps one row per ``source``. ``about`` adds ``event_type``/``schema_hash``.
    """
    headers = {
        **record.headers,
        **about,
        "error": f"{type(exc).__name__}: {exc}",
        "category": failure_category(exc),
        "stage": stage,
        "failed_at_ms": str(int(time.time() * 1000)),
        "source": source
        or record.headers.get("replay_of")
        or position(record.topic, record.partition, record.offset),
    }
    return Message(record.key, record.value, headers)


def position(topic: str, partition: int, offset: int, incarnation: str = "") -> str:
    """A record's place as a dead letter's ``source`` names it: ``topic/partition/offset``,
    plus ``@incarnation`` where the log has one: a rewound log gives the same offsets
    to new records, which are other failed events (``@`` is in no topic name)."""
    return f"{topic}/{partition}/{offset}" + (f"@{incarnation}" if incarnation else "")


def in_incarnation(message: Message, incarnation: str) -> Message:
    """A dead letter named by its record's position, now named in ``incarnation`` (the
    incarnation of the range it was read in, which only the stage knows). A replay's
    dead letter keeps the source of the failed event it replays."""
    if not incarnation or "replay_of" in message.headers:
        return message
    source = message.headers["source"]
    return Message(
        message.key, message.value, {**message.headers, "source": f"{source}@{incarnation}"}
    )


# Exceptions from decoding bytes (a damaged block) vs. from converting decoded values
# to columns (a timestamp no column holds): the two bounded reasons beyond our codes.
_UNDECODABLE = ("EOFError", "IndexError", "error", "StopIteration")  # zlib.error


def failure_category(exc: BaseException) -> str:
    """A bounded name for why ``exc`` failed (a metric label; the message is not)."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code.isidentifier():
        return code  # a PlaylogError's code: unknown_schema, warehouse_error, ...
    if type(exc).__name__ in _UNDECODABLE:
        return "undecodable"
    if isinstance(exc, ValueError | ArithmeticError | TypeError | LookupError):
        return "unconvertible"  # Arrow's errors are ValueErrors and ArithmeticErrors
    return "other"


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
