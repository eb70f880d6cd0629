"""Chaos: continuous load in all three formats while rounds of a random fault hit the
pipeline; after every round and at the end, every event answered 202 is in the
warehouse exactly once, nothing unsent is there, and no process exited on its own.

Replay a failure with ``PLAYLOG_CHAOS_SEED=<seed printed by the failing run>``;
``PLAYLOG_CHAOS_ROUNDS`` sets the number of rounds (``make chaos ROUNDS=50``); without it,
``make test`` runs each kind of fault of the setup once, in a random order."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.chaos.conftest import LEASE_TTL_S, Rig
from tests.support.avro import ocf
from tests.support.events import (
    KILL,
    PURCHASE,
    as_json,
    kill,
    login,
    purchase,
    setup_game,
    single_objects,
)
from tests.support.server import Server

pytestmark = pytest.mark.e2e

GAME = "g1"
BATCH = 100
ROUNDS = int(os.environ.get("PLAYLOG_CHAOS_ROUNDS", "0"))  # 0: each kind of fault once
CATCH_UP_S = 240.0  # generous: a 2-core machine shared with other test runs
# What a process that stopped on its own writes (supervisor.py, runtime.py); not
# Spark's "Task 0 in stage 3.0 failed" (its stages are not playlog's).
FAILED = re.compile(r"logger=playlog\S* .*(stage \S+ failed|stopped after stage)")

Body = Callable[[range], bytes]


class Sender(threading.Thread):
    """One format, one event type: batches of unique ``seq``s, remembering what was
    answered 202 (accepted), what got no answer or a 5xx other than 503 (uncertain:
    maybe in the log) and what was refused (503, or the connection refused)."""

    def __init__(self, server: Server, key: str, event_type: str, kind: str, body: Body) -> None:
        super().__init__(daemon=True, name=f"sender-{event_type}")
        self.server, self.key, self.kind, self.body = server, key, kind, body
        self.table = f"{GAME}.{event_type}"
        self.accepted: set[int] = set()
        self.uncertain: set[int] = set()
        self.refused = 0
        self.unexpected: list[str] = []  # 4xx: a bug of the test or of the server
        self.running = threading.Event()
        self.done = threading.Event()
        self.busy = threading.Lock()
        self.next = 0

    def run(self) -> None:
        while not self.done.is_set():
            if not self.running.wait(0.1):
                continue
            with self.busy:
                if self.running.is_set():
                    self.send_one()
            time.sleep(0.02)  # leave the 2 cores to the pipeline too

    def send_one(self) -> None:
        seqs = range(self.next, self.next + BATCH)
        self.next += BATCH
        try:
            status = self.server.send(GAME, self.key, self.body(seqs), self.kind).status_code
        except httpx.ConnectError:
            status = 0  # never connected: nothing was sent
        except httpx.HTTPError:
            self.uncertain.update(seqs)
            return
        if status == 202:
            self.accepted.update(seqs)
        elif status in (0, 503):
            self.refused += 1
            time.sleep(0.2)
        elif status >= 500:
            self.uncertain.update(seqs)
        else:
            self.unexpected.append(f"{status} for seqs {seqs.start}..{seqs.stop - 1}")

    def pause(self) -> None:
        """Returns once no request of this sender is in flight."""
        self.running.clear()
        with self.busy:
            pass

    def finish(self) -> None:
        self.pause()
        self.done.set()
        self.join(timeout=60)


def senders(server: Server) -> list[Sender]:
    key, fingerprints = setup_game(server, GAME)

    def avro_ocf(seqs: range) -> bytes:
        return ocf(KILL, [kill(s) for s in seqs])

    def single_object(seqs: range) -> bytes:
        return single_objects(fingerprints["purchase"], PURCHASE, [purchase(s) for s in seqs])

    def as_json_list(seqs: range) -> bytes:
        return json.dumps([as_json("login", login(s)) for s in seqs]).encode()

    return [
        Sender(server, key, "kill", "application/avro", avro_ocf),
        Sender(server, key, "purchase", "application/vnd.apache.avro+binary", single_object),
        Sender(server, key, "login", "application/json", as_json_list),
    ]


# --- faults: each returns what it did, for the replay record --------------------------


def sigkill_up(rig: Rig, rng: random.Random) -> str:
    assert rig.server.stop(signal.SIGKILL) == -signal.SIGKILL
    rig.server.start()
    return "SIGKILL playlog up, restart"


def sigkill_stage(rig: Rig, rng: random.Random) -> str:
    stage = rng.choice(rig.stages)
    assert stage.stop(signal.SIGKILL) == -signal.SIGKILL
    if stage is rig.server:
        rig.server.start()
    else:
        stage.spawn()
    return f"SIGKILL playlog {stage.command}, restart"


def sigterm_up(rig: Rig, rng: random.Random) -> str:
    assert rig.server.stop(signal.SIGTERM) == 0, rig.server.log_tail()
    rig.server.start()
    return "SIGTERM playlog up, restart"


def sigstop_past_lease(rig: Rig, rng: random.Random) -> str:
    stage = rig.stage("process")
    process = stage.process
    assert process is not None
    stopped_s = round(LEASE_TTL_S * 1.5 + rng.uniform(0, 2), 1)
    process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(stopped_s)  # the fault's length: longer than the processor's lease
    finally:
        process.send_signal(signal.SIGCONT)
    return f"SIGSTOP playlog {stage.command} for {stopped_s} s (lease TTL {LEASE_TTL_S} s), SIGCONT"


def cut_warehouse(rig: Rig, rng: random.Random) -> str:
    assert rig.warehouse is not None
    return cut(rig.warehouse.cut, rig.warehouse.restore, "warehouse", rng)


def cut_store(rig: Rig, rng: random.Random) -> str:
    assert rig.store is not None
    return cut(rig.store.cut, rig.store.restore, "object store", rng)


def cut(down: Callable[[], None], up: Callable[[], None], what: str, rng: random.Random) -> str:
    down_s = round(rng.uniform(2, 5), 1)
    down()
    try:
        time.sleep(down_s)  # the outage's length
    finally:
        up()
    return f"{what} connections cut for {down_s} s"


Fault = Callable[[Rig, random.Random], str]
FAULTS: dict[str, list[Fault]] = {
    "embedded": [sigkill_up, sigstop_past_lease, sigterm_up],
    "cluster": [sigkill_up, sigstop_past_lease, cut_warehouse, cut_store],
    "stages": [sigkill_stage, sigstop_past_lease, cut_warehouse, cut_store],
}


# --- checks -------------------------------------------------------------------------


@dataclass
class Chaos:
    rig: Rig
    seed: int
    history: list[str] = field(default_factory=list)

    def why(self) -> str:
        rounds = "\n".join(f"  round {i}: {what}" for i, what in enumerate(self.history, 1))
        replay = f"PLAYLOG_CHAOS_SEED={self.seed} replays"
        return f"\nseed {self.seed} ({self.rig.setup}); {replay}:\n{rounds}"


def try_count(server: Server, table: str) -> int:
    try:
        return server.count(table)
    except (AssertionError, httpx.HTTPError):
        return -1  # not created yet, or the warehouse is still coming back


def wait_until_loaded(server: Server, sender: Sender) -> None:
    """Until every accepted `seq` is in the table, or the deadline."""
    deadline = time.monotonic() + CATCH_UP_S
    while time.monotonic() < deadline:
        if try_count(server, sender.table) >= len(sender.accepted):
            try:
                if sender.accepted <= server.seqs(sender.table):
                    return
            except (AssertionError, httpx.HTTPError):
                pass
        time.sleep(0.3)


def check_alive(chaos: Chaos) -> None:
    for stage in chaos.rig.stages:
        name = f"playlog {stage.command}"
        assert stage.process is not None and stage.process.poll() is None, (
            f"{name} exited on its own{chaos.why()}\n{stage.log_tail()}"
        )
        lines = stage.log_path.read_text(errors="replace").splitlines()
        failures = [line for line in lines if FAILED.search(line)]
        assert not failures, f"a stage of {name} failed{chaos.why()}\n" + "\n".join(failures[:10])


def check_exactly_once(chaos: Chaos, sender: Sender) -> None:
    server = chaos.rig.server
    table = sender.table
    assert not sender.unexpected, f"{table}: {sender.unexpected[:5]}{chaos.why()}"
    count, distinct = server.query(f"select count(*), count(distinct _event_id) from {table}")[0]
    doubled = server.query(f"select seq, count(*) from {table} group by seq having count(*) > 1")
    loaded = server.seqs(table)
    lost = sender.accepted - loaded
    unsent = loaded - sender.accepted - sender.uncertain
    detail = (
        f"{table}: {count} rows, {distinct} distinct _event_id, {len(loaded)} distinct seq, "
        f"{len(sender.accepted)} accepted, {len(sender.uncertain)} uncertain; "
        f"lost {len(lost)} (first {sorted(lost)[:10]}), doubled {doubled[:10]}, "
        f"never accepted {sorted(unsent)[:10]}{chaos.why()}"
    )
    assert not lost and not doubled and not unsent, detail
    assert count == distinct == len(loaded), detail


def check(chaos: Chaos, group: list[Sender], settle_s: float = 1.0) -> None:
    check_alive(chaos)
    for sender in group:
        wait_until_loaded(chaos.rig.server, sender)
    time.sleep(settle_s)  # not waiting for progress: a late duplicate would show now
    for sender in group:
        check_exactly_once(chaos, sender)
    check_alive(chaos)


def run_round(chaos: Chaos, group: list[Sender], fault: Fault, rng: random.Random) -> None:
    for sender in group:
        sender.running.set()
    time.sleep(rng.uniform(1.0, 2.5))  # load before the fault
    what = fault(chaos.rig, rng)
    chaos.history.append(what)
    print(f"chaos round {len(chaos.history)}: {what}", flush=True)
    time.sleep(1.0)  # load after it
    for sender in group:
        sender.pause()
    check(chaos, group)


def test_chaos_rounds_keep_exactly_once(rig: Rig) -> None:
    seed = int(os.environ.get("PLAYLOG_CHAOS_SEED") or random.SystemRandom().randrange(10**9))
    faults = FAULTS[rig.setup]
    rounds = ROUNDS or len(faults)
    print(f"chaos seed {seed} ({rig.setup}, {rounds} rounds)", flush=True)
    rng = random.Random(seed)
    chaos = Chaos(rig, seed)
    # Every kind of fault once (in a random order), then random ones.
    plan = rng.sample(faults, len(faults)) + [rng.choice(faults) for _ in range(rounds)]
    group = senders(rig.server)
    for sender in group:
        sender.start()
    try:
        for fault in plan[:rounds]:
            run_round(chaos, group, fault, rng)
    finally:
        for sender in group:
            sender.finish()
    accepted = sum(len(s.accepted) for s in group)
    assert accepted > 3 * rounds * BATCH, f"too little load to mean anything{chaos.why()}"
    check(chaos, group, settle_s=3.0)
