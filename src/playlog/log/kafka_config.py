"""Client settings and driver-object conversions for the Kafka log (``playlog.log.kafka``).

Each ``*_config`` merges: our defaults < the user's ``extra_config`` (already in ``base``)
< the settings correctness depends on, which cannot be overridden.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as KafkaMessage

from playlog.errors import LogUnavailable
from playlog.log.base import Record

EMPTY: Mapping[str, str] = MappingProxyType({})
TIMEOUT_S = 10.0  # metadata, admin and offset requests

# Errors that retrying inside the client cannot fix. Everything else librdkafka retries.
_RAISE_CODES = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError._AUTO_OFFSET_RESET,  # range gone (retention): never skip data silently
        KafkaError._FATAL,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
    }
)


def _merge(
    base: Mapping[str, Any], defaults: Mapping[str, Any], forced: Mapping[str, Any]
) -> dict[str, Any]:
    return {**defaults, **base, **forced}


def producer_config(base: Mapping[str, Any]) -> dict[str, Any]:
    # Idempotence: librdkafka's own retries never duplicate or reorder a record.
    # acks=all: a delivery report means the record is on every in-sync replica.
    # A short linger lets concurrent appends share a request without adding latency.
    defaults = {"linger.ms": 5, "compression.type": "lz4", "message.timeout.ms": 30_000}
    return _merge(base, defaults, {"enable.idempotence": True, "acks": "all"})


def reader_config(base: Mapping[str, Any]) -> dict[str, Any]:
    # Assigned, never subscribed: group.id is required by the client but no group is
    # joined and nothing is committed. Partition EOF events mark the true end of a log.
    # auto.offset.reset=error: a range deleted by retention fails instead of skipping.
    forced = {
        "group.id": f"{base.get('client.id', 'playlog')}-reader",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }
    return _merge(base, {"fetch.wait.max.ms": 10}, forced)


def group_config(base: Mapping[str, Any], group: str) -> dict[str, Any]:
    """A consumer used only to read and write ``group``'s committed offsets."""
    return _merge(base, {}, {"group.id": group, "enable.auto.commit": False})


def consumer_config(
    base: Mapping[str, Any], group: str, session_timeout_ms: int = 45_000
) -> dict[str, Any]:
    """A group member (``subscribe``). ``session_timeout_ms`` is ``log.session_timeout_ms``;
    ``session.timeout.ms`` in the user's config wins over it, like every default here."""
    defaults = {
        "session.timeout.ms": session_timeout_ms,
        # librdkafka's 3 s, or a sixth of a short session so a rebalance is seen soon.
        "heartbeat.interval.ms": min(3000, session_timeout_ms // 6),
        # A fetch at the end of the log waits this long; keeps loader latency low.
        "fetch.wait.max.ms": 50,
    }
    # auto.offset.reset=error: a committed offset retention deleted is reported
    # (RecordsExpired), never skipped; a partition never committed starts at the
    # beginning (KafkaSubscription assigns it so), which is not a gap.
    forced = {
        "group.id": group,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "error",
    }
    return _merge(base, defaults, forced)


def check_error(err: KafkaError) -> None:
    """Raise ``LogUnavailable`` for an error event the client will not recover from."""
    if err.fatal() or err.code() in _RAISE_CODES:
        raise LogUnavailable(f"kafka: {err.str()}")


def check_partitions(tps: list[TopicPartition] | None) -> None:
    """Raise for the first per-partition error of a commit/committed answer."""
    for tp in tps or ():
        if tp.error is not None:
            raise LogUnavailable(f"{tp.topic}[{tp.partition}]: {tp.error.str()}")


def to_record(msg: KafkaMessage) -> Record:
    raw = msg.headers() or ()
    pairs = raw.items() if isinstance(raw, dict) else raw
    headers = {
        k: v.decode(errors="replace") if isinstance(v, bytes) else (v or "") for k, v in pairs
    }
    return Record(
        topic=msg.topic() or "",
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        key=msg.key() or b"",
        value=msg.value() or b"",
        headers=headers,
        timestamp_ms=msg.timestamp()[1],
    )


@contextmanager
def driver_errors(what: str) -> Iterator[None]:
    """librdkafka's errors as ``LogUnavailable`` naming the operation."""
    try:
        yield
    except (KafkaException, BufferError, TimeoutError) as exc:
        raise LogUnavailable(f"{what}: {exc}") from exc
