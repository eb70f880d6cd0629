"""End-to-end throughput of `playlog up`: accepted and loaded events per second.

    python benchmarks/pipeline.py [--seconds 30] [--event-types 10] [--config FILE]

Starts `playlog up` on a fresh data dir (with the adapters FILE selects), sends
pre-encoded OCF bodies (~190-byte events, 500 per request) from 4 client threads
for --seconds, then waits until every accepted event is queryable. Prints:
accepted events/s (while sending) and loaded events/s (accepted events over the time
from the first request until the last row was loaded).
"""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

from rich.console import Console

from playlog.cli.demo import free_port, run_loadtest, start_server
from playlog.client import Client, admin_key_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--event-types", type=int, default=10)
    parser.add_argument("--events-per-request", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="playlog-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        child, url = start_server(data_dir, free_port(), Path(tmp) / "server.log", args.config)
        try:
            console.print(f"playlog up ({args.config or 'embedded default'}) on {url}")
            client = Client(url, admin_key_of(data_dir))
            run_loadtest(
                client,
                args.seconds,
                args.event_types,
                args.events_per_request,
                args.concurrency,
                console,
            )
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=120)


if __name__ == "__main__":
    main()
