"""``playlog loadtest``: OCF traffic as fast as the server takes it, from a game of its
own that it deletes afterwards (``keep``: left for a look), with progress shown."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import Progress, TextColumn, TimeRemainingColumn

from playlog.cli.demo import wait_until_loaded
from playlog.cli.traffic import synthetic_events, synthetic_schema
from playlog.client import Client
from playlog.client.ocf import ocf_body
from playlog.errors import PlaylogError

LOAD_WAIT_S = 600.0


def run_loadtest(
    client: Client,
    seconds: float,
    event_types: int,
    per_request: int,
    concurrency: int,
    console: Console,
    schema_of: Callable[[int], dict[str, Any]] = synthetic_schema,
    keep: bool = False,
) -> str:
    """Accepted events/s while sending, then loaded events/s until every row is in
    (event type i has the schema ``schema_of(i)``). Returns the game's name."""
    game = f"load{os.getpid()}"
    console.print(f"game {game}: registering {event_types} event types")
    key = client.create_game(game)["api_key"]
    try:
        bodies = _register(client, game, event_types, per_request, schema_of)
        _measure(client, game, key, bodies, seconds, concurrency, console)
    finally:
        if keep:
            console.print(f"kept game {game} (playlog game delete {game} removes it)")
        else:
            client.delete_game(game)
            console.print(f"deleted game {game} and its tables")
    return game


def _register(
    client: Client,
    game: str,
    event_types: int,
    per_request: int,
    schema_of: Callable[[int], dict[str, Any]],
) -> list[bytes]:
    rng = random.Random(1)
    bodies = []
    for i in range(event_types):
        client.register(game, f"evt_{i}", schema_of(i))
        bodies.append(ocf_body(schema_of(i), synthetic_events(per_request, rng)))
    return bodies


def _measure(
    client: Client,
    game: str,
    key: str,
    bodies: list[bytes],
    seconds: float,
    concurrency: int,
    console: Console,
) -> None:
    started = time.monotonic()
    per_type = _send(client.url, game, key, bodies, seconds, concurrency, console)
    send_s = time.monotonic() - started
    total = sum(per_type)
    expected = {f"{game}.evt_{i}": n for i, n in enumerate(per_type)}
    loaded = sum(wait_until_loaded(client, expected, LOAD_WAIT_S, console).values())
    loaded_s = time.monotonic() - started
    console.print(f"accepted: {total} events in {send_s:.1f}s = {total / send_s:,.0f} events/s")
    console.print(
        f"loaded:   {loaded} events in {loaded_s:.1f}s = {loaded / loaded_s:,.0f} events/s "
        f"(end to end, {len(bodies)} event types)"
    )


def _send(
    url: str,
    game: str,
    key: str,
    bodies: list[bytes],
    seconds: float,
    concurrency: int,
    console: Console,
) -> list[int]:
    """Events accepted per event type; ``concurrency`` senders for ``seconds``."""
    accepted = [[0] * len(bodies) for _ in range(concurrency)]  # per sender: no lock
    stop = threading.Event()
    failures: list[PlaylogError] = []

    def sender(slot: int) -> None:
        own = Client(url, key)
        n = slot
        while not stop.is_set():
            kind = n % len(bodies)
            try:
                answer = own.send(game, bodies[kind], "application/avro")
            except PlaylogError as exc:  # the first one ends the run, said once
                failures.append(exc)
                stop.set()
                return
            accepted[slot][kind] += int(answer["accepted"])
            n += concurrency

    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(concurrency)]
    columns = (TextColumn("sending: {task.description} events accepted"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("0", total=seconds)
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while (elapsed := time.monotonic() - started) < seconds and not stop.is_set():
            total = sum(map(sum, accepted))
            progress.update(task, completed=elapsed, description=f"{total:,}")
            time.sleep(min(0.25, max(0.0, seconds - elapsed)))
        stop.set()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return [sum(column) for column in zip(*accepted, strict=True)]
