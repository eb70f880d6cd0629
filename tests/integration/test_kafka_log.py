"""KafkaLog against a real Kafka-protocol broker (Tansu, started by tests/peers.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from playlog.errors import LogUnavailable
from playlog.log.base import Message, Record, Subscription
from playlog.log.kafka import KafkaLog
from tests.support.deadline import Deadline


@pytest.fixture
def log(kafka_bootstrap: str) -> Iterator[KafkaLog]:
    kafka_log = KafkaLog(
        kafka_bootstrap, client_id="playlog-test",
        session_timeout_ms=6000, verify_end_offsets=True, finish_join_before_leave=True,
    )  # fmt: skip
    yield kafka_log
    kafka_log.close()


def _topic(log: KafkaLog, partitions: int) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    log.ensure_topic(name, partitions)
    return name


def _msgs(n: int, start: int = 0, keys: int = 5) -> list[Message]:
    return [
        Message(
            key=f"k{i % keys}".encode(), value=f"v{i}".encode(), headers={"n": str(i), "é": "ü"}
        )
        for i in range(start, start + n)
    ]


def _poll_until(sub: Subscription, count: int, timeout_s: float = 30.0) -> list[Record]:
    got: list[Record] = []
    deadline = Deadline(timeout_s)  # scaled by PLAYLOG_TEST_SLOWDOWN
    while len(got) < count and not deadline.expired():
        got += sub.poll(100, 0.5)
    return got


def test_ensure_topic_and_partitions(log: KafkaLog, kafka_bootstrap: str) -> None:
    topic = _topic(log, 3)
    log.ensure_topic(topic, 5)  # exists: left as it is
    assert log.partitions(topic) == 3
    with pytest.raises(LogUnavailable):
        log.partitions("no-such-topic-" + uuid.uuid4().hex)
    retained = KafkaLog(kafka_bootstrap, retention_ms=3_600_000)
    try:
        assert log.partitions(_topic(retained, 2)) == 2
    finally:
        retained.close()


def test_concurrent_appends_share_the_producer(log: KafkaLog) -> None:
    topic = _topic(log, 2)
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda i: log.append(topic, _msgs(3, start=i * 3)), range(40)))
    positions = [pos for batch in batches for pos in batch]
    assert len(set(positions)) == 120
    ends = log.end_offsets(topic)
    assert sorted(positions) == sorted((p, o) for p, end in ends.items() for o in range(end))


def test_append_returns_durable_positions_in_order(log: KafkaLog) -> None:
    topic = _topic(log, 3)
    messages = _msgs(40)
    positions = log.append(topic, messages) + log.append(topic, _msgs(1, start=40))
    # Same key, same partition; offsets per partition are 0, 1, 2, ... in append order.
    by_key: dict[bytes, set[int]] = {}
    for m, (p, _) in zip(messages, positions, strict=False):
        by_key.setdefault(m.key, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values())
    for p in range(3):
        offsets = [o for q, o in positions if q == p]
        assert offsets == list(range(len(offsets)))
    # The positions are real: reading each one back gives the message appended there.
    for m, (p, o) in zip(messages, positions, strict=False):
        [rec] = log.read(topic, p, o, o + 1)
        assert (rec.key, rec.value, dict(rec.headers)) == (m.key, m.value, dict(m.headers))
        assert (rec.topic, rec.partition, rec.offset) == (topic, p, o)
        assert rec.timestamp_ms > 0


def test_end_offsets_exact_after_batches(log: KafkaLog) -> None:
    topic = _topic(log, 3)
    assert log.end_offsets(topic) == {0: 0, 1: 0, 2: 0}
    expected = {0: 0, 1: 0, 2: 0}
    # Multi-message batches: Tansu's ListOffsets LATEST would say "first offset of the
    # last batch + 1" here, well below the true end.
    for n in (1, 7, 50, 3):
        for p, o in log.append(topic, _msgs(n, keys=2)):  # keys k0, k1: one partition stays empty
            expected[p] = max(expected[p], o + 1)
        assert log.end_offsets(topic) == expected
    assert sum(expected.values()) == 61
    assert 0 in expected.values()


def test_read_exact_ranges(log: KafkaLog) -> None:
    topic = _topic(log, 1)
    for start in range(0, 30, 10):  # three batches of 10
        log.append(topic, _msgs(10, start=start))
    assert [r.offset for r in log.read(topic, 0, 0, 30)] == list(range(30))
    assert [r.value for r in log.read(topic, 0, 5, 12)] == [f"v{i}".encode() for i in range(5, 12)]
    assert [r.offset for r in log.read(topic, 0, 29, 30)] == [29]
    assert log.read(topic, 0, 10, 10) == []
    # The pooled consumer is reused: a range behind the previous one reads correctly.
    assert [r.offset for r in log.read(topic, 0, 0, 3)] == [0, 1, 2]


def test_committed_and_commit_round_trip(log: KafkaLog, kafka_bootstrap: str) -> None:
    topic = _topic(log, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    assert log.committed(group, topic) == {}
    log.commit(group, topic, {0: 5, 1: 3})
    assert log.committed(group, topic) == {0: 5, 1: 3}
    log.commit(group, topic, {0: 7})
    other = KafkaLog(kafka_bootstrap)  # stored on the broker, not in this client
    try:
        assert other.committed(group, topic) == {0: 7, 1: 3}
    finally:
        other.close()


def test_subscription_pause_resume_commit(log: KafkaLog) -> None:
    topic = _topic(log, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    log.append(topic, _msgs(20))
    sub = log.subscribe(group, topic)
    try:
        got = _poll_until(sub, 20)
        assert sorted(int(r.value[1:]) for r in got) == list(range(20))
        assert sub.assignment() == {0, 1}

        sub.pause()
        log.append(topic, _msgs(5, start=20))
        assert sub.poll(100, 1.5) == []
        sub.resume()
        got += _poll_until(sub, 5)
        assert len(got) == 25

        ends = {p: max(r.offset for r in got if r.partition == p) + 1 for p in (0, 1)}
        sub.commit({**ends, 7: 1})  # partition 7 is not owned: skipped
    finally:
        sub.close()
    assert log.committed(group, topic) == ends

    # A new member of the group starts from the commit. Paused before its first
    # assignment, it stays paused once partitions are assigned.
    log.append(topic, _msgs(3, start=25))
    sub = log.subscribe(group, topic)
    try:
        sub.pause()
        deadline = Deadline(30)
        while not sub.assignment() and not deadline.expired():
            assert sub.poll(100, 0.2) == []
        assert sub.assignment() == {0, 1}
        assert sub.poll(100, 1.0) == []
        sub.resume()
        assert sorted(r.value for r in _poll_until(sub, 3)) == [b"v25", b"v26", b"v27"]
        assert sub.poll(100, 0.5) == []  # nothing before the commit came back
    finally:
        sub.close()


def test_append_to_unreachable_broker_raises() -> None:
    dead = KafkaLog("127.0.0.1:1", extra_config={"message.timeout.ms": "1000"})
    try:
        t0 = time.monotonic()
        with pytest.raises(LogUnavailable):
            dead.append("anything", _msgs(2))
        assert time.monotonic() - t0 < 10
    finally:
        dead.close()


def test_closing_while_joining_leaves_the_group_usable(log: KafkaLog) -> None:
    """A loader stopped a moment after it started (its JoinGroup still pending) must
    not keep the next member of its group from getting partitions (on Tansu a leave
    during the join wedged the group for good)."""
    topic = _topic(log, 4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    log.append(topic, _msgs(3))
    early = log.subscribe(group, topic)
    assert early.poll(10, 0.2) == []  # the join takes longer than this
    early.close()
    successor = log.subscribe(group, topic)
    try:
        assert len(_poll_until(successor, 3, timeout_s=20)) == 3
    finally:
        successor.close()


def test_a_group_reads_uncommitted_partitions_from_the_start_never_skipping(
    log: KafkaLog,
) -> None:
    # auto.offset.reset=error (a gap is an error): a partition the group never
    # committed is no gap, it starts at the earliest record.
    topic = _topic(log, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    positions = log.append(topic, _msgs(20))
    on_0 = sorted(o for p, o in positions if p == 0)
    log.commit(group, topic, {0: on_0[2]})  # partition 1: never committed
    sub = log.subscribe(group, topic)
    try:
        expected = {(p, o) for p, o in positions if p == 1 or o >= on_0[2]}
        got = _poll_until(sub, len(expected))
        assert {(r.partition, r.offset) for r in got} == expected
        assert sub.expired() == {}
    finally:
        sub.close()


def test_the_copy_topic_keeps_its_tasks_seven_times_longer(kafka_bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._config import ConfigResource

    from playlog.log.factory import ensure_topics, open_log
    from playlog.settings import Settings

    suffix = uuid.uuid4().hex[:8]
    settings = Settings.read(
        log={"kind": "kafka", "bootstrap_servers": kafka_bootstrap, "retention_hours": 2,
             "data_topic": f"d-{suffix}", "copy_topic": f"c-{suffix}",
             "dead_letter_topic": f"x-{suffix}"}
    )  # fmt: skip
    kafka_log = open_log(settings)
    try:
        ensure_topics(settings, kafka_log)
    finally:
        kafka_log.close()
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    hour_ms = 3600 * 1000
    for topic, hours in ((f"d-{suffix}", 2), (f"c-{suffix}", 14)):
        resource = ConfigResource("topic", topic)
        config = admin.describe_configs([resource])[resource].result(10)
        assert config["retention.ms"].value == str(hours * hour_ms)
