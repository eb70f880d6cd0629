"""A consumer-group member on Kafka (the loader's side of the copy topic).

Never skips: the consumer runs with ``auto.offset.reset=error``. A partition the group
never committed is assigned from the beginning (a new group reads everything); a
committed offset that retention deleted raises ``RecordsExpired`` once, and that
partition stays paused (``expired()``) until it is revoked: an operator decides.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from playlog.errors import LogUnavailable, PlaylogError, RecordsExpired
from playlog.log.base import Record
from playlog.log.kafka_config import (
    TIMEOUT_S,
    check_error,
    check_partitions,
    driver_errors,
    to_record,
)


class KafkaSubscription:
    """A consumer-group member. Tracks its assignment; commits only when told to."""

    def __init__(
        self, config: dict[str, Any], topic: str, finish_join_before_leave: bool = False
    ) -> None:
        self._topic = topic
        self._group = str(config.get("group.id", ""))
        self._committed: dict[int, int] = {}  # at assignment; -1: never committed
        self._expired: dict[int, RecordsExpired] = {}
        self._unreported: list[PlaylogError] = []  # raised by the next poll
        self._finish_join_before_leave = finish_join_before_leave
        self._owned: set[int] = set()
        self._paused = False
        self._joined = False  # the first rebalance completed
        self._session_timeout_s = int(config.get("session.timeout.ms", 45000)) / 1000
        self.closed = False
        strategy = str(config.get("partition.assignment.strategy", ""))
        self._cooperative = "cooperative" in strategy
        self._consumer = Consumer(config)
        with driver_errors(f"subscribe to {topic}"):
            self._consumer.subscribe(
                [topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                on_lost=self._on_revoke,
            )  # fmt: skip

    # Rebalance callbacks run inside consume(), in the polling thread.
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            # Assign here (instead of letting the client do it after this callback):
            # partitions never committed start at the beginning (auto.offset.reset is
            # "error"), and new partitions are paused before their first fetch.
            committed = consumer.committed(partitions, timeout=TIMEOUT_S)
            for tp in committed:
                self._committed[tp.partition] = tp.offset
                if tp.offset < 0:
                    tp.offset = OFFSET_BEGINNING
            if self._cooperative:
                consumer.incremental_assign(committed)
            else:
                consumer.assign(committed)
            if self._paused:
                consumer.pause(partitions)
        self._owned.update(tp.partition for tp in partitions)
        self._joined = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # No commit here: the owner commits only work that is finished, and unfinished
        # work is redelivered to the next owner (the load ledger makes that harmless).
        for tp in partitions:
            self._owned.discard(tp.partition)
            self._expired.pop(tp.partition, None)

    def _offset_reset(self, partition: int, err: KafkaError) -> None:
        if self._committed.get(partition, -1) < 0:
            # Not a gap: the group never committed here, and the assignment did not go
            # through _on_assign (its committed-offset lookup failed). A new member
            # (the loader restarted) assigns it from the beginning.
            self._unreported.append(
                LogUnavailable(f"{self._topic}[{partition}] has no start offset: {err.str()}")
            )
            return
        self._gap(partition, err)

    def _gap(self, partition: int, err: KafkaError) -> RecordsExpired:
        """Stop consuming ``partition``: its committed offset is gone from the log."""
        committed = self._committed[partition]
        error = RecordsExpired(
            f"{self._group} on {self._topic}[{partition}]: committed offset {committed} "
            f"is no longer in the log ({err.str()}); the records retention deleted were "
            "never read. Not skipping: replay that range, then move the group's offset on",
            group=self._group, topic=self._topic, partition=partition, committed=committed,
        )  # fmt: skip
        self._expired[partition] = error
        self._unreported.append(error)
        self._consumer.pause([TopicPartition(self._topic, partition)])
        return error

    def expired(self) -> dict[int, RecordsExpired]:
        """Owned partitions stopped by a gap (``RecordsExpired``), by partition."""
        return dict(self._expired)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Wait up to ``timeout_s`` for the first record, then take what is ready."""
        self._raise_gap()
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        with driver_errors(f"poll {self._topic}"):
            while not records and max_records > 0:
                left = deadline - time.monotonic()
                # consume(n) waits for all n: wait for one, then drain without waiting.
                msgs = self._consumer.consume(1, max(0.0, left))
                if msgs and max_records > 1:
                    msgs += self._consumer.consume(max_records - 1, 0)
                for msg in msgs:
                    err = msg.error()
                    if err is None:
                        records.append(to_record(msg))
                    elif err.code() == KafkaError._AUTO_OFFSET_RESET and not err.fatal():
                        self._offset_reset(msg.partition() or 0, err)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        check_error(err)  # fatal ones raise; the client retries the rest
                if left <= 0 or self._unreported:
                    break
        if not records:
            self._raise_gap()
        return records

    def _raise_gap(self) -> None:
        # Raised on its own: records consumed with it are returned first, never dropped.
        if self._unreported:
            raise self._unreported.pop(0)

    def assignment(self) -> set[int]:
        return set(self._owned)

    def commit(self, offsets: Mapping[int, int]) -> None:
        owned = self._owned
        tps = [TopicPartition(self._topic, p, o) for p, o in sorted(offsets.items()) if p in owned]
        if not tps:
            return
        with driver_errors(f"commit {self._topic}"):
            check_partitions(self._consumer.commit(offsets=tps, asynchronous=False))

    def pause(self) -> None:
        self._paused = True
        with driver_errors("pause"):
            if parts := self._consumer.assignment():
                self._consumer.pause(parts)

    def resume(self) -> None:
        self._paused = False
        with driver_errors("resume"):
            parts = self._consumer.assignment()
            if parts := [tp for tp in parts if tp.partition not in self._expired]:
                self._consumer.resume(parts)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._finish_join_before_leave:
            # Leaving while our JoinGroup is still pending wedges the group on Tansu
            # (every later member waits forever for an assignment); finish joining
            # first. Records this returns are dropped uncommitted: the next owner reads them.
            deadline = time.monotonic() + self._session_timeout_s
            with contextlib.suppress(KafkaException):
                while not self._joined and time.monotonic() < deadline:
                    self._consumer.consume(1, 0.1)
        self._consumer.close()  # leaves the group now, so a successor need not wait
