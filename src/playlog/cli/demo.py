"""``playlog demo``: the pipeline with demo traffic, and the helpers of ``loadtest``."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from playlog.cli.traffic import (
    DEMO_SCHEMAS,
    demo_event,
)
from playlog.client import ApiError, Client, admin_key_of
from playlog.client.ocf import ocf_body
from playlog.errors import PlaylogError

DEMO_GAME = "demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path, port: int, log_file: Path, config: Path | None = None, stages: str = "up"
) -> tuple[subprocess.Popen[bytes], str]:
    """``playlog up`` (or ``playlog ingest``: ``stages``) as a child process; returns it
    once it answers /healthz."""
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "playlog", stages, "--data-dir", str(data_dir)]
    command += ["--port", str(port)] + (["--config", str(config)] if config else [])
    with open(log_file, "ab") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    probe = Client(url, None)
    deadline = time.monotonic() + 60
    while not probe.alive():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            tail = log_file.read_text()[-2000:]
            raise PlaylogError(f"playlog up did not start; its log ends with:\n{tail}")
        time.sleep(0.1)
    return child, url


def table_counts(client: Client, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        try:
            counts[table] = int(client.query(f"select count(*) from {table}")["rows"][0][0])
        except ApiError:
            counts[table] = 0
    return counts


def wait_until_loaded(
    client: Client, expected: dict[str, int], timeout_s: float, console: Console
) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    with console.status("waiting for the loader...") as status:
        while True:
            counts = table_counts(client, list(expected))
            missing = sum(max(0, expected[t] - counts[t]) for t in expected)
            if missing == 0 or time.monotonic() > deadline:
                return counts
            status.update(f"waiting for the loader: {missing} rows to go")
            time.sleep(0.3)


def run_demo(data_dir: Path, seconds: float, port: int, console: Console) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "demo-server.log"
    console.print(f"starting the pipeline (data in {data_dir}/, log in {log_file})")
    child, url = start_server(data_dir, port or free_port(), log_file)
    try:
        admin = Client(url, admin_key_of(data_dir))
        try:
            key = admin.create_game(DEMO_GAME)["api_key"]
        except ApiError as exc:
            if exc.status != 409:
                raise
            key = admin.add_key(DEMO_GAME)["api_key"]
        for event_type, schema in DEMO_SCHEMAS.items():
            admin.register(DEMO_GAME, event_type, schema)
        tables = [f"{DEMO_GAME}.{t}" for t in DEMO_SCHEMAS]
        expected = table_counts(admin, tables)
        sent = _send_demo_traffic(Client(url, key), seconds, expected, console)
        counts = wait_until_loaded(admin, expected, 120, console)
        _show(admin, counts, sent, console)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)


def _send_demo_traffic(
    client: Client, seconds: float, expected: dict[str, int], console: Console
) -> int:
    rng = random.Random(7)
    sent = 0
    mix = {"login": 50, "kill": 400, "purchase": 20}  # events per request and type
    columns = (
        TextColumn("sending demo traffic"),
        BarColumn(),
        TextColumn("{task.fields[n]} events"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=seconds, n=0)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            body = b""
            for event_type, count in mix.items():
                events = [demo_event(event_type, rng) for _ in range(rng.randrange(1, count))]
                body += ocf_body(DEMO_SCHEMAS[event_type], events, codec="deflate")
                expected[f"{DEMO_GAME}.{event_type}"] += len(events)
            sent += int(client.send(DEMO_GAME, body, "application/avro")["accepted"])
            progress.update(task, completed=elapsed, n=sent)
            time.sleep(0.02)
        progress.update(task, completed=seconds, n=sent)
    return sent


def _show(client: Client, counts: dict[str, int], sent: int, console: Console) -> None:
    from playlog.cli.common import print_rows

    console.print(f"\nsent {sent} events; rows per table:")
    print_rows(["table", "rows"], [[t, c] for t, c in counts.items()])
    sql = (
        "select weapon, count(*) as kills, round(avg(distance_m), 1) as avg_distance_m, "
        "sum(headshot::int) as headshots from demo.kill group by weapon order by kills desc"
    )
    console.print(f'\n[bold]playlog sql[/bold] "{sql}"')
    result = client.query(sql)
    print_rows(result["columns"], result["rows"])
    console.print('\nquery it yourself: playlog sql "select * from demo.login limit 5"')
