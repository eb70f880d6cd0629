"""The ``Log`` port on Apache Kafka (or any Kafka-protocol broker) with confluent-kafka.

One idempotent producer per ``KafkaLog``; a small pool of assigned (never subscribed)
consumers for exact offset-range reads; one standalone consumer per group for
``committed``/``commit``; a group member per ``subscribe``. Every driver error leaves
as ``LogUnavailable``.

Defaults are right for Apache Kafka. Brokers that differ get opt-in workarounds
(``verify_end_offsets``, ``finish_join_before_leave``: ``log.*`` settings), which the
tests turn on for the Tansu broker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from types import MappingProxyType
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import Message as KafkaMessage
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from playlog.errors import LogUnavailable
from playlog.log.base import Message, Record
from playlog.log.kafka_config import (
    EMPTY,
    TIMEOUT_S,
    check_error,
    check_partitions,
    consumer_config,
    driver_errors,
    group_config,
    producer_config,
    reader_config,
    to_record,
)
from playlog.log.kafka_subscription import KafkaSubscription

log = logging.getLogger(__name__)

EMPTY_RETENTION: Mapping[str, int] = MappingProxyType({})
READ_TIMEOUT_S = 30.0  # a planned range that does not arrive within this is an outage
_READ_CHUNK = 10_000


def _log_error(err: KafkaError) -> None:
    # Client-level errors (broker down, ...): librdkafka keeps retrying on its own; the
    # operations that cannot complete raise LogUnavailable.
    log.warning("kafka: %s", err)


def _close_quietly(consumer: Consumer) -> None:
    try:
        consumer.close()
    except (KafkaException, RuntimeError) as exc:
        log.debug("closing a consumer: %s", exc)


class _Delivery:
    """Delivery reports of one ``append``; callbacks may run in any thread that polls."""

    def __init__(self, n: int) -> None:
        self.results: list[tuple[int, int]] = [(-1, -1)] * n
        self.pending = n
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def report(self, index: int, err: KafkaError | None, msg: KafkaMessage) -> None:
        with self.lock:
            if err is not None:
                self.errors.append(err.str())
            else:
                self.results[index] = (msg.partition() or 0, msg.offset() or 0)
            self.pending -= 1


class KafkaLog:
    def __init__(
        self,
        bootstrap_servers: str,
        extra_config: Mapping[str, str] = EMPTY,
        replication_factor: int = 1,
        retention_ms: int | None = None,
        client_id: str = "playlog",
        *,
        session_timeout_ms: int = 45_000,
        topic_retention_ms: Mapping[str, int] = EMPTY_RETENTION,
        verify_end_offsets: bool = False,
        finish_join_before_leave: bool = False,
    ) -> None:
        self._base: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "client.id": client_id,
            **extra_config,
            "error_cb": _log_error,
        }
        self._replication_factor = replication_factor
        self._retention_ms = retention_ms
        self._topic_retention_ms = dict(topic_retention_ms)  # per topic, over retention_ms
        self._session_timeout_ms = session_timeout_ms
        self._verify_end_offsets = verify_end_offsets
        self._finish_join_before_leave = finish_join_before_leave
        self._lock = threading.Lock()
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._producer_fatal = False  # an idempotent producer that hit a fatal error is dead
        self._idle_readers: list[Consumer] = []
        self._groups: dict[str, Consumer] = {}
        self._subscriptions: list[KafkaSubscription] = []
        self._closed = False
        # librdkafka times a message out on its own after message.timeout.ms; wait a
        # little longer so every message gets a real delivery report.
        self._delivery_timeout_s = int(producer_config(self._base)["message.timeout.ms"]) / 1000 + 5

    def _on_producer_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._producer_fatal = True
        _log_error(err)

    # ---------------------------------------------------------------- topics

    def _admin_client(self) -> AdminClient:
        with self._lock:
            self._check_open()
            if self._admin is None:
                self._admin = AdminClient(dict(self._base))
            return self._admin

    def _topic_partitions(self, topic: str) -> int | None:
        # All-topics metadata: asking for one topic by name can auto-create it on brokers
        # with auto.create.topics.enable.
        with driver_errors("metadata"):
            meta = self._admin_client().list_topics(timeout=TIMEOUT_S)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            return None
        return len(found.partitions)

    def ensure_topic(self, topic: str, partitions: int) -> None:
        retention_ms = self._topic_retention_ms.get(topic, self._retention_ms)
        config = {} if retention_ms is None else {"retention.ms": str(retention_ms)}
        new = NewTopic(topic, partitions, self._replication_factor, config=config)
        with driver_errors(f"create topic {topic}"):
            futures = self._admin_client().create_topics(
                [new], operation_timeout=TIMEOUT_S, request_timeout=TIMEOUT_S
            )
            try:
                futures[topic].result(TIMEOUT_S)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        # Metadata can lag topic creation for a moment; callers expect to use it at once.
        deadline = time.monotonic() + TIMEOUT_S
        while self._topic_partitions(topic) is None:
            if time.monotonic() > deadline:
                raise LogUnavailable(f"topic {topic} created but not visible in metadata")
            time.sleep(0.05)

    def incarnation(self) -> str:
        """Kafka keeps offsets across broker restarts (replicated): none needed."""
        return ""

    def partitions(self, topic: str) -> int:
        n = self._topic_partitions(topic)
        if n is None:
            raise LogUnavailable(f"topic {topic} does not exist")
        return n

    # ---------------------------------------------------------------- append

    def _get_producer(self) -> Producer:
        with self._lock:
            self._check_open()
            if self._producer is not None and self._producer_fatal:
                # Fatal idempotence errors (e.g. fenced epoch) need a new producer.
                self._producer.purge()
                self._producer = None
            if self._producer is None:
                self._producer_fatal = False
                config = producer_config(self._base)
                self._producer = Producer({**config, "error_cb": self._on_producer_error})
            return self._producer

    def append(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        if not messages:
            return []
        producer = self._get_producer()
        delivery = _Delivery(len(messages))
        deadline = time.monotonic() + self._delivery_timeout_s
        with driver_errors(f"append to {topic}"):
            for i, m in enumerate(messages):
                headers: list[tuple[str, str | bytes | None]] = [
                    (k, v.encode()) for k, v in m.headers.items()
                ]
                while True:
                    try:
                        producer.produce(
                            topic, m.value, m.key, on_delivery=partial(delivery.report, i),
                            headers=headers,
                        )  # fmt: skip
                        break
                    except BufferError:
                        # Local queue full: serve delivery reports to make room.
                        if time.monotonic() > deadline:
                            raise
                        producer.poll(0.05)
            # flush() sends at once (ignores linger.ms) and serves delivery reports; with
            # several threads appending, a report may be served by another thread, so
            # also wait for our own count.
            producer.flush(max(0.0, deadline - time.monotonic()))
            while delivery.pending and time.monotonic() < deadline:
                producer.poll(0.01)
        if delivery.errors:
            raise LogUnavailable(f"append to {topic} failed: {delivery.errors[0]}")
        if delivery.pending:
            raise LogUnavailable(f"append to {topic}: no delivery report within the timeout")
        return delivery.results

    # ---------------------------------------------------------------- offsets and reads

    @contextmanager
    def _reader(self) -> Iterator[Consumer]:
        """Borrow an assigned-mode consumer from the pool; a failed one is discarded."""
        with self._lock:
            self._check_open()
            consumer = self._idle_readers.pop() if self._idle_readers else None
        if consumer is None:
            consumer = Consumer(reader_config(self._base))
        try:
            yield consumer
        except BaseException:
            _close_quietly(consumer)
            raise
        try:
            consumer.unassign()
        except KafkaException:
            _close_quietly(consumer)
            return
        with self._lock:
            if not self._closed:
                self._idle_readers.append(consumer)
                return
        _close_quietly(consumer)

    def end_offsets(self, topic: str) -> dict[int, int]:
        n = self.partitions(topic)
        with self._reader() as consumer, driver_errors(f"end offsets of {topic}"):
            ends: dict[int, int] = {}
            probe: list[TopicPartition] = []
            for p in range(n):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=TIMEOUT_S, cached=False
                )
                ends[p] = high
                if high > low:
                    probe.append(TopicPartition(topic, p, high - 1))
            if not probe or not self._verify_end_offsets:
                return ends
            # ListOffsets LATEST not trusted (Tansu answers first offset of the last batch
            # + 1): read from there to the partition EOF, whose offset comes from a fetch
            # response. On Apache Kafka this would read one record per partition.
            consumer.assign(probe)
            waiting = {tp.partition for tp in probe}
            deadline = time.monotonic() + READ_TIMEOUT_S
            while waiting:
                if time.monotonic() > deadline:
                    raise LogUnavailable(f"end offsets of {topic}: no EOF for {sorted(waiting)}")
                for msg in consumer.consume(_READ_CHUNK, 0.05):
                    p = msg.partition() or 0
                    err = msg.error()
                    if err is None:
                        ends[p] = max(ends[p], (msg.offset() or 0) + 1)
                    elif err.code() == KafkaError._PARTITION_EOF:
                        ends[p] = max(ends[p], msg.offset() or 0)
                        waiting.discard(p)
                    else:
                        check_error(err)
            return ends

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        records: list[Record] = []
        next_offset = start
        with self._reader() as consumer, driver_errors(f"read {topic}[{partition}]"):
            consumer.assign([TopicPartition(topic, partition, start)])
            deadline = time.monotonic() + READ_TIMEOUT_S
            while next_offset < end:
                if time.monotonic() > deadline:
                    raise LogUnavailable(
                        f"read {topic}[{partition}] {start}..{end}: stuck at {next_offset}"
                    )
                # consume(n) waits for n messages even at EOF: never ask for more than
                # the range still holds. EOF events count too, so a short range ends fast.
                for msg in consumer.consume(min(end - next_offset, _READ_CHUNK), 0.5):
                    err = msg.error()
                    offset = msg.offset() or 0
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            check_error(err)
                        elif offset >= end:  # offsets up to end are gaps (compaction)
                            next_offset = end
                        continue
                    if offset < next_offset or msg.partition() != partition:
                        continue  # cannot happen with librdkafka's op versions; be safe
                    if offset >= end:
                        next_offset = end
                        break
                    records.append(to_record(msg))
                    next_offset = offset + 1
        return records

    # ---------------------------------------------------------------- group offsets

    def _group_consumer(self, group: str) -> Consumer:
        # Never subscribes, so it never joins the group: Kafka accepts its commits only
        # while the group has no active members (the processor's case).
        with self._lock:
            self._check_open()
            consumer = self._groups.get(group)
            if consumer is None:
                consumer = self._groups[group] = Consumer(group_config(self._base, group))
            return consumer

    def committed(self, group: str, topic: str) -> dict[int, int]:
        n = self.partitions(topic)
        with driver_errors(f"committed offsets of {group}"):
            tps = self._group_consumer(group).committed(
                [TopicPartition(topic, p) for p in range(n)], timeout=TIMEOUT_S
            )
        check_partitions(tps)
        return {tp.partition: tp.offset for tp in tps if tp.offset >= 0}

    def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        if not offsets:
            return
        tps = [TopicPartition(topic, p, o) for p, o in sorted(offsets.items())]
        with driver_errors(f"commit of {group}"):
            check_partitions(self._group_consumer(group).commit(offsets=tps, asynchronous=False))

    def subscribe(self, group: str, topic: str) -> KafkaSubscription:
        with self._lock:
            self._check_open()
        config = consumer_config(self._base, group, self._session_timeout_ms)
        sub = KafkaSubscription(config, topic, self._finish_join_before_leave)
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if not s.closed]
            self._subscriptions.append(sub)
        return sub

    def trim_expired(self) -> int:
        """Nothing to do: the broker deletes by the topics' ``retention.ms``."""
        return 0

    # ---------------------------------------------------------------- lifecycle

    def _check_open(self) -> None:
        if self._closed:
            raise LogUnavailable("the Kafka log is closed")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            consumers = [*self._idle_readers, *self._groups.values()]
            producer, subs = self._producer, self._subscriptions
            self._idle_readers, self._groups, self._subscriptions = [], {}, []
            self._producer = self._admin = None
        for sub in subs:
            sub.close()
        for consumer in consumers:
            consumer.close()
        if producer is not None:
            producer.flush(5)  # append() already waited for its messages; nothing is lost


__all__ = ["KafkaLog", "KafkaSubscription"]
