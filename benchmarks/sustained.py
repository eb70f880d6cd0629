"""P1 (sustained), P5 (event types) and P6 (cluster): loaded events/s of `playlog up`.

    python benchmarks/sustained.py [--seconds 300] [--event-types 70] [--config FILE]

Starts `playlog up` (the embedded default, or the adapters FILE selects) on a fresh data
dir, registers the issue-11 mix (benchmarks/harness.py), and runs the load generator in
its own process for --seconds. Samples the rows loaded every few seconds, then waits
until every accepted event is queryable. Prints accepted events/s (while sending),
loaded events/s (accepted events over the time from the first request until the last
row was loaded), the loaded rate over the last minute of sending (DuckDB slows as its
tables grow: that is the sustained figure), and the exactly-once check: rows per table
equal to events accepted per type.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from harness import (
    SENDERS,
    Server,
    finish,
    poll_until,
    request_bodies,
    sending,
    serving,
    start_load,
)

SAMPLE_S = 5.0
DRAIN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Sustained:
    accepted: int
    loaded: int  # rows in the tables once loading stopped
    send_s: float
    loaded_s: float  # from the first request until the last row was queryable
    last_minute: float  # rows loaded per second over the last minute of sending
    exactly_once: bool

    @property
    def accepted_rate(self) -> float:
        return self.accepted / self.send_s

    @property
    def loaded_rate(self) -> float:
        return self.accepted / self.loaded_s if self.exactly_once else 0.0


def _rate_over_last(samples: list[tuple[float, int]], window_s: float) -> float:
    """Rows/s between the last sample and the latest one at least ``window_s`` before
    it (or the first one, in a run shorter than that)."""
    end_t, end_n = samples[-1]
    start_t, start_n = next(
        ((t, n) for t, n in reversed(samples) if end_t - t >= window_s), samples[0]
    )
    return (end_n - start_n) / (end_t - start_t) if end_t > start_t else 0.0


def run(server: Server, seconds: float, types: int, senders: int = SENDERS) -> Sustained:
    key = server.register(types)
    tables = [f"evt_{i}" for i in range(types)]
    bodies = request_bodies(types)
    process, load = start_load(server.url, key, bodies, seconds, senders)
    samples: list[tuple[float, int]] = []
    while sending(process, load, SAMPLE_S):
        samples.append((time.monotonic(), sum(server.count(tables).values())))
    send_s = time.monotonic() - load.started.value
    sent = finish(process, load)
    started = load.started.value
    samples = [(started, 0), *samples, (time.monotonic(), sum(server.count(tables).values()))]
    last_minute = _rate_over_last(samples, min(60.0, seconds))
    expected = {t: sent.get(t, 0) for t in tables}
    counts: dict[str, int] = {}

    def all_loaded() -> bool:
        counts.update(server.count(tables))
        return sum(counts.values()) >= sum(expected.values())

    poll_until(all_loaded, DRAIN_TIMEOUT_S, every_s=0.2)
    loaded_s = time.monotonic() - started
    accepted, loaded = sum(sent.values()), sum(counts.values())
    return Sustained(accepted, loaded, send_s, loaded_s, last_minute, counts == expected)


def report(label: str, result: Sustained) -> None:
    print(
        f"{label}: accepted {result.accepted:,} events in {result.send_s:.1f} s "
        f"= {result.accepted_rate:,.0f}/s; loaded {result.loaded_rate:,.0f}/s "
        f"(all in after {result.loaded_s:.1f} s); last minute {result.last_minute:,.0f}/s; "
        f"exactly once: {result.exactly_once}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--event-types", type=int, default=70)
    parser.add_argument("--senders", type=int, default=SENDERS, help="generator threads")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    with serving(args.config) as server:
        result = run(server, args.seconds, args.event_types, args.senders)
    report(f"{args.event_types} event types ({args.config or 'embedded default'})", result)


if __name__ == "__main__":
    main()
