"""The embedded log's group commit: concurrent appends share one transaction (one fsync),
each caller gets its own positions, offsets stay dense and ordered, a failed transaction
fails every append in it and leaves nothing of it, and a SIGKILL after the answers
loses none of the answered records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from tests.support.processes import spawn

from playlog.errors import LogUnavailable
from playlog.log.base import Message
from playlog.log.embedded import EmbeddedLog, partition_for

TOPIC = "events"
PARTITIONS = 4


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EmbeddedLog]:
    opened = EmbeddedLog(tmp_path / "log.sqlite")
    opened.ensure_topic(TOPIC, PARTITIONS)
    yield opened
    opened.close()


def groups_of(log: EmbeddedLog) -> list[int]:
    """Records how many appends each transaction held, from now on."""
    sizes: list[int] = []
    write_all = log._appends._write_all

    def counting(
        appends: Sequence[tuple[str, Sequence[Message]]],
    ) -> Sequence[list[tuple[int, int]]]:
        sizes.append(len(appends))
        return write_all(appends)

    log._appends._write_all = counting
    return sizes


def wait_queued(log: EmbeddedLog, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(log._appends._queue) < count:
        assert time.monotonic() < deadline, "appends did not queue"
        time.sleep(0.001)


def test_concurrent_appends_each_get_their_own_dense_ordered_positions(
    log: EmbeddedLog,
) -> None:
    answers: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def appender(thread: int) -> None:
        for n in range(40):
            messages = [
                Message(f"k{thread}-{i}".encode(), f"{thread}/{n}/{i}".encode(), {"n": str(n)})
                for i in range(3)
            ]
            answers[(thread, n)] = log.append(TOPIC, messages)

    threads = [threading.Thread(target=appender, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    every = [p for positions in answers.values() for p in positions]
    assert len(every) == len(set(every)) == 8 * 40 * 3  # no position given twice
    ends = log.end_offsets(TOPIC)
    for partition in range(PARTITIONS):  # dense: 0..end-1, each one answered
        offsets = sorted(o for p, o in every if p == partition)
        assert offsets == list(range(ends[partition]))
    for (t, n), positions in answers.items():  # each caller's own records, in order
        for i, (partition, offset) in enumerate(positions):
            assert partition == partition_for(f"k{t}-{i}".encode(), PARTITIONS)
            (record,) = log.read(TOPIC, partition, offset, offset + 1)
            assert record.value == f"{t}/{n}/{i}".encode()
    for t in range(8):  # one caller's appends keep its order
        firsts = [answers[(t, n)][0] for n in range(40)]
        same_partition = [o for p, o in firsts if p == firsts[0][0]]
        assert same_partition == sorted(same_partition)


def test_appends_waiting_for_a_transaction_share_the_next_one(log: EmbeddedLog) -> None:
    sizes = groups_of(log)
    positions: dict[int, list[tuple[int, int]]] = {}

    def append(n: int) -> None:
        positions[n] = log.append(TOPIC, [Message(b"g1", f"v{n}".encode(), {})])

    with log._write_lock:  # a transaction in progress (a trim, a commit)
        threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
        threads[0].start()
        wait_queued(log, 0)
        time.sleep(0.05)  # the first leads and waits for the lock; the others queue
        for thread in threads[1:]:
            thread.start()
        wait_queued(log, 5)
    for thread in threads:
        thread.join(10)
    assert sizes == [1, 5]  # six appends, two transactions (two fsyncs)
    partition = partition_for(b"g1", PARTITIONS)
    assert sorted(positions.values()) == [[(partition, o)] for o in range(6)]
    values = {r.offset: r.value for r in log.read(TOPIC, partition, 0, 10)}
    assert {values[p[0][1]] for p in positions.values()} == {f"v{n}".encode() for n in range(6)}
    assert all(values[positions[n][0][1]] == f"v{n}".encode() for n in range(6))


def test_a_failed_transaction_fails_every_append_in_it_and_leaves_nothing(
    log: EmbeddedLog,
) -> None:
    log.append(TOPIC, [Message(b"g1", b"before", {})])
    before = log.end_offsets(TOPIC)
    outcomes: dict[str, object] = {}

    def append(name: str, value: bytes | None) -> None:
        message = Message(b"g1", value, {})  # type: ignore[arg-type]  # None: NOT NULL fails
        try:
            outcomes[name] = log.append(TOPIC, [message, Message(b"g2", b"x", {})])
        except LogUnavailable as exc:
            outcomes[name] = exc

    with log._write_lock:
        first = threading.Thread(target=append, args=("first", b"ok"))
        first.start()
        time.sleep(0.05)  # it leads, alone, and waits for the lock
        group = [
            threading.Thread(target=append, args=(name, value))
            for name, value in (("good", b"ok"), ("bad", None), ("also good", b"ok"))
        ]
        for thread in group:
            thread.start()
        wait_queued(log, 3)
    for thread in [first, *group]:
        thread.join(10)

    assert isinstance(outcomes["first"], list)
    for name in ("good", "bad", "also good"):
        assert isinstance(outcomes[name], LogUnavailable), name
    after = log.end_offsets(TOPIC)
    assert sum(after.values()) == sum(before.values()) + 2  # the first append's two only
    stored = [r.value for p in range(PARTITIONS) for r in log.read(TOPIC, p, 0, 100)]
    assert sorted(stored) == [b"before", b"ok", b"x"]
    assert log.append(TOPIC, [Message(b"g1", b"later", {})])  # the log goes on


# A process appending from 4 threads; it prints each append's positions once append
# returned (the 202 moment), then is killed with SIGKILL.
APPENDER = """
import json, sys, threading
from pathlib import Path
from playlog.log.base import Message
from playlog.log.embedded import EmbeddedLog

log = EmbeddedLog(Path(sys.argv[1]), sync="full")
log.ensure_topic("events", 4)
out = threading.Lock()

def run(t):
    n = 0
    while True:
        values = [f"{t}/{n}/{i}".encode() * 50 for i in range(3)]
        positions = log.append("events", [Message(f"k{t}{i}".encode(), v, {}) for i, v in
                                          enumerate(values)])
        with out:
            print(json.dumps([t, n, positions]), flush=True)
        n += 1

for t in range(4):
    threading.Thread(target=run, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def test_every_answered_append_survives_a_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = spawn(
        "appender",
        [sys.executable, "-c", APPENDER, str(path)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    answered = []
    try:
        for line in child.stdout:
            answered.append(json.loads(line))
            if len(answered) >= 300:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert len(answered) >= 300, "the appender stopped early"

    reopened = EmbeddedLog(path)
    try:
        for t, n, positions in answered:
            for i, (partition, offset) in enumerate(positions):
                (record,) = reopened.read(TOPIC, partition, offset, offset + 1)
                assert record.value == f"{t}/{n}/{i}".encode() * 50
        ends = reopened.end_offsets(TOPIC)
        for partition in range(PARTITIONS):  # dense after the crash too
            offsets = [r.offset for r in reopened.read(TOPIC, partition, 0, ends[partition])]
            assert offsets == list(range(ends[partition]))
    finally:
        reopened.close()
