"""The embedded durable log: offsets, reads, group commits, subscriptions, trimming."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.clock import Clock

from playlog.errors import ConfigError
from playlog.log import embedded
from playlog.log.base import Message, Record
from playlog.log.embedded import EmbeddedLog, partition_for
from playlog.log.embedded_subscription import EmbeddedSubscription

TOPIC = "events"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "log" / "log.sqlite"  # the parent folder does not exist yet


@pytest.fixture
def log(path: Path) -> Iterator[EmbeddedLog]:
    opened = EmbeddedLog(path)
    opened.ensure_topic(TOPIC, 4)
    yield opened
    opened.close()


def key_on(partition: int, partitions: int = 4) -> bytes:
    """A key that lands on ``partition``."""
    return next(
        k
        for k in (f"game{i}".encode() for i in range(1000))
        if partition_for(k, partitions) == partition
    )


def msg(key: bytes, value: str, **headers: str) -> Message:
    return Message(key, value.encode(), headers)


def positions(records: list[Record]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in records]


# --- partitioning and offsets -------------------------------------------------------


def test_partition_for_is_a_stable_hash_of_the_key() -> None:
    # Pinned values: a different hash would send a game's records to another
    # partition after an upgrade (CRC-32 of the key, modulo the partition count).
    assert [partition_for(k, 4) for k in (b"g1", b"g2", b"g4", b"g5", b"")] == [1, 3, 2, 0, 0]
    assert partition_for(b"g1", 1024) == 933
    assert all(partition_for(b"any", 1) == 0 for _ in range(3))


def test_offsets_start_at_zero_and_are_contiguous_per_partition(log: EmbeddedLog) -> None:
    k0, k1, k3 = key_on(0), key_on(1), key_on(3)
    first = log.append(TOPIC, [msg(k0, "a"), msg(k1, "b"), msg(k0, "c")])
    second = log.append(TOPIC, [msg(k3, "d"), msg(k0, "e"), msg(k1, "f")])
    assert first == [(0, 0), (1, 0), (0, 1)]
    assert second == [(3, 0), (0, 2), (1, 1)]
    assert log.end_offsets(TOPIC) == {0: 3, 1: 2, 2: 0, 3: 1}


def test_same_key_always_lands_on_the_same_partition(log: EmbeddedLog) -> None:
    out = log.append(TOPIC, [msg(b"g1", str(i)) for i in range(5)])
    assert out == [(partition_for(b"g1", 4), i) for i in range(5)]


def test_append_of_nothing_changes_nothing(log: EmbeddedLog) -> None:
    assert log.append(TOPIC, []) == []
    assert log.end_offsets(TOPIC) == {0: 0, 1: 0, 2: 0, 3: 0}


def test_ensure_topic_is_idempotent_and_keeps_the_partition_count(path: Path) -> None:
    log = EmbeddedLog(path)
    try:
        log.ensure_topic("t", 3)
        log.append("t", [msg(key_on(2, 3), "x")])
        log.ensure_topic("t", 8)
        assert log.partitions("t") == 3
        assert log.end_offsets("t") == {0: 0, 1: 0, 2: 1}
    finally:
        log.close()


def test_unknown_topic_is_not_found(log: EmbeddedLog) -> None:
    with pytest.raises(ConfigError, match="topic 'nope' does not exist"):
        log.append("nope", [msg(b"k", "v")])


# --- reading -------------------------------------------------------------------------


def test_read_returns_exactly_the_requested_range(log: EmbeddedLog) -> None:
    k = key_on(2)
    before = int(time.time() * 1000)
    log.append(TOPIC, [msg(k, f"v{i}", game="g", n=str(i)) for i in range(6)])
    after = int(time.time() * 1000)

    records = log.read(TOPIC, 2, 2, 5)

    assert [(r.offset, r.key, r.value) for r in records] == [
        (2, k, b"v2"),
        (3, k, b"v3"),
        (4, k, b"v4"),
    ]
    assert all(r.topic == TOPIC and r.partition == 2 for r in records)
    assert records[0].headers == {"game": "g", "n": "2"}
    assert all(before <= r.timestamp_ms <= after for r in records)
    assert log.read(TOPIC, 2, 6, 10) == []
    assert log.read(TOPIC, 1, 0, 10) == []  # another partition holds nothing
    assert positions(log.read(TOPIC, 2, 0, 100, limit=2)) == [(2, 0), (2, 1)]


# --- consumer groups -------------------------------------------------------------------


def test_commit_and_committed_per_group(log: EmbeddedLog) -> None:
    assert log.committed("loaders", TOPIC) == {}
    log.commit("loaders", TOPIC, {0: 3, 2: 1})
    log.commit("loaders", TOPIC, {0: 5})
    log.commit("others", TOPIC, {1: 7})
    assert log.committed("loaders", TOPIC) == {0: 5, 2: 1}
    assert log.committed("others", TOPIC) == {1: 7}
    assert log.committed("loaders", "another-topic") == {}


def fill(log: EmbeddedLog, per_partition: int) -> set[tuple[int, int]]:
    log.append(TOPIC, [msg(key_on(p), f"{p}-{i}") for i in range(per_partition) for p in range(4)])
    return {(p, o) for p in range(4) for o in range(per_partition)}


def drain(sub: EmbeddedSubscription, max_records: int) -> list[Record]:
    out: list[Record] = []
    while batch := sub.poll(max_records, 0):
        assert len(batch) <= max_records
        out.extend(batch)
    return out


def test_subscription_polls_every_record_once_across_partitions(log: EmbeddedLog) -> None:
    expected = fill(log, 5)
    sub = log.subscribe("g", TOPIC)
    assert sub.assignment() == {0, 1, 2, 3}
    got = drain(sub, 3)
    assert len(got) == 20
    assert set(positions(got)) == expected
    for p in range(4):  # in offset order within each partition
        assert [r.offset for r in got if r.partition == p] == list(range(5))
    assert sub.poll(10, 0) == []


def test_paused_subscription_polls_nothing_until_resumed(log: EmbeddedLog) -> None:
    fill(log, 2)
    sub = log.subscribe("g", TOPIC)
    first = sub.poll(3, 0)
    assert len(first) == 3
    sub.pause()
    assert sub.poll(10, 0.05) == []
    sub.resume()
    rest = drain(sub, 10)
    assert sorted(positions(first + rest)) == sorted((p, o) for p in range(4) for o in range(2))


def test_poll_wakes_up_on_an_append(log: EmbeddedLog) -> None:
    sub = log.subscribe("g", TOPIC)
    assert sub.poll(10, 0) == []
    timer = threading.Timer(0.05, lambda: log.append(TOPIC, [msg(key_on(1), "late")]))
    timer.start()
    try:
        got = sub.poll(10, 5.0)
    finally:
        timer.join()
    assert [(r.partition, r.offset, r.value) for r in got] == [(1, 0, b"late")]


def test_a_new_subscription_starts_at_the_committed_offsets(log: EmbeddedLog) -> None:
    fill(log, 4)
    sub = log.subscribe("g", TOPIC)
    drain(sub, 100)
    sub.commit({0: 4, 1: 2, 3: 1, 9: 5})  # partition 9 is not owned: skipped
    sub.close()
    assert log.committed("g", TOPIC) == {0: 4, 1: 2, 3: 1}

    again = log.subscribe("g", TOPIC)
    assert sorted(positions(drain(again, 100))) == [
        (1, 2),
        (1, 3),
        (2, 0),
        (2, 1),
        (2, 2),
        (2, 3),
        (3, 1),
        (3, 2),
        (3, 3),
    ]
    # Another group is independent: it starts from the beginning.
    assert len(drain(log.subscribe("other", TOPIC), 100)) == 16


# --- durability ----------------------------------------------------------------------


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_data_is_visible_from_a_second_instance_on_the_same_file(path: Path, sync: str) -> None:
    first = EmbeddedLog(path, sync=sync)
    first.ensure_topic(TOPIC, 4)
    first.append(TOPIC, [msg(key_on(0), "a", h="1"), msg(key_on(0), "b")])
    first.commit("g", TOPIC, {0: 1})

    second = EmbeddedLog(path, sync=sync)
    try:  # while the first is still open (another process), then after it closed
        assert second.partitions(TOPIC) == 4
        assert [(r.offset, r.value, r.headers) for r in second.read(TOPIC, 0, 0, 10)] == [
            (0, b"a", {"h": "1"}),
            (1, b"b", {}),
        ]
        first.close()
        assert second.end_offsets(TOPIC) == {0: 2, 1: 0, 2: 0, 3: 0}
        assert second.committed("g", TOPIC) == {0: 1}
        assert second.append(TOPIC, [msg(key_on(0), "c")]) == [(0, 2)]
    finally:
        second.close()


# --- trimming ------------------------------------------------------------------------


HOUR = 3600.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(1_700_000_000.0)
    monkeypatch.setattr(embedded, "time", fake)
    return fake


def trimming_log(path: Path, partitions: int = 2) -> EmbeddedLog:
    log = EmbeddedLog(path, retention_hours=1.0)
    log.ensure_topic(TOPIC, partitions)
    return log


def offsets_left(log: EmbeddedLog, partition: int) -> list[int]:
    return [r.offset for r in log.read(TOPIC, partition, 0, 2**62)]


def test_trim_deletes_only_old_records_below_every_groups_commit(path: Path, clock: Clock) -> None:
    log = trimming_log(path)
    k0, k1 = key_on(0, 2), key_on(1, 2)
    log.append(TOPIC, [msg(k, "old") for k in (k0, k1) for _ in range(5)])  # offsets 0-4
    clock.now += 2 * HOUR
    log.append(TOPIC, [msg(k0, "young") for _ in range(3)])  # partition 0: offsets 5-7
    log.commit("fast", TOPIC, {0: 8, 1: 5})
    log.commit("slow", TOPIC, {0: 3, 1: 5})
    clock.now += 1  # the first five records per partition are now over an hour old

    assert log.trim_expired() == 3 + 5

    assert offsets_left(log, 0) == [3, 4, 5, 6, 7]  # slow has not read 3 and 4
    assert offsets_left(log, 1) == []
    assert log.end_offsets(TOPIC) == {0: 8, 1: 5}
    log.close()


def test_trim_keeps_young_records_even_when_consumed(path: Path, clock: Clock) -> None:
    log = trimming_log(path)
    log.append(TOPIC, [msg(key_on(0, 2), "v") for _ in range(4)])
    log.commit("g", TOPIC, {0: 4})
    clock.now += 0.5 * HOUR
    assert log.trim_expired() == 0
    assert offsets_left(log, 0) == [0, 1, 2, 3]
    log.close()


def test_trim_keeps_everything_no_group_has_committed(path: Path, clock: Clock) -> None:
    log = trimming_log(path)
    log.append(TOPIC, [msg(key_on(0, 2), "v") for _ in range(4)])
    clock.now += 5 * HOUR
    assert log.trim_expired() == 0
    assert offsets_left(log, 0) == [0, 1, 2, 3]
    log.close()


def test_trim_keeps_a_partition_one_group_never_committed(path: Path, clock: Clock) -> None:
    # "late" committed partition 0 only: its subscription reads partition 1 from
    # offset 0, so those records must stay although "early" consumed them.
    log = trimming_log(path)
    log.append(TOPIC, [msg(key_on(p, 2), "v") for p in (0, 1) for _ in range(3)])
    log.commit("early", TOPIC, {0: 3, 1: 3})
    log.commit("late", TOPIC, {0: 3})
    clock.now += 5 * HOUR

    assert log.trim_expired() == 3

    assert offsets_left(log, 0) == []
    assert offsets_left(log, 1) == [0, 1, 2]
    sub = log.subscribe("late", TOPIC)
    assert positions(drain(sub, 10)) == [(1, 0), (1, 1), (1, 2)]
    log.close()


def test_offsets_are_never_reused_after_trimming(path: Path, clock: Clock) -> None:
    log = trimming_log(path, partitions=1)
    log.append(TOPIC, [msg(b"k", "v") for _ in range(3)])
    log.commit("g", TOPIC, {0: 3})
    clock.now += 2 * HOUR
    assert log.trim_expired() == 3
    assert offsets_left(log, 0) == []
    assert log.append(TOPIC, [msg(b"k", "next")]) == [(0, 3)]
    log.close()

    reopened = EmbeddedLog(path)
    try:
        assert reopened.end_offsets(TOPIC) == {0: 4}
        assert reopened.append(TOPIC, [msg(b"k", "after restart")]) == [(0, 4)]
        assert offsets_left(reopened, 0) == [3, 4]
    finally:
        reopened.close()


def test_trim_in_chunks_never_makes_appends_wait(path: Path) -> None:
    # 200k expired records: one long DELETE under the write lock made appends wait for
    # all of it (22 s for 400k). In chunks, an append waits one chunk at most.
    log = EmbeddedLog(path, retention_hours=1.0)
    log.ensure_topic(TOPIC, 2)
    old_ms = int((time.time() - 2 * HOUR) * 1000)
    db = log._db()
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO records VALUES (?, ?, ?, x'6b', x'76', '{}', ?)",
        ((TOPIC, p, o, old_ms) for p in (0, 1) for o in range(100_000)),
    )
    db.execute("UPDATE next_offsets SET next_offset = 100000 WHERE topic = ?", (TOPIC,))
    db.execute("COMMIT")
    log.commit("g", TOPIC, {0: 100_000, 1: 60_000})  # partition 1: 40k not yet consumed

    waits: list[float] = []
    result: list[int] = []
    trimmer = threading.Thread(target=lambda: result.append(log.trim_expired()))
    trimmer.start()
    while trimmer.is_alive():
        started = time.monotonic()
        log.append(TOPIC, [msg(key_on(0, 2), "young")])
        waits.append(time.monotonic() - started)
    trimmer.join()

    assert result == [160_000]
    assert max(waits) < 0.25, f"an append waited {max(waits):.3f} s for retention"
    assert len(waits) > 1  # appends really ran while retention did
    assert offsets_left(log, 1)[:1] == [60_000] and len(offsets_left(log, 1)) == 40_000
    assert [r.offset for r in log.read(TOPIC, 0, 0, 2**62, limit=1)] == [100_000]
    log.close()


def test_a_committed_offset_below_the_log_start_is_an_error_never_a_skip(
    path: Path,
) -> None:
    from playlog.errors import RecordsExpired

    log = EmbeddedLog(path)
    log.ensure_topic(TOPIC, 2)
    log.append(TOPIC, [msg(key_on(p, 2), "v") for p in (0, 1) for _ in range(10)])
    log.commit("g", TOPIC, {0: 3, 1: 3})
    # Records the group never read are gone (a restored file, a deleted group row...):
    log._db().execute("DELETE FROM records WHERE partition = 0 AND offset < 6")

    sub = log.subscribe("g", TOPIC)
    with pytest.raises(RecordsExpired) as raised:
        sub.poll(100, 0)
    assert raised.value.details == {"group": "g", "topic": TOPIC, "partition": 0, "committed": 3}
    assert "log starts at 6" in raised.value.message
    assert positions(drain(sub, 100)) == [(1, o) for o in range(3, 10)]  # the rest goes on
    assert sub.expired() == {0: raised.value}

    # Everything gone is a gap too; a group that never committed starts at the start.
    log._db().execute("DELETE FROM records WHERE partition = 1")
    log.commit("g2", TOPIC, {1: 2})
    with pytest.raises(RecordsExpired, match="log starts at 10"):
        log.subscribe("g2", TOPIC).poll(10, 0)
    assert positions(drain(log.subscribe("new", TOPIC), 100)) == [(0, o) for o in range(6, 10)]
    log.close()
