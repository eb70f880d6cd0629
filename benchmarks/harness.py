"""What the `make bench` benchmarks share: a `playlog` server on a fresh data dir, the
P1 event mix and its request bodies, a load generator in its own process, and the
figures a benchmark reports (printed as one table by benchmarks/summary.py).

The mix (issue 11): ~190-byte events of `playlog loadtest` over 70 event types, one
type in seven with a `region` string field that has a default; a request is 5 OCF
containers of 100 events, each container of a random type.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import queue
import random
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playlog.cli.demo import free_port, start_server
from playlog.cli.traffic import synthetic_events, synthetic_schema
from playlog.client import Client, admin_key_of
from playlog.client.ocf import ocf_body

GAME = "bench"
# Concurrent connections of the load generator. A game's traffic comes from thousands of
# clients at once; a closed loop of 4 measured the round trip of a request (two disk
# flushes in series: the append, the Idempotency-Key's answer), not what the server can
# take: 16 gave 1.3-1.8x the accepted rate of 4 in one interleaved run (2026-12-02).
SENDERS = 16
REGION = {"name": "region", "type": "string", "default": "eu"}


@dataclass(frozen=True)
class Figure:
    """One row of the summary: what was measured, its value, and the goal beside it."""

    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None  # None: no goal for this row

    def cells(self) -> list[str]:
        verdict = {None: "", True: "yes", False: "NO"}[self.met]
        whole = abs(self.value) >= 10 or self.value == int(self.value)
        shown = f"{self.value:,.0f}" if whole else f"{self.value:,.2f}"
        return [self.name, f"{shown} {self.unit}".strip(), self.goal, verdict]


def mix_schema(index: int) -> dict[str, Any]:
    """Event type ``evt_<index>``; every seventh one (6, 13, ...) has a string default,
    so that a single-type run (index 0) is the plain event."""
    return synthetic_schema(index, [REGION] if index % 7 == 6 else [])


@dataclass(frozen=True)
class Body:
    """One pre-encoded request and how many events of each type it carries."""

    data: bytes
    per_type: dict[str, int]

    @property
    def events(self) -> int:
        return sum(self.per_type.values())


def request_bodies(
    types: int, count: int = 64, containers: int = 5, per: int = 100, seed: int = 1
) -> list[Body]:
    """``count`` requests of ``containers`` OCF containers x ``per`` events, each
    container of a random one of ``types`` event types."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        picked = [rng.randrange(types) for _ in range(containers)]
        data = b"".join(ocf_body(mix_schema(i), synthetic_events(per, rng)) for i in picked)
        counts = Counter(f"evt_{i}" for i in picked)
        bodies.append(Body(data, {name: n * per for name, n in counts.items()}))
    return bodies


@dataclass
class Server:
    url: str
    data_dir: Path
    admin: Client

    def register(self, types: int) -> str:
        """A game with ``types`` event types of the mix; its API key."""
        key = str(self.admin.create_game(GAME)["api_key"])
        for i in range(types):
            self.admin.register(GAME, f"evt_{i}", mix_schema(i))
        return key

    def count(self, tables: list[str]) -> dict[str, int]:
        """Rows per table (``evt_3``, ...), in one query."""
        parts = [f"select '{t}' as t, count(*) as n from {GAME}.{t}" for t in tables]
        rows = self.admin.query(" union all ".join(parts))["rows"]
        return {str(t): int(n) for t, n in rows}


@contextmanager
def serving(
    config: Path | None = None, stages: str = "up", data_dir: Path | None = None
) -> Iterator[Server]:
    """``playlog <stages>`` (``up``, or ``ingest`` alone) on ``data_dir`` (default: a
    fresh one)."""
    with tempfile.TemporaryDirectory(prefix="playlog-bench-") as tmp:
        data_dir = data_dir or Path(tmp) / "data"
        data_dir.mkdir(exist_ok=True)
        log_file = Path(tmp) / "server.log"
        child, url = start_server(data_dir, free_port(), log_file, config, stages)
        try:
            yield Server(url, data_dir, Client(url, admin_key_of(data_dir)))
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=120)


@dataclass
class Load:
    """Totals a load generator shares with the benchmark while it runs."""

    accepted: Any  # multiprocessing.Value("q"): events accepted so far
    started: Any  # multiprocessing.Value("d"): time.monotonic() of the first request
    done: Any  # multiprocessing.Event: set when the generator has stopped
    per_type: Any  # multiprocessing.Queue: one dict of accepted events per type, at the end


def _generate(
    url: str, key: str, bodies: list[Body], seconds: float, senders: int, rate: float, load: Load
) -> None:
    """The load generator's process: ``senders`` threads post ``bodies`` in turn for
    ``seconds``, paced to ``rate`` events/s in all (0: as fast as they are answered)."""
    per_type: Counter[str] = Counter()
    lock = threading.Lock()
    load.started.value = time.monotonic()  # one clock for every process on Linux
    ends = load.started.value + seconds
    gap = senders * bodies[0].events / rate if rate else 0.0

    def send(slot: int) -> None:
        client, n, due = Client(url, key), slot, time.monotonic() + slot * gap / senders
        while (now := time.monotonic()) < ends:
            if due > now:
                time.sleep(due - now)
            body = bodies[n % len(bodies)]
            accepted = int(client.send(GAME, body.data, "application/avro")["accepted"])
            with lock:
                load.accepted.value += accepted
                per_type.update(body.per_type)
            n, due = n + senders, due + gap

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.per_type.put(dict(per_type))
    load.done.set()


def start_load(
    url: str, key: str, bodies: list[Body], seconds: float, senders: int = SENDERS, rate: float = 0
) -> tuple[multiprocessing.Process, Load]:
    """The load generator in its own process (it shares the machine's cores, as a game's
    clients would not: the figures are a lower bound)."""
    context = multiprocessing.get_context("spawn")
    load = Load(context.Value("q", 0), context.Value("d", 0.0), context.Event(), context.Queue())
    process = context.Process(
        target=_generate, args=(url, key, bodies, seconds, senders, rate, load), daemon=True
    )
    process.start()
    return process, load


def sending(process: multiprocessing.Process, load: Load, wait_s: float) -> bool:
    """Waits up to ``wait_s``; whether the generator is still sending (a generator that
    died is not: ``finish`` then says so)."""
    return not load.done.wait(wait_s) and process.is_alive()


def finish(process: multiprocessing.Process, load: Load) -> dict[str, int]:
    """Waits for the generator; the events it had accepted, per type."""
    try:
        per_type: dict[str, int] = load.per_type.get(timeout=120)
    except queue.Empty:
        code = process.exitcode
        raise SystemExit(f"the load generator stopped early (exit code {code})") from None
    process.join(timeout=60)
    return per_type


def poll_until(check: Callable[[], bool], timeout_s: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(every_s)
    return True


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.machine()}, {when}"
