"""End-to-end throughput of `playlog up`: accepted and loaded events per second.

    python benchmarks/pipeline.py [--seconds 30] [--event-types 10] [--config FILE]
    python benchmarks/pipeline.py --compare      # embedded default, then the cluster
                                                 # setup on the test peers, one run
    python benchmarks/pipeline.py --string-defaults  # 70 event types, one in seven with
                                                 # a string field: without a default,
                                                 # then with one (embedded default)

Starts `playlog up` on a fresh data dir (with the adapters FILE selects), sends
pre-encoded OCF bodies (~190-byte events, 500 per request) from 4 client threads
for --seconds, then waits until every accepted event is queryable. Prints accepted
events/s (while sending) and loaded events/s (accepted events over the time from the
first request until the last row was loaded). `--compare` starts the test peers
(Kafka-protocol broker, S3 API, PostgreSQL; see tests/peers.py) for the cluster run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from harness import serving
from rich.console import Console

from playlog.cli.loadtest import run_loadtest
from playlog.cli.traffic import synthetic_schema

ROOT = Path(__file__).resolve().parent.parent


def measure(
    args: argparse.Namespace,
    config: Path | None,
    console: Console,
    schema_of: Callable[[int], dict[str, Any]] = synthetic_schema,
) -> None:
    with serving(config) as server:
        console.print(f"[bold]playlog up ({config or 'embedded default'})[/bold] on {server.url}")
        run_loadtest(
            server.admin,
            args.seconds,
            args.event_types,
            args.events_per_request,
            args.concurrency,
            console,
            schema_of,
        )


def with_region(index: int, default: bool) -> dict[str, Any]:
    """The loadtest's schema, and in one type of seven a ``region`` string field."""
    region = {"name": "region", "type": "string", **({"default": "eu"} if default else {})}
    return synthetic_schema(index, [region] if index % 7 == 0 else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--event-types", type=int, default=10)
    parser.add_argument("--events-per-request", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--compare", action="store_true", help="embedded, then cluster")
    parser.add_argument(
        "--string-defaults",
        action="store_true",
        help="70 types, 1 in 7 with a string field: without, then with a default",
    )
    args = parser.parse_args()
    console = Console()
    if args.string_defaults:
        args.event_types = 70
        for default in (False, True):
            console.print(f"[bold]one type in seven has a string field, default: {default}")
            measure(args, args.config, console, partial(with_region, default=default))
        return
    if not args.compare:
        measure(args, args.config, console)
        return
    sys.path.insert(0, str(ROOT))
    from tests import peers
    from tests.cluster import SPARK_ENV, fresh_database, write_config

    os.environ.update(SPARK_ENV)

    measure(args, None, console)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        running = stack.enter_context(peers.session())
        dsn = stack.enter_context(fresh_database(running.postgres_dsn))
        config = write_config(Path(tmp) / "cluster.toml", running, dsn)
        measure(args, config, console)


if __name__ == "__main__":
    main()
