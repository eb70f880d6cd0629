"""P2 freshness: seconds from 202 to queryable at a fixed offered rate.

    python benchmarks/freshness.py [--seconds 60] [--rate 100000] [--event-types 70]

Starts `playlog up` (embedded default, or --config FILE), offers the issue-11 mix
(benchmarks/harness.py) at --rate events/s from the load generator's process, and
meanwhile sends one probe event (its own event type, a sequence number) every 250 ms.
A watcher asks for the probes' sequence numbers every 100 ms; a probe's freshness is
the time from its 202 until the first answer that holds it (so up to ~0.1 s late).
Prints p50, p99 and max, and the rate the generator achieved.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import GAME, Server, finish, poll_until, request_bodies, serving, start_load

from playlog.client import Client
from playlog.client.ocf import ocf_body

PROBE_EVERY_S = 0.25
WATCH_EVERY_S = 0.1
PROBE = {
    "type": "record",
    "name": "probe",
    "fields": [{"name": "seq", "type": "long"}, {"name": "sent_ms", "type": "long"}],
}


@dataclass(frozen=True)
class Freshness:
    p50: float
    p99: float
    max: float
    probes: int
    offered: float  # events/s the generator achieved


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _probe(client: Client, seconds: float, accepted_at: dict[int, float]) -> None:
    seq, due = 0, time.monotonic()
    ends = due + seconds
    while (now := time.monotonic()) < ends:
        time.sleep(max(0.0, due - now))  # on schedule, however long a send took
        body = ocf_body(PROBE, [{"seq": seq, "sent_ms": int(time.time() * 1000)}])
        client.send(GAME, body, "application/avro")
        accepted_at[seq] = time.monotonic()
        seq, due = seq + 1, due + PROBE_EVERY_S


def _watch(server: Server, seen_at: dict[int, float], stop: threading.Event) -> None:
    while not stop.wait(WATCH_EVERY_S):
        now = time.monotonic()
        for (seq,) in server.admin.query(f"select seq from {GAME}.probe")["rows"]:
            seen_at.setdefault(int(seq), now)


def run(server: Server, seconds: float, rate: float, types: int) -> Freshness:
    key = server.register(types)
    server.admin.register(GAME, "probe", PROBE)
    process, load = start_load(server.url, key, request_bodies(types), seconds, rate=rate)
    accepted_at: dict[int, float] = {}
    seen_at: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(server, seen_at, stop))
    watcher.start()
    try:
        _probe(Client(server.url, key), seconds, accepted_at)
        poll_until(lambda: len(seen_at) >= len(accepted_at), 300)
    finally:
        stop.set()
        watcher.join()
    sent = finish(process, load)
    lags = [seen_at[seq] - at for seq, at in accepted_at.items() if seq in seen_at]
    offered = sum(sent.values()) / seconds
    if len(lags) < len(accepted_at):  # a probe never seen counts as the worst
        lags += [float("inf")] * (len(accepted_at) - len(lags))
    return Freshness(
        statistics.median(lags), _percentile(lags, 0.99), max(lags), len(lags), offered
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100_000.0, help="offered events/s")
    parser.add_argument("--event-types", type=int, default=70)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    with serving(args.config) as server:
        result = run(server, args.seconds, args.rate, args.event_types)
    print(
        f"freshness at {args.rate:,.0f} offered ({result.offered:,.0f} achieved) events/s, "
        f"{result.probes} probes: p50 {result.p50:.2f} s, p99 {result.p99:.2f} s, "
        f"max {result.max:.2f} s"
    )


if __name__ == "__main__":
    main()
