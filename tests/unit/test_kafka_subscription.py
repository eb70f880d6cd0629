"""The copy-topic consumer never skips records retention deleted (issue 9, finding 5).

A fake ``Consumer`` stands in for librdkafka: the broker's side (which offsets exist)
is not what is tested here, only what the subscription does with its answers."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from playlog.errors import LogUnavailable, RecordsExpired, TerminalError
from playlog.log import kafka_subscription
from playlog.log.kafka_config import consumer_config
from playlog.log.kafka_subscription import KafkaSubscription
from playlog.settings import Settings

TOPIC = "playlog.copy"


class FakeMessage:
    def __init__(self, partition: int, offset: int, error: KafkaError | None = None) -> None:
        self._partition, self._offset, self._error = partition, offset, error

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v"

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


class FakeConsumer:
    """Assigns ``partitions`` on the first consume; then hands out ``queued`` messages."""

    def __init__(self, config: dict[str, Any], committed: dict[int, int], partitions: int) -> None:
        self.config = config
        self.committed_offsets = committed
        self.partitions = partitions
        self.assigned: list[TopicPartition] = []
        self.paused: set[int] = set()
        self.queued: list[FakeMessage] = []
        self.callbacks: dict[str, Any] = {}

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def consume(self, n: int, timeout: float) -> list[FakeMessage]:
        if not self.assigned and self.callbacks:
            tps = [TopicPartition(TOPIC, p) for p in range(self.partitions)]
            self.callbacks["on_assign"](self, tps)
        out, self.queued = self.queued[:n], self.queued[n:]
        return out

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(TOPIC, tp.partition, self.committed_offsets.get(tp.partition, -1001))
            for tp in tps
        ]

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = list(tps)

    incremental_assign = assign

    def assignment(self) -> list[TopicPartition]:
        return self.assigned

    def pause(self, tps: list[TopicPartition]) -> None:
        self.paused.update(tp.partition for tp in tps)

    def resume(self, tps: list[TopicPartition]) -> None:
        self.paused.difference_update(tp.partition for tp in tps)

    def close(self) -> None:
        pass


@pytest.fixture
def consumers(monkeypatch: pytest.MonkeyPatch) -> list[FakeConsumer]:
    made: list[FakeConsumer] = []
    committed = {0: 7}  # partition 0 committed at 7; partition 1 never committed

    def factory(config: dict[str, Any]) -> FakeConsumer:
        made.append(FakeConsumer(config, committed, partitions=2))
        return made[-1]

    monkeypatch.setattr(kafka_subscription, "Consumer", factory)
    return made


def subscribe() -> KafkaSubscription:
    return KafkaSubscription(consumer_config({}, "playlog-load"), TOPIC)


def test_a_group_member_never_resets_its_offset_on_its_own() -> None:
    assert consumer_config({}, "g")["auto.offset.reset"] == "error"
    # not even when the user's librdkafka settings ask for it
    assert consumer_config({"auto.offset.reset": "earliest"}, "g")["auto.offset.reset"] == "error"


def test_a_partition_never_committed_starts_at_the_earliest(consumers: list[FakeConsumer]) -> None:
    sub = subscribe()
    assert sub.poll(10, 0) == []
    starts = {tp.partition: tp.offset for tp in consumers[0].assigned}
    assert starts == {0: 7, 1: OFFSET_BEGINNING}
    assert sub.assignment() == {0, 1}


def test_a_committed_offset_retention_deleted_is_an_error_never_a_skip(
    consumers: list[FakeConsumer],
) -> None:
    sub = subscribe()
    sub.poll(10, 0)
    gone = KafkaError(KafkaError._AUTO_OFFSET_RESET, "offset 7 not available: log starts at 20")
    consumers[0].queued = [FakeMessage(1, 0), FakeMessage(0, 7, gone), FakeMessage(1, 1)]

    # Records fetched with the error are returned, not dropped; the error comes next.
    assert [(r.partition, r.offset) for r in sub.poll(10, 0)] == [(1, 0), (1, 1)]
    with pytest.raises(RecordsExpired) as raised:
        sub.poll(10, 0)

    error = raised.value
    assert isinstance(error, TerminalError)
    assert error.details["group"] == "playlog-load" and error.details["partition"] == 0
    assert error.details["topic"] == TOPIC and error.details["committed"] == 7
    assert "log starts at 20" in error.message
    assert 0 in consumers[0].paused  # that partition stops; the others go on
    assert sub.expired() == {0: error}
    sub.resume()
    assert consumers[0].paused == {0}  # resume() does not restart a partition with a gap
    consumers[0].queued = [FakeMessage(1, 2)]
    assert [r.partition for r in sub.poll(10, 0)] == [1]  # raised once, the rest goes on


def test_copy_topic_retention_is_seven_times_the_data_topics_by_default() -> None:
    log = Settings.read(log={"retention_hours": 10}).log
    assert log.copy_retention_hours == 70
    assert Settings.read(log={"copy_retention_hours": 500}).log.copy_retention_hours == 500


def test_a_reset_error_without_a_committed_offset_is_no_gap(
    consumers: list[FakeConsumer],
) -> None:
    # The assignment skipped _on_assign (its committed lookup failed): partition 1 has
    # no committed offset, so librdkafka's reset error is no retention gap.
    sub = subscribe()
    sub.poll(10, 0)
    no_offset = KafkaError(KafkaError._AUTO_OFFSET_RESET, "no previously committed offset")
    sub._committed.pop(1)
    consumers[0].queued = [FakeMessage(1, -1001, no_offset)]
    with pytest.raises(LogUnavailable):
        sub.poll(10, 0)
    assert sub.expired() == {}
