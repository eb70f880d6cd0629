"""Two drivers of one processor group never load an event twice: the lease is a
compare-and-set with a fencing token, renewed from its own thread and checked before
publishing and committing; plans are re-read when the lease is (re)acquired; a commit
never moves an offset backwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.processing import Env, exactly_once, logins, processor, run_in_thread, wait_for

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
