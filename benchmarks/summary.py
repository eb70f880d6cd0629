"""`make bench`: the issue-11 figures in one run, printed as one table with the goal
beside each figure, the machine (cores, memory) and the date.

    python benchmarks/summary.py [--seconds 300] [--only P1,P2,P3,P5,P6,ingest]

Runs, in turn: P1 sustained (benchmarks/sustained.py, --seconds), P2 freshness at
100k events/s offered (benchmarks/freshness.py), P5 70 types against 1 type
(sustained.py, --p5-seconds each), ingest alone and the log's append ceiling
(benchmarks/ingest.py), then starts the test peers (tests/peers.py: Kafka-protocol
broker, S3 API, PostgreSQL) for P3 against dlt (benchmarks/dlt_compare.py, the `bench`
extra) and P6, the cluster setup with the Spark engine (sustained.py with
tests/cluster.py's configuration). Each part prints its own line as it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import dlt_compare
import freshness
import ingest
import sustained
from harness import Figure, machine, serving

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("P1", "P2", "P5", "ingest", "P3", "P6")
# P6's micro-batch trigger. Every batch writes one file per table of each range it
# ran: with 70 types a file's fixed costs (a PUT and a GET on the S3 API, a COPY and
# a ledger row in PostgreSQL) dominate small batches. 2 s between batches instead of
# the tests' 0.5 s: fewer, larger files (docs/profiles/cluster.md).
P6_TRIGGER_S = 2.0


def p1(args: argparse.Namespace) -> list[Figure]:
    with serving() as server:
        result = sustained.run(server, args.seconds, 70)
    sustained.report("P1", result)
    goal = "≥ 250,000"
    last = result.last_minute
    extra = result.loaded - result.accepted
    return [
        Figure("P1 accepted", result.accepted_rate, "events/s"),
        Figure("P1 loaded", result.loaded_rate, "events/s", goal, result.loaded_rate >= 250e3),
        Figure("P1 loaded, last minute", last, "events/s", goal, last >= 250e3),
        Figure("P1 rows loaded - accepted (every table)", extra, "", "0", result.exactly_once),
    ]


def p2(args: argparse.Namespace) -> list[Figure]:
    with serving() as server:
        r = freshness.run(server, args.p2_seconds, 100_000, 70)
    print(
        f"P2: {r.offered:,.0f} events/s offered, {r.probes} probes: "
        f"p50 {r.p50:.2f} s, p99 {r.p99:.2f} s, max {r.max:.2f} s",
        flush=True,
    )
    return [
        Figure("P2 offered rate achieved", r.offered, "events/s", "100,000", r.offered >= 95e3),
        Figure("P2 freshness p50", r.p50, "s", "≤ 2", r.p50 <= 2),
        Figure("P2 freshness p99", r.p99, "s", "≤ 5", r.p99 <= 5),
        Figure("P2 freshness max", r.max, "s"),
    ]


def p5(args: argparse.Namespace) -> list[Figure]:
    rates = {}
    for types in (70, 1):
        with serving() as server:
            result = sustained.run(server, args.p5_seconds, types)
        sustained.report(f"P5, {types} types", result)
        rates[types] = result.loaded_rate
    ratio = rates[70] / rates[1] if rates[1] else 0.0
    return [
        Figure("P5 loaded, 1 type", rates[1], "events/s"),
        Figure("P5 loaded, 70 types", rates[70], "events/s"),
        Figure("P5 70 types ÷ 1 type", ratio, "", "≥ 0.8", ratio >= 0.8),
    ]


def ingest_alone(args: argparse.Namespace) -> list[Figure]:
    r = ingest.run(args.ingest_seconds, 70)
    share = r.accepted / r.ceiling
    print(f"ingest: {r.accepted:,.0f} events/s; ceiling {r.ceiling:,.0f}", flush=True)
    return [
        Figure("ingest alone, accepted", r.accepted, "events/s", "≥ 400,000", r.accepted >= 4e5),
        Figure("log append ceiling", r.ceiling, "events/s"),
        Figure("ingest ÷ ceiling", share, "", "≥ 0.5", share >= 0.5),
    ]


def p3(args: argparse.Namespace, stack: contextlib.ExitStack) -> list[Figure]:
    warehouses = {
        "DuckDB": dlt_compare.fresh_duckdb,
        "PostgreSQL": stack.enter_context(dlt_compare.postgres(stack)),
    }
    rates = dlt_compare.run(warehouses, args.p3_events, 70)
    figures = []
    for name in warehouses:
        ours = rates[(name, "playlog")]
        figures.append(Figure(f"P3 {name}: playlog", ours, "events/s"))
        for loader, times in (("dlt default", 10), ("dlt parquet", None), ("dlt arrow", 2)):
            theirs = rates[(name, loader)]
            goal, met = (f"playlog ≥ {times}x", ours >= times * theirs) if times else ("", None)
            figures.append(Figure(f"P3 {name}: {loader}", theirs, "events/s", goal, met))
    return figures


def p6(args: argparse.Namespace, stack: contextlib.ExitStack) -> list[Figure]:
    sys.path.insert(0, str(ROOT))
    from tests import peers
    from tests.cluster import SPARK_ENV, fresh_database, write_config

    os.environ.update(SPARK_ENV)
    running = stack.enter_context(peers.session())  # the one P3 started, if it ran
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    dsn = stack.enter_context(fresh_database(running.postgres_dsn))
    config = write_config(tmp / "cluster.toml", running, dsn, P6_TRIGGER_S)
    with serving(config) as server:
        result = sustained.run(server, args.p6_seconds, 70)
    sustained.report("P6", result)
    met = result.loaded_rate >= 100e3
    return [
        Figure(
            "P6 cluster (Spark local[2]) loaded", result.loaded_rate, "events/s", "≥ 100,000", met
        )
    ]


def print_table(figures: list[Figure]) -> None:
    print(f"\nplaylog benchmarks (`make bench`): {machine()}\n")
    print("| figure | measured | goal | met |")
    print("|---|---|---|---|")
    for figure in figures:
        print("| " + " | ".join(figure.cells()) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="P1's duration")
    parser.add_argument("--p2-seconds", type=float, default=60.0)
    parser.add_argument("--p5-seconds", type=float, default=60.0, help="each of two runs")
    parser.add_argument("--p6-seconds", type=float, default=60.0)
    parser.add_argument("--ingest-seconds", type=float, default=30.0)
    parser.add_argument("--p3-events", type=int, default=210_000)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    args = parser.parse_args()
    wanted = args.only.split(",")
    local: dict[str, Callable[[argparse.Namespace], list[Figure]]] = {
        "P1": p1,
        "P2": p2,
        "P5": p5,
        "ingest": ingest_alone,
    }
    figures: list[Figure] = []
    for part in (p for p in PARTS if p in wanted and p in local):
        figures += local[part](args)
    with contextlib.ExitStack() as stack:  # the peers, once, for P3 and P6
        if "P3" in wanted:
            figures += p3(args, stack)
        if "P6" in wanted:
            figures += p6(args, stack)
    print_table(figures)


if __name__ == "__main__":
    main()
