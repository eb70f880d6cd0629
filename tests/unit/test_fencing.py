"""Two drivers of one processor group never load an event twice: the lease is a
compare-and-set with a fencing token, renewed from its own thread and checked before
publishing and committing; plans are re-read when the lease is (re)acquired; a commit
never moves an offset backwards."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.unit.test_processor import Env, logins

from playlog.contracts import OffsetRange, RangeResult
from playlog.engine.inprocess import InProcessEngine
from playlog.process.processor import Processor

WAIT_S = 60.0  # generous: a busy machine


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = Env(tmp_path, lease_ttl_s=1.0)
    try:
        yield made
    finally:
        made.services.close()


def loaded_event_ids(env: Env) -> list[int]:
    """What the loader's ledger would load: each distinct task once."""
    tasks = {t.task_id: t for _, t in env.copy_tasks()}
    ids: list[int] = []
    for task in tasks.values():
        table = pq.read_table(io.BytesIO(env.store.get(task.key)))
        ids.extend(table["_event_id"].to_pylist())
    return ids


def exactly_once(env: Env, events: int) -> None:
    ids = loaded_event_ids(env)
    assert len(ids) == events
    assert len(set(ids)) == events


def processor(env: Env, engine: Any = None) -> Processor:
    engine = engine or InProcessEngine(env.log, env.registry, env.store)
    return Processor(env.settings, env.log, env.store, engine, env.services.catalog)


def wait_for(condition: Any, what: str) -> None:
    done = threading.Event()
    for _ in range(int(WAIT_S / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_in_thread(proc: Processor, stop: threading.Event) -> tuple[threading.Thread, list[Any]]:
    errors: list[Any] = []

    def target() -> None:
        try:
            proc.run(stop)
        except BaseException as exc:  # the refused one: remembered, not lost
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def test_two_drivers_started_together_load_every_event_once(env: Env) -> None:
    for i in range(20):
        env.send((logins(1, i), 1))
    stop = threading.Event()
    first, second = processor(env), processor(env)
    runs = [run_in_thread(first, stop), run_in_thread(second, stop)]
    wait_for(lambda: env.committed().get(env.partition) == 20, "every record committed")
    stop.set()
    for thread, _ in runs:
        thread.join(WAIT_S)
    exactly_once(env, 20)


class Paused:
    """The in-process engine, frozen (like SIGSTOP) on its first batch until released:
    the driver's lease renewals stop with it."""

    def __init__(self, env: Env, proc_holder: list[Processor]) -> None:
        self.inner = InProcessEngine(env.log, env.registry, env.store)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.holder = proc_holder

    def execute(self, ranges: list[OffsetRange]) -> list[RangeResult]:
        results = self.inner.execute(ranges)  # files written, then the pause
        if not self.entered.is_set():
            self.holder[0]._lease.freeze()  # the process is stopped: no renewals either
            self.entered.set()
            assert self.release.wait(WAIT_S)
        return results

    def close(self) -> None:
        pass


def test_a_driver_paused_past_the_ttl_loses_the_lease_and_nothing_doubles(env: Env) -> None:
    for i in range(10):
        env.send((logins(1, i), 1))
    holder: list[Processor] = []
    paused_engine = Paused(env, holder)
    paused = processor(env, paused_engine)
    holder.append(paused)
    stop_paused, stop_other = threading.Event(), threading.Event()
    paused_run = run_in_thread(paused, stop_paused)
    assert paused_engine.entered.wait(WAIT_S)

    for i in range(10, 20):  # more data while it is frozen: a new driver plans further
        env.send((logins(1, i), 1))
    other = processor(env)
    other_run = run_in_thread(other, stop_other)
    wait_for(lambda: env.committed().get(env.partition) == 20, "the new driver to catch up")

    paused_engine.release.set()  # it wakes up: must not publish nor commit its batch
    stop_paused.set()
    paused_run[0].join(WAIT_S)
    assert env.committed().get(env.partition) == 20  # never moved backwards
    stop_other.set()
    other_run[0].join(WAIT_S)
    assert not other_run[1]
    exactly_once(env, 20)
