"""The loader end to end on a real embedded log and a fake warehouse.

Every test runs the real ``Loader`` in a thread over a copy topic of CopyTask records.
``CheckedLog`` checks, at every offset commit the loader makes, that each record
below the committed offset is in the warehouse's ledger or on the dead-letter topic:
the guarantee "offsets only after the transaction committed, only up to the lowest
task not done" is asserted all the time, not only at the end.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from tests.support.fakes import FakeWarehouse

from playlog.contracts import CopyTask, task_id_for
from playlog.errors import CorruptRecord, LogUnavailable, RecordsExpired, WarehouseUnavailable
from playlog.load.loader import Loader
from playlog.log.base import Message
from playlog.log.embedded import EmbeddedLog, partition_for
from playlog.monitor import metrics
from playlog.settings import Settings

COPY_PARTITIONS = 4


# --- tasks ------------------------------------------------------------------------


def make_task(table: str, n: int, tag: str = "") -> CopyTask:
    game, event_type = table.split(".")
    key = f"{game}/{event_type}/dt=2024-05-01/playlog.events-0-{n}-{n}{tag}.parquet"
    return CopyTask(
        task_id=task_id_for(key),
        game=game,
        event_type=event_type,
        key=key,
        uri=f"file:///objects/{key}",
        columns=("level", "_event_id", "_received_at", "_schema_hash"),
        rows=10 + n,
        bytes=1000,
        received_min_ms=1_700_000_000_000,
        received_max_ms=1_700_000_000_000 + n,
        source_topic="playlog.events",
        source_partition=0,
        source_first=n,
        source_last=n,
    )


def make_tasks(tables: Sequence[str], per_table: int, tag: str = "") -> list[CopyTask]:
    """Interleaved across tables, so each partition gets a mix of them."""
    return [make_task(table, n, tag) for n in range(per_table) for table in tables]


def worker_of(table: str, workers: int) -> int:
    return zlib.crc32(table.encode()) % workers


def partition_of(table: str) -> int:
    return partition_for(table.encode(), COPY_PARTITIONS)


def spread_tables(count: int, workers: int) -> list[str]:
    """``count`` table names spread evenly over the loader's workers."""
    by_worker: dict[int, list[str]] = defaultdict(list)
    for i in range(1000):
        by_worker[worker_of(f"g.t{i}", workers)].append(f"g.t{i}")
    return [by_worker[j % workers][j // workers] for j in range(count)]


def ids(tasks: Sequence[CopyTask]) -> set[str]:
    return {t.task_id for t in tasks}


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 8.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


# --- the rig ----------------------------------------------------------------------


class CheckedLog(EmbeddedLog):
    """An embedded log that checks every copy-topic commit against the warehouse."""

    def __init__(self, path: Path, warehouse: FakeWarehouse, copy: str, dead: str) -> None:
        super().__init__(path)
        self.warehouse = warehouse
        self.copy_topic = copy
        self.dead_topic = dead
        self.violations: list[str] = []

    def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        if topic == self.copy_topic:
            loaded = self.warehouse.loaded_ids()
            dead = {r.headers.get("source") for r in self.read(self.dead_topic, 0, 0, 2**62)}
            for partition, offset in offsets.items():
                for record in self.read(topic, partition, 0, offset):
                    if f"{topic}/{partition}/{record.offset}" in dead:
                        continue
                    try:
                        task = CopyTask.from_json(record.value)
                    except CorruptRecord:
                        task = None
                    if task is not None and task.key in dead:
                        continue  # a task's dead letter is named after its file
                    if task is None or task.task_id not in loaded:
                        self.violations.append(
                            f"committed {partition}:{offset} past unfinished {record.offset}"
                        )
        super().commit(group, topic, offsets)


class RecordingLoader(Loader):
    """Remembers every state it went through."""

    def __init__(self, *args: Any) -> None:
        self.states: list[str] = []
        super().__init__(*args)

    def _set_state(self, state: str) -> None:
        self.states.append(state)
        super()._set_state(state)

    def in_flight(self) -> int:
        return self._tracker.in_flight()


class Rig:
    def __init__(self, tmp_path: Path, warehouse: FakeWarehouse, **load: Any) -> None:
        values = {
            "workers": 2,
            "max_tasks_per_txn": 4,
            "max_wait_s": 0.05,
            "max_in_flight": 100,
            "health_interval_s": 0.05,
            "max_backoff_s": 0.2,
            **load,
        }
        self.settings = Settings.read(
            data_dir=tmp_path,
            log={"copy_partitions": COPY_PARTITIONS},
            load=values,
            monitor={"heartbeat_interval_s": 0.1},
        )
        self.group = self.settings.load.group
        self.copy = self.settings.log.copy_topic
        self.dead = self.settings.log.dead_letter_topic
        self.warehouse = warehouse
        self.log = CheckedLog(self.settings.log_path, warehouse, self.copy, self.dead)
        self.log.ensure_topic(self.copy, COPY_PARTITIONS)
        self.log.ensure_topic(self.dead, 1)
        self._running: list[tuple[threading.Event, threading.Thread]] = []
        self.errors: list[BaseException] = []

    def append(self, tasks: Sequence[CopyTask]) -> list[tuple[int, int]]:
        return self.log.append(self.copy, [Message(t.table.encode(), t.to_json()) for t in tasks])

    def start(self) -> RecordingLoader:
        loader = RecordingLoader(self.settings, self.log, self.warehouse)
        stop = threading.Event()

        def run() -> None:
            try:
                loader.run(stop)
            except BaseException as exc:
                self.errors.append(exc)

        thread = threading.Thread(target=run, name="loader")
        thread.start()
        self._running.append((stop, thread))
        wait_until(lambda: bool(loader.states), "the loader runs")
        return loader

    def stop(self, before_join: Callable[[], None] = lambda: None) -> None:
        """Stop the latest loader and wait for it."""
        stop, thread = self._running.pop()
        stop.set()
        before_join()
        thread.join(10)
        assert not thread.is_alive(), "the loader did not stop"

    def close(self) -> None:
        while self._running:
            self.stop()
        self.log.close()

    # what the log says ------------------------------------------------------------

    def committed(self) -> dict[int, int]:
        return self.log.committed(self.group, self.copy)

    def at_end(self) -> bool:
        ends = {p: o for p, o in self.log.end_offsets(self.copy).items() if o}
        return self.committed() == ends

    def dead_letters(self) -> list[Any]:
        return self.log.read(self.dead, 0, 0, 100)

    def wait_loaded(self, tasks: Sequence[CopyTask], timeout_s: float = 8.0) -> None:
        wanted = ids(tasks)
        wait_until(lambda: wanted <= self.warehouse.loaded_ids(), "all loaded", timeout_s)

    def assert_exactly_once(self, tasks: Sequence[CopyTask]) -> None:
        assert self.warehouse.loaded_ids() == ids(tasks)
        assert all(n == 1 for n in self.warehouse.loaded.values())
        assert sum(self.warehouse.loaded.values()) == len(tasks)
        assert self.log.violations == []


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(warehouse: FakeWarehouse | None = None, **load: Any) -> Rig:
        rig = Rig(tmp_path / f"rig{len(made)}", warehouse or FakeWarehouse(), **load)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()
        assert rig.log.violations == []
        assert rig.errors == []


# --- the happy path ----------------------------------------------------------------


def test_every_task_loads_once_and_offsets_reach_the_end(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    tasks = make_tasks(spread_tables(8, 2), 5)
    rig.append(tasks)
    loader = rig.start()

    rig.wait_loaded(tasks)
    wait_until(rig.at_end, "offsets committed to the end of every partition")
    rig.assert_exactly_once(tasks)
    assert sum(rig.warehouse.rows.values()) == sum(t.rows for t in tasks)
    wait_until(lambda: loader.state == "consuming", "consuming")

    more = make_tasks(spread_tables(8, 2), 2, tag="-more")  # arriving while running
    rig.append(more)
    rig.wait_loaded(more)
    wait_until(rig.at_end, "offsets at the end again")
    rig.stop()
    assert loader.state == "stopped"
    rig.assert_exactly_once(tasks + more)


def test_copies_are_batched_and_tables_stay_on_their_worker(rigs: Callable[..., Rig]) -> None:
    barrier = threading.Barrier(2)
    met: set[str] = set()

    def meet(tasks: Sequence[CopyTask]) -> None:
        """The first transaction of each worker waits for the other's: they overlap."""
        name = threading.current_thread().name
        if name not in met:
            met.add(name)
            with suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)

    fake = FakeWarehouse(delay_s=0.005, hook=meet)
    rig = rigs(fake, workers=2, max_tasks_per_txn=4)
    tasks = make_tasks(spread_tables(7, 2), 6)
    rig.append(tasks)
    rig.start()
    rig.wait_loaded(tasks)
    wait_until(rig.at_end, "offsets at the end")
    rig.assert_exactly_once(tasks)

    committed = fake.committed()
    sizes = [len(t.task_ids) for t in committed]
    assert len(committed) < len(tasks), "several COPYs share a transaction"
    assert max(sizes) <= 4
    assert max(sizes) > 1

    threads_of: dict[str, set[str]] = defaultdict(set)
    for txn in fake.transactions:
        for table in txn.tables:
            threads_of[table].add(txn.thread)
    assert all(len(names) == 1 for names in threads_of.values()), threads_of
    assert len({name for names in threads_of.values() for name in names}) == 2
    assert fake.max_concurrent == 2  # transactions did run at the same time...
    assert fake.table_overlaps == []  # ...but never two on one table


def test_a_burst_of_tasks_loads_at_once_not_after_max_wait(rigs: Callable[..., Rig]) -> None:
    """The processor appends a batch's tasks in one go: once they are in, the batch is
    complete. Waiting out ``max_wait_s`` for more would only delay the load."""
    fake = FakeWarehouse()
    rig = rigs(fake, workers=1, max_tasks_per_txn=64, max_wait_s=30.0, batch_gap_s=0.05)
    rig.start()
    tasks = make_tasks(spread_tables(6, 1), 3)  # 18 tasks, fewer than a full batch
    started = time.monotonic()
    rig.append(tasks)
    rig.wait_loaded(tasks, timeout_s=10)
    assert time.monotonic() - started < 5.0  # not the 30 s max_wait_s
    wait_until(rig.at_end, "offsets at the end")
    rig.assert_exactly_once(tasks)
    assert len(fake.committed()) <= 2, "the burst went in one transaction (or two)"

    # A trickle still shares transactions while it keeps coming within the gap.
    trickle = make_tasks(spread_tables(6, 1), 2, tag="-trickle")
    rig.append(trickle[:6])
    rig.append(trickle[6:])
    rig.wait_loaded(trickle, timeout_s=10)
    rig.assert_exactly_once(tasks + trickle)


# --- warehouse failures --------------------------------------------------------------


def test_warehouse_down_pauses_consumption_then_catches_up(rigs: Callable[..., Rig]) -> None:
    fake = FakeWarehouse()
    rig = rigs(fake)
    tables = spread_tables(4, 2)
    before = make_tasks(tables, 3, tag="-before")
    rig.append(before)
    loader = rig.start()
    rig.wait_loaded(before)
    wait_until(rig.at_end, "offsets at the end")

    fake.down_for(1.0)
    went_down = time.monotonic()
    during = make_tasks(tables, 3, tag="-during")
    positions = rig.append(during)
    first_unfinished: dict[int, int] = {}
    for partition, offset in positions:
        first_unfinished[partition] = min(offset, first_unfinished.get(partition, offset))
    wait_until(lambda: loader.state == "failing", "the loader notices the outage")
    in_flight = loader.in_flight()
    late = make_tasks(tables, 2, tag="-late")  # must wait in the log: consumption paused
    rig.append(late)

    samples = 0
    while fake.is_down:
        state, flying, committed = loader.state, loader.in_flight(), rig.committed()
        if not fake.is_down:  # read before the check: a state read while it was down
            break
        samples += 1
        assert state == "failing"
        assert flying == in_flight, "nothing consumed, nothing finished while down"
        for partition, offset in committed.items():
            assert offset <= first_unfinished.get(partition, offset)
        time.sleep(0.01)
    came_back = time.monotonic()
    assert samples > 10

    everything = before + during + late
    rig.wait_loaded(everything)
    wait_until(rig.at_end, "offsets at the end after the outage")
    wait_until(lambda: loader.state == "consuming", "consuming again")
    rig.assert_exactly_once(everything)

    assert not [t for t in fake.committed() if went_down <= t.ended <= came_back]
    assert fake.outcomes()["unavailable"] >= 1
    assert fake.checks >= 2  # probed while down, then once more when it came back
    assert "failing" in loader.states


def test_conflicts_are_retried_and_nothing_is_lost(rigs: Callable[..., Rig]) -> None:
    fake = FakeWarehouse()
    fake.conflict_on(1, 2, 4, 7)
    rig = rigs(fake, max_tasks_per_txn=2)
    tasks = make_tasks(spread_tables(4, 2), 5)
    rig.append(tasks)
    loader = rig.start()
    rig.wait_loaded(tasks)
    wait_until(rig.at_end, "offsets at the end")
    rig.assert_exactly_once(tasks)
    assert fake.outcomes()["conflict"] == 4
    assert "failing" not in loader.states  # a conflict is no outage


def test_a_bad_task_is_dead_lettered_and_its_batch_still_loads(
    rigs: Callable[..., Rig],
) -> None:
    fake = FakeWarehouse()
    fake.fail_keys_containing("-poison")
    rig = rigs(fake, max_tasks_per_txn=16, max_wait_s=0.2)
    tables = spread_tables(4, 2)
    tasks = make_tasks(tables, 4)
    bad = make_task(tables[0], 99, tag="-poison")
    tasks.insert(5, bad)
    rig.append(tasks)
    rig.start()

    good = [t for t in tasks if t is not bad]
    rig.wait_loaded(good)
    wait_until(rig.at_end, "offsets at the end, past the bad task")
    rig.assert_exactly_once(good)

    failed = [t for t in fake.transactions if t.outcome == "error"]
    assert failed and len(failed[0].task_ids) > 1, "the bad task shared a transaction"
    assert ids(good) >= set(failed[0].task_ids) - {bad.task_id}

    [dead] = rig.dead_letters()
    assert CopyTask.from_json(dead.value) == bad
    assert dead.key == bad.table.encode()
    assert dead.headers["error"].startswith("WarehouseError")
    assert bad.key in dead.headers["error"]
    # Named after its file: a task delivered twice fails as one failed event.
    assert dead.headers["source"] == bad.key
    assert (dead.headers["stage"], dead.headers["category"]) == ("load", "warehouse_error")
    assert (dead.headers["game"], dead.headers["event_type"]) == (bad.game, bad.event_type)


def test_a_corrupt_record_is_dead_lettered_and_does_not_block(rigs: Callable[..., Rig]) -> None:
    rig = rigs()
    table = spread_tables(1, 2)[0]
    first = make_tasks([table], 3)
    rig.append(first)
    [(partition, offset)] = rig.log.append(rig.copy, [Message(table.encode(), b"{not json")])
    then = make_tasks([table], 3, tag="-then")
    rig.append(then)
    rig.start()

    rig.wait_loaded(first + then)
    wait_until(rig.at_end, "offsets past the corrupt record")
    assert rig.committed()[partition] == offset + 4
    rig.assert_exactly_once(first + then)
    [dead] = rig.dead_letters()
    assert dead.value == b"{not json"
    assert dead.headers["error"].startswith("CorruptRecord")
    assert dead.headers["source"] == f"{rig.copy}/{partition}/{offset}"


def test_a_worker_clearing_health_after_the_prober_left_probes_itself(
    rigs: Callable[..., Rig],
) -> None:
    """A prober set ``healthy`` and is about to release its lock when another worker,
    failed meanwhile, clears ``healthy`` again: that worker must probe itself rather
    than wait for a prober that is gone."""
    rig = rigs()
    loader = Loader(rig.settings, rig.log, rig.warehouse)
    stop = threading.Event()
    loader._health_lock.acquire()  # the prober, finishing
    waiter = threading.Thread(
        target=loader._wait_until_healthy, args=(WarehouseUnavailable("late"), stop)
    )
    waiter.start()
    wait_until(lambda: not loader._healthy.is_set(), "the late worker cleared healthy")
    loader._health_lock.release()  # the prober leaves without setting it again
    waiter.join(3)
    stop.set()
    waiter.join()
    assert loader._healthy.is_set()
    assert rig.warehouse.checks == 1


class FlakySubscription:
    """A real subscription whose ``commit`` (and ``poll``) raise ``LogUnavailable`` the
    first ``fail_commits`` (``fail_polls``) times: a commit racing a rebalance."""

    def __init__(self, inner: Any, fail_commits: int, fail_polls: int) -> None:
        self.inner = inner
        self.fail_commits, self.fail_polls = fail_commits, fail_polls
        self.commits: list[dict[int, int]] = []  # the ones that went through

    def commit(self, offsets: Mapping[int, int]) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise LogUnavailable("commit failed: REBALANCE_IN_PROGRESS")
        self.inner.commit(offsets)
        self.commits.append(dict(offsets))

    def poll(self, max_records: int, timeout_s: float) -> Any:
        if self.fail_polls and self.commits:
            self.fail_polls -= 1
            raise LogUnavailable("poll failed: ILLEGAL_GENERATION")
        return self.inner.poll(max_records, timeout_s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize(("fail_commits", "fail_polls"), [(1, 0), (3, 2)])
def test_a_failed_commit_is_retried_after_the_next_poll_and_never_kills_the_loader(
    rigs: Callable[..., Rig], fail_commits: int, fail_polls: int
) -> None:
    rig = rigs()
    flaky: list[FlakySubscription] = []
    subscribe = rig.log.subscribe

    def subscribe_flaky(group: str, topic: str) -> FlakySubscription:
        flaky.append(FlakySubscription(subscribe(group, topic), fail_commits, fail_polls))
        return flaky[-1]

    rig.log.subscribe = subscribe_flaky  # type: ignore[assignment,method-assign]
    tasks = make_tasks(spread_tables(4, 2), 3)
    rig.append(tasks)
    loader = rig.start()
    rig.wait_loaded(tasks)
    wait_until(rig.at_end, "offsets committed to the end despite the failed commit")
    more = make_tasks(spread_tables(4, 2), 2, tag="-more")
    rig.append(more)
    rig.wait_loaded(more)
    wait_until(rig.at_end, "offsets at the end again")
    assert loader.state == "consuming"
    rig.stop()
    assert rig.errors == []
    rig.assert_exactly_once(tasks + more)
    [sub] = flaky
    assert sub.fail_commits == 0 and sub.fail_polls == 0
    highest: dict[int, int] = {}
    for offsets in sub.commits:  # a commit never moves an offset backwards
        for partition, offset in offsets.items():
            assert offset >= highest.get(partition, 0)
            highest[partition] = offset


def test_a_failure_the_warehouse_check_cannot_see_pauses_with_its_reason_and_backs_off(
    rigs: Callable[..., Rig],
) -> None:
    """A revoked grant or a missing batch file fails one table's loads while the test
    query passes: the loader reports failing with the reason, retries the batch with
    growing delays, dead-letters nothing, and loads everything once it is fixed."""
    fixed = threading.Event()
    table = spread_tables(1, 2)[0]

    def denied(tasks: Sequence[CopyTask]) -> None:
        if not fixed.is_set() and any(t.table == table for t in tasks):
            raise WarehouseUnavailable(f"postgres: permission denied for table {table}")

    fake = FakeWarehouse(hook=denied)
    rig = rigs(fake, health_interval_s=0.02, max_backoff_s=0.4)
    tasks = make_tasks([table, *spread_tables(3, 2)[1:]], 3)
    rig.append(tasks)
    loader = rig.start()
    wait_until(lambda: loader.state == "failing", "failing")
    wait_until(lambda: fake.outcomes()["unavailable"] >= 5, "retried")
    assert "permission denied" in (metrics.loader_failure() or "")
    sample = "playlog_loader_failure"
    assert REGISTRY.get_sample_value(sample, {"error": "warehouse_unavailable"}) == 1
    failed = [t.started for t in fake.transactions if t.outcome == "unavailable"]
    gaps = [b - a for a, b in itertools.pairwise(failed)]
    assert gaps[-1] > 2 * gaps[0], f"no backoff: {gaps}"
    fixed.set()
    rig.wait_loaded(tasks, timeout_s=10)
    wait_until(rig.at_end, "offsets at the end")
    wait_until(lambda: loader.state == "consuming", "consuming again")
    rig.assert_exactly_once(tasks)
    assert rig.dead_letters() == []
    assert metrics.loader_failure() is None
    assert REGISTRY.get_sample_value(sample, {"error": "warehouse_unavailable"}) is None


def test_an_unexpected_load_error_is_retried_instead_of_killing_the_worker(
    rigs: Callable[..., Rig],
) -> None:
    """E.g. pyarrow's ArrowInvalid out of a batch of two schema versions: the worker
    used to die and take the process (and every restart) with it."""
    calls = []
    started: list[RecordingLoader] = []

    def bug(tasks: Sequence[CopyTask]) -> None:
        calls.append(1)
        if len(calls) <= 3:
            raise ValueError("Schema at index 2 was different")
        # The retry that succeeds waits until the control loop has reported the
        # failure: a retry quicker than one loop round would otherwise go unseen.
        wait_until(lambda: bool(started) and "failing" in started[0].states, "failing reported")

    rig = rigs(FakeWarehouse(hook=bug))
    tasks = make_tasks(spread_tables(2, 2), 3)
    rig.append(tasks)
    loader = rig.start()
    started.append(loader)
    rig.wait_loaded(tasks)
    wait_until(rig.at_end, "offsets at the end")
    rig.assert_exactly_once(tasks)
    assert "failing" in loader.states
    assert rig.dead_letters() == []


def test_a_dead_letter_append_that_fails_is_retried(rigs: Callable[..., Rig]) -> None:
    fake = FakeWarehouse()
    fake.fail_keys_containing("-poison")
    rig = rigs(fake)
    append = rig.log.append
    failures = [LogUnavailable("dead-letter topic: leader not available")] * 2

    def flaky(topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        if topic == rig.dead and failures:
            raise failures.pop()
        return append(topic, messages)

    rig.log.append = flaky  # type: ignore[method-assign]
    table = spread_tables(1, 2)[0]
    tasks = make_tasks([table], 3)
    bad = make_task(table, 99, tag="-poison")
    rig.append([*tasks, bad])
    rig.start()
    rig.wait_loaded(tasks)
    wait_until(rig.at_end, "offsets past the dead letter")
    assert failures == []
    assert [CopyTask.from_json(d.value) for d in rig.dead_letters()] == [bad]


# --- restart and backpressure ----------------------------------------------------------


def test_restart_loads_everything_exactly_once(rigs: Callable[..., Rig]) -> None:
    workers = 3
    candidates = [f"g.t{i}" for i in range(200)]
    held = candidates[0]  # its first task hangs in the warehouse until the loader stops
    elsewhere = [t for t in candidates if worker_of(t, workers) != worker_of(held, workers)]
    # on the held task's partition but another worker: loaded, yet behind the held one
    same_partition = next(t for t in elsewhere if partition_of(t) == partition_of(held))
    others = [t for t in elsewhere if t != same_partition][:3]

    release = threading.Event()

    def hold(tasks: Sequence[CopyTask]) -> None:
        if any("-hold" in t.key for t in tasks):
            release.wait(5)
            raise WarehouseUnavailable("held until the loader stops")

    fake = FakeWarehouse(hook=hold)
    rig = rigs(fake, workers=workers, max_tasks_per_txn=2)
    hold_task = make_task(held, 0, tag="-hold")
    behind_hold = make_tasks([held], 3)  # same worker as the held one: stuck too
    redelivered = make_tasks([same_partition], 4)  # after the hold on its partition
    rest = make_tasks(others, 3)
    [(hold_partition, hold_offset)] = rig.append([hold_task])
    rig.append(behind_hold + redelivered + rest)
    everything = [hold_task, *behind_hold, *redelivered, *rest]

    first = rig.start()
    rig.wait_loaded(redelivered + rest)
    rig.stop(before_join=release.set)
    assert first.state == "stopped"
    assert not ids([hold_task, *behind_hold]) & fake.loaded_ids()
    assert rig.committed()[hold_partition] == hold_offset  # the loaded ones behind it wait
    already = len(fake.transactions)

    fake.hook = None
    rig.start()
    rig.wait_loaded(everything)
    wait_until(rig.at_end, "offsets at the end after the restart")
    rig.assert_exactly_once(everything)

    second = [t for t in fake.transactions[already:] if t.outcome == "committed"]
    skipped = {i for t in second for i in t.skipped}
    assert ids(redelivered) <= skipped, "re-delivered tasks are skipped by the ledger"
    assert {i for t in second for i in t.loaded} == ids([hold_task, *behind_hold])


def test_backpressure_bounds_the_tasks_in_flight(rigs: Callable[..., Rig]) -> None:
    fake = FakeWarehouse(delay_s=0.03)
    rig = rigs(fake, max_in_flight=5, workers=2, max_tasks_per_txn=2)
    tasks = make_tasks(spread_tables(6, 2), 5)
    rig.append(tasks)
    loader = rig.start()

    most_tracked = most_reported = 0
    wanted = ids(tasks)
    deadline = time.monotonic() + 10
    while not wanted <= fake.loaded_ids():
        assert time.monotonic() < deadline, "timed out loading under backpressure"
        most_tracked = max(most_tracked, loader.in_flight())
        gauge = REGISTRY.get_sample_value("playlog_load_in_flight_tasks") or 0
        most_reported = max(most_reported, int(gauge))
        time.sleep(0.002)
    wait_until(rig.at_end, "offsets at the end")
    rig.assert_exactly_once(tasks)

    assert 0 < most_tracked <= 5
    assert most_reported <= 5
    assert "paused" in loader.states  # it stopped consuming at the bound
    assert fake.max_concurrent <= 2


def test_the_workers_stop_when_the_loop_fails(rigs: Callable[..., Rig]) -> None:
    # Not a TransientError of the log (that one is retried on the next round, see
    # test_a_failed_commit_is_retried_...): a failure nobody expected ends the loop.
    rig = rigs()
    tasks = make_tasks(spread_tables(2, 2), 2)
    rig.append(tasks)
    commit = rig.log.commit

    def broken(group: str, topic: str, offsets: Mapping[int, int]) -> None:
        raise RuntimeError("the log is broken")

    rig.log.commit = broken  # type: ignore[method-assign]
    rig.start()
    # run() must end on its own: it stops its workers instead of joining them forever
    wait_until(lambda: bool(rig.errors), "the loader gave up", timeout_s=5)
    rig.stop()
    assert [type(e) for e in rig.errors] == [RuntimeError]
    rig.errors.clear()
    rig.log.commit = commit  # type: ignore[method-assign]


class GapSubscription(FlakySubscription):
    """A real subscription whose first poll reports that retention deleted records of
    partition ``gap`` the group had not read (``RecordsExpired``), as Kafka's and the
    embedded log's subscriptions do: once, then that partition yields nothing."""

    def __init__(self, inner: Any, gap: int) -> None:
        super().__init__(inner, 0, 0)
        self.gap, self.reported = gap, False

    def poll(self, max_records: int, timeout_s: float) -> Any:
        if not self.reported:
            self.reported = True
            raise RecordsExpired(
                f"partition {self.gap}: records the group had not read were deleted",
                partition=self.gap,
            )
        return [r for r in self.inner.poll(max_records, timeout_s) if r.partition != self.gap]


def test_a_retention_gap_stops_one_partition_and_reports_failing_the_rest_loads(
    rigs: Callable[..., Rig],
) -> None:
    """A gap is an alert, never a skip: the loader keeps running, loads every other
    partition, and says `failing` with the reason until an operator acts."""
    rig = rigs()
    subscribe = rig.log.subscribe
    gap_partition = 0

    def subscribe_with_gap(group: str, topic: str) -> GapSubscription:
        return GapSubscription(subscribe(group, topic), gap_partition)

    rig.log.subscribe = subscribe_with_gap  # type: ignore[assignment,method-assign]
    tasks = make_tasks(spread_tables(4, 2), 3)
    positions = rig.append(tasks)
    others = [t for t, (p, _) in zip(tasks, positions, strict=True) if p != gap_partition]
    assert others and len(others) < len(tasks)
    loader = rig.start()
    rig.wait_loaded(others)
    wait_until(lambda: loader.state == "failing", "failing for the gap")
    assert "records the group had not read" in (metrics.loader_failure() or "")
    rig.stop()
    assert rig.errors == []  # the loader did not die
    rig.assert_exactly_once(others)


def test_an_idle_loader_notices_the_warehouse_going_down_and_coming_back(
    rigs: Callable[..., Rig],
) -> None:
    """Nothing to load (the processor may wait on the same database's catalog): the
    loader still checks the warehouse every heartbeat, says failing while it is down,
    and loads what arrives once it is back."""
    fake = FakeWarehouse()
    rig = rigs(fake)
    loader = rig.start()
    wait_until(lambda: loader.state == "consuming", "consuming")
    fake.set_down(True)
    wait_until(lambda: loader.state == "failing", "failing while idle and down")
    tasks = make_tasks(spread_tables(2, 2), 2)
    rig.append(tasks)
    fake.set_down(False)
    rig.wait_loaded(tasks)
    wait_until(lambda: loader.state == "consuming", "consuming again")
    rig.stop()
    assert rig.errors == []
    rig.assert_exactly_once(tasks)


def test_a_failed_replay_task_is_its_own_failed_event_linked_to_what_it_replays(
    rigs: Callable[..., Rig],
) -> None:
    # A replayed record's tasks (one per event type) load in separate transactions:
    # one failing after another loaded must be a failed event of its own, not the
    # already-replayed failed event's source (the sink keeps one row per source).
    fake = FakeWarehouse()
    fake.fail_keys_containing("-poison")
    rig = rigs(fake, max_tasks_per_txn=1, max_wait_s=0.05)
    original = "playlog.events/0/41"
    good = dataclasses.replace(make_task("g1.a", 41, tag="-replay"), replay_of=original)
    bad = dataclasses.replace(make_task("g1.b", 41, tag="-poison"), replay_of=original)
    rig.append([good, bad])
    rig.start()
    rig.wait_loaded([good])
    wait_until(rig.at_end, "offsets at the end, past the bad task")
    [dead] = rig.dead_letters()
    assert (dead.headers["source"], dead.headers["replay_of"]) == (bad.key, original)
    assert CopyTask.from_json(dead.value) == bad
