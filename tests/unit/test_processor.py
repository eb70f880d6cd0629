"""The processor's driver loop with the in-process engine on the real embedded log,
local store, catalog and DuckDB: plans, budget, publish, commit, crash replay."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.support.clock import Clock
from tests.support.processing import (
    GAME,
    KILL,
    Env,
    FlakyLog,
    RecordingEngine,
    container,
    data_message,
    logins,
)

import playlog.process.processor as processor_module
from playlog.contracts import OffsetRange, RangeResult
from playlog.engine.inprocess import InProcessEngine
from playlog.errors import LogUnavailable
from playlog.log.base import Message
from playlog.log.embedded import partition_for
from playlog.process.processor import Processor


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = Env(tmp_path)
    try:
        yield made
    finally:
        made.services.close()


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Any]:
    made: list[Env] = []

    def make(**process: Any) -> Env:
        made.append(Env(tmp_path, **process))
        return made[-1]

    yield make
    for e in made:
        e.services.close()


def test_run_once_writes_files_publishes_tasks_by_table_and_commits(env: Env) -> None:
    env.send((logins(2) + container(KILL, [{"distance": 1.0}]), 3), (logins(3, 2), 3))
    processor, engine = env.processor()

    assert processor.run_once(force=True) == 6

    assert engine.calls == [[env.span(0, 1)]]
    published = env.copy_tasks()
    assert sorted((t.table, t.rows) for _, t in published) == [("g1.kill", 1), ("g1.login", 5)]
    copy_partitions = env.settings.log.copy_partitions
    for record, task in published:
        assert record.key == task.table.encode()  # keyed by table: one loader per table
        assert record.partition == partition_for(task.table.encode(), copy_partitions)
        assert env.store.exists(task.key)
        assert (task.source_partition, task.source_first, task.source_last) == (
            env.partition,
            0,
            1,
        )
    assert env.parquet_files() == sorted(t.key for _, t in published)
    assert env.committed() == {env.partition: 2}
    assert env.records(env.settings.log.dead_letter_topic) == []

    # nothing new: nothing run, nothing published
    assert processor.run_once(force=True) == 0
    assert len(engine.calls) == 1 and len(env.copy_tasks()) == 2


def test_budget_cuts_the_range(make_env: Any) -> None:
    env = make_env(max_events_per_batch=4)
    env.send(*[(logins(2, 2 * i), 2) for i in range(5)])  # 5 records, 2 events each
    processor, engine = env.processor()

    done = []
    while (events := processor.run_once(force=True)) > 0:
        assert events <= 4
        done.append(env.committed()[env.partition])
        assert len(done) < 10
    spans = [span for call in engine.calls for span in call]
    assert len(spans) >= 3  # 10 events at most 4 per batch
    assert spans[0].first == 0 and spans[-1].last == 4
    for before, after in itertools.pairwise(spans):
        assert after.first == before.last + 1  # no gap, no overlap
    assert done == [s.last + 1 for s in spans]
    assert sum(t.rows for _, t in env.copy_tasks()) == 10


@pytest.mark.parametrize("fail", ["commit", "copy append"])
def test_after_a_crash_the_saved_range_is_replayed_exactly(make_env: Any, fail: str) -> None:
    env = make_env()
    env.send((logins(2), 2), (logins(1, 2), 1))
    flaky = FlakyLog(env.log, fail, env.settings.log.copy_topic)
    crashed, crashed_engine = env.processor(flaky)
    with pytest.raises(LogUnavailable):
        crashed.run_once(force=True)
    assert env.committed() == {}
    (attempt,) = crashed_engine.results
    first_tasks = [t for r in attempt for t in r.tasks]
    assert [s for call in crashed_engine.calls for s in call] == [env.span(0, 1)]

    # Meanwhile more records arrive; then the processor restarts (a new object). Its
    # process died: its lease is free at once (what a dead pid on this host means).
    env.send((logins(4, 3), 4), (logins(1, 7), 1))
    crashed._lease.release()
    restarted, engine = env.processor()

    assert restarted.run_once(force=True) == 3
    assert engine.calls == [[env.span(0, 1)]]  # not 0..3
    replayed = [t for r in engine.results[0] for t in r.tasks]
    assert replayed == first_tasks  # same keys, same task ids, same everything
    assert env.committed() == {env.partition: 2}

    assert restarted.run_once(force=True) == 5
    assert engine.calls[1] == [env.span(2, 3)]
    assert env.committed() == {env.partition: 4}

    published = env.copy_tasks()
    new_tasks = [t for r in engine.results[1] for t in r.tasks]
    ids = [t.task_id for _, t in published]
    expected = first_tasks * (2 if fail == "commit" else 1) + new_tasks
    assert sorted(ids) == sorted(t.task_id for t in expected)  # a redelivery, same ids
    assert env.parquet_files() == sorted(t.key for t in first_tasks + new_tasks)  # no copies


def test_dead_letters_go_to_the_dead_letter_topic(env: Env) -> None:
    env.send((logins(1), 1), (b"not avro at all", 1), (logins(2, 1), 2))
    processor, _ = env.processor()

    assert processor.run_once(force=True) == 3

    (letter,) = env.records(env.settings.log.dead_letter_topic)
    assert letter.value == b"not avro at all" and letter.key == GAME.encode()
    assert letter.headers["source"] == f"{env.topic}/{env.partition}/1@{env.log.incarnation()}"
    assert letter.headers["error"].startswith("InvalidPayload: ")
    assert letter.headers["game"] == GAME
    (task,) = [t for _, t in env.copy_tasks()]
    assert (task.table, task.rows) == ("g1.login", 3)
    assert env.committed() == {env.partition: 3}  # past the dead letter too


def test_a_small_backlog_waits_for_the_trigger_interval(
    make_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(processor_module, "time", clock)
    env = make_env(trigger_interval_s=3600, max_events_per_batch=1000)
    hundred = (logins(100), 100)
    env.send(hundred)
    processor, engine = env.processor()

    # Never run before: the first batch is due at once, however long the interval
    # (and whatever the host's monotonic clock reads).
    assert processor.run_once() == 100
    assert env.committed() == {env.partition: 1}

    # From now on a full batch is 1000 / 100 = 10 records.
    env.send(hundred, hundred)
    clock.now += 3599
    assert processor.run_once() == 0  # 2 records, and the interval is not over
    assert len(engine.calls) == 1 and env.committed() == {env.partition: 1}
    clock.now += 1
    assert processor.run_once() == 200  # due now
    assert env.committed() == {env.partition: 3}

    env.send(*[hundred] * 9)
    assert processor.run_once() == 0
    env.send(hundred, hundred)
    assert processor.run_once() == 1000  # a full batch does not wait for the interval
    assert engine.calls[-1] == [env.span(3, 12)]
    assert env.committed() == {env.partition: 13}


def test_the_rest_of_a_backlog_runs_at_once_not_after_the_trigger_interval(
    make_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range the budget cut left records behind: the processor is behind, and the
    rest is due now. Once caught up, a small arrival waits for the interval again."""
    clock = Clock()
    monkeypatch.setattr(processor_module, "time", clock)
    env = make_env(trigger_interval_s=3600, max_events_per_batch=1000)
    hundred = (logins(100), 100)
    env.send(*[hundred] * 12)
    processor, engine = env.processor()

    assert processor.run_once() == 200  # the budget: 1000 / 500 estimated = 2 records
    assert processor.run_once() == 1000  # 1000 / 100 measured = 10 records, at once
    assert engine.calls[-1] == [env.span(2, 11)]
    assert env.committed() == {env.partition: 12}

    env.send(hundred)
    assert processor.run_once() == 0  # caught up: the interval applies again
    clock.now += 3600
    assert processor.run_once() == 100
    assert env.committed() == {env.partition: 13}

    env.send(*[hundred] * 13)
    assert processor.run_once() == 1000  # full, at once
    assert processor.run_once() == 300  # the rest of that backlog, at once too
    assert engine.calls[-1] == [env.span(23, 25)]
    assert env.committed() == {env.partition: 26}


class PoisonedEngine(RecordingEngine):
    """Raises an unexpected error (a bug, a decoder crash) on every range holding
    ``offset`` of ``partition``; runs every other range."""

    def __init__(self, inner: InProcessEngine, partition: int, offset: int) -> None:
        super().__init__(inner)
        self.poison = (partition, offset)

    def execute(self, ranges: Sequence[OffsetRange]) -> list[RangeResult]:
        partition, offset = self.poison
        if any(r.partition == partition and r.first <= offset <= r.last for r in ranges):
            self.calls.append(list(ranges))
            raise RuntimeError("decoder exploded")
        return super().execute(ranges)


def _other_partition_key(env: Env) -> bytes:
    return next(
        k
        for k in (f"g{i}".encode() for i in range(100))
        if partition_for(k, env.settings.log.partitions) != env.partition
    )


def test_a_range_that_keeps_failing_is_dead_lettered_and_the_rest_loads(tmp_path: Path) -> None:
    env = Env(tmp_path, max_range_attempts=3)
    env.send((logins(2), 2))
    other = _other_partition_key(env)
    other_partition = partition_for(other, env.settings.log.partitions)
    env.log.append(env.topic, [Message(other, logins(3), data_message(b"", 3).headers)])
    base = InProcessEngine(env.log, env.registry, env.store)
    engine = PoisonedEngine(base, env.partition, 0)
    processor = Processor(env.settings, env.log, env.store, engine, env.services.catalog)

    assert processor.run_once(force=True) == 3  # the healthy partition goes on at once
    assert env.committed() == {other_partition: 1}
    assert processor.run_once() == 0  # attempt 2 of the poisoned range
    assert env.committed() == {other_partition: 1}
    assert processor.run_once() == 0  # attempt 3: given up, dead-lettered whole
    assert env.committed() == {other_partition: 1, env.partition: 1}

    (letter,) = env.records(env.settings.log.dead_letter_topic)
    assert letter.headers["source"] == f"{env.topic}/{env.partition}/0@{env.log.incarnation()}"
    assert letter.headers["error"] == "RuntimeError: decoder exploded"
    assert len(env.records(env.settings.log.copy_topic)) == 1  # the healthy range's file

    env.send((logins(1, start=5), 1))  # after the poison, the partition flows again
    assert processor.run_once(force=True) == 1


def test_a_transient_error_is_never_a_reason_to_dead_letter(tmp_path: Path) -> None:
    env = Env(tmp_path, max_range_attempts=1)
    env.send((logins(2), 2))

    class Down(RecordingEngine):
        def execute(self, ranges: Sequence[OffsetRange]) -> list[RangeResult]:
            raise LogUnavailable("broker down")

    processor = Processor(
        env.settings,
        env.log,
        env.store,
        Down(InProcessEngine(env.log, env.registry, env.store)),
        env.services.catalog,
    )
    for _ in range(3):
        with pytest.raises(LogUnavailable):
            processor.run_once(force=True)
    assert env.records(env.settings.log.dead_letter_topic) == []
    assert env.committed() == {}
