"""Ingest alone: accepted events/s of valid OCF with no processing, and the raw append
ceiling of the log with the same request bodies.

    python benchmarks/ingest.py [--seconds 30] [--event-types 70] [--senders 16] [--config FILE]

Runs `playlog ingest` (the HTTP API alone: nothing reads the data topic) on a fresh data
dir and posts the issue-11 mix (benchmarks/harness.py) from the load generator's
process. Then appends the same bodies, with the headers ingest writes, straight to the
log the settings select (a fresh one for the embedded default) from as many threads as
the generator has senders, for as long: what ingest would reach if checking and HTTP
cost nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness import GAME, SENDERS, Body, finish, request_bodies, sending, serving, start_load

from playlog.log.base import Message
from playlog.log.factory import ensure_topics, open_log
from playlog.settings import Settings


@dataclass(frozen=True)
class Ingest:
    accepted: float  # events/s through `playlog ingest`
    ceiling: float  # events/s appended straight to the log


def accepted_rate(
    bodies: list[Body], seconds: float, types: int, config: Path | None, senders: int
) -> float:
    with serving(config, stages="ingest") as server:
        key = server.register(types)
        process, load = start_load(server.url, key, bodies, seconds, senders)
        while sending(process, load, 1.0):
            pass
        send_s = time.monotonic() - load.started.value
        return sum(finish(process, load).values()) / send_s


def append_ceiling(bodies: list[Body], seconds: float, config: Path | None, senders: int) -> float:
    with tempfile.TemporaryDirectory(prefix="playlog-bench-") as tmp:
        settings = Settings.read(config, data_dir=Path(tmp))
        log = open_log(settings)
        ensure_topics(settings, log)
        events = [0] * senders
        ends = time.monotonic() + seconds

        def append(slot: int) -> None:
            n = slot
            while time.monotonic() < ends:
                body = bodies[n % len(bodies)]
                headers = {
                    "game": GAME,
                    "format": "ocf",
                    "received_at_ms": str(int(time.time() * 1000)),
                    "request_id": uuid.uuid4().hex,
                    "count": str(body.events),
                }
                log.append(settings.log.data_topic, [Message(GAME.encode(), body.data, headers)])
                events[slot] += body.events
                n += senders

        threads = [threading.Thread(target=append, args=(i,)) for i in range(senders)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        log.close()
        return sum(events) / elapsed


def run(seconds: float, types: int, config: Path | None = None, senders: int = SENDERS) -> Ingest:
    bodies = request_bodies(types)
    accepted = accepted_rate(bodies, seconds, types, config, senders)
    return Ingest(accepted, append_ceiling(bodies, seconds, config, senders))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--event-types", type=int, default=70)
    parser.add_argument("--senders", type=int, default=SENDERS)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.seconds, args.event_types, args.config, args.senders)
    print(
        f"ingest alone: {result.accepted:,.0f} events/s accepted; log append ceiling "
        f"{result.ceiling:,.0f} events/s ({result.accepted / result.ceiling:.0%})"
    )


if __name__ == "__main__":
    main()
