"""``playlog``: one entry point for every stage and every admin task.

Commands import what they need (the runtime, the settings, the HTTP client, the
warehouse) when they run: ``playlog --help`` must answer at once, without loading
uvicorn, pyarrow, polars, duckdb or fastavro (tests/unit/test_cli_imports.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from playlog.errors import PlaylogError

if TYPE_CHECKING:
    from playlog.client import Client
    from playlog.settings import Settings

app = typer.Typer(
    help="playlog: game telemetry to the warehouse, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
game_app = typer.Typer(help="Games and their keys.", no_args_is_help=True)
schema_app = typer.Typer(help="Event-type schemas.", no_args_is_help=True)
app.add_typer(game_app, name="game")
app.add_typer(schema_app, name="schema")

console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Default .playlog/")]
HostOpt = Annotated[str | None, typer.Option("--host", help="Default 127.0.0.1")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Default 8080")]
TlsCertOpt = Annotated[
    Path | None, typer.Option("--tls-cert", help="Serve HTTPS: PEM certificate chain")
]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="Its PEM private key")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="Server URL (default: the running one)")]


def _settings(
    config: Path | None,
    data_dir: Path | None,
    host: str | None = None,
    port: int | None = None,
    **server_flags: Path | None,
) -> Settings:
    from playlog.settings import Settings

    flags = {"host": host, "port": port, **server_flags}
    server: dict[str, Any] = {k: v for k, v in flags.items() if v}
    return Settings.read(config, data_dir=data_dir, **({"server": server} if server else {}))


def _client(
    config: Path | None, data_dir: Path | None, url: str | None, key: str | None = None
) -> Client:
    from playlog.client import Client, admin_key_of, server_url

    settings = _settings(config, data_dir)
    found = server_url(settings.data_dir, url)
    if found is None:
        raise PlaylogError(
            f"no running playlog server found for {settings.data_dir} "
            "(start one with `playlog up`, or pass --url)"
        )
    return Client(found, key or admin_key_of(settings.data_dir))


def _run_stages(
    stages: tuple[str, ...],
    config: Path | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    from playlog import runtime

    settings = _settings(config, data_dir, host, port, tls_cert=tls_cert, tls_key=tls_key)
    runtime.configure_logging()
    runtime.run(settings, stages)


@app.command()
def up(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Run every stage in one process (ingest, process, load) until Ctrl-C / SIGTERM."""
    from playlog.runtime import STAGES

    _run_stages(STAGES, config, data_dir, host, port, tls_cert, tls_key)


@app.command()
def ingest(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Run the HTTP API alone (events, registry, queries)."""
    _run_stages(("ingest",), config, data_dir, host, port, tls_cert, tls_key)


@app.command()
def process(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the processor alone: data topic -> batch files -> COPY tasks."""
    _run_stages(("process",), config, data_dir, None, None)


@app.command()
def load(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the loader alone: COPY tasks -> warehouse."""
    _run_stages(("load",), config, data_dir, None, None)


@app.command()
def monitor(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the end-to-end canary against monitor.ingest_url and serve /metrics."""
    from playlog import runtime

    settings = _settings(config, data_dir)
    runtime.configure_logging()
    runtime.run_monitor(settings)


@game_app.command("create")
def game_create(
    game: str, config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None
) -> None:
    """Create a game; prints its API key."""
    result = _client(config, data_dir, url).create_game(game)
    console.print_json(json.dumps(result))


@game_app.command("key")
def game_key(
    game: str, config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None
) -> None:
    """Add another API key to a game."""
    console.print_json(json.dumps(_client(config, data_dir, url).add_key(game)))


@schema_app.command("register")
def schema_register(
    game: str,
    event_type: str,
    schema_file: Annotated[Path, typer.Argument(help="Avro record schema (JSON)")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Register a schema version for GAME/EVENT_TYPE (creates or alters its table)."""
    result = _client(config, data_dir, url).register(game, event_type, schema_file.read_text())
    console.print_json(json.dumps(result))


@app.command()
def send(
    game: str,
    source: Annotated[str, typer.Argument(help="JSON-lines file, or - for stdin")] = "-",
    key: Annotated[
        str | None, typer.Option(envvar="PLAYLOG_GAME_KEY", help="The game's API key")
    ] = None,
    batch: Annotated[int, typer.Option(help="Events per request")] = 500,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Send events, one JSON object per line: {"event_type": ..., "data": {...}}."""
    from playlog.cli.send import send_lines

    if key is None:
        raise PlaylogError("a game key is needed: --key or PLAYLOG_GAME_KEY")
    client = _client(config, data_dir, url, key)
    stream = sys.stdin if source == "-" else open(source)  # noqa: SIM115
    with stream:
        total = send_lines(client, game, stream, batch, err)
    console.print(f"accepted {total} events")


@app.command()
def sql(
    query: str, config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None
) -> None:
    """Run a read-only query on the warehouse and print the rows."""
    from playlog.cli.query import run_query

    print_rows(*run_query(_settings(config, data_dir), url, query))


def print_rows(columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    out = console
    if not console.is_terminal:  # piped or redirected: never cut values to 80 columns
        wide = console.measure(table, options=console.options.update_width(1_000_000))
        out = Console(width=max(console.width, wide.maximum))
    out.print(table)
    console.print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


GameOpt = Annotated[str | None, typer.Option("--game", help="Only this game")]


@app.command()
def failed(
    game: GameOpt = None,
    since: Annotated[str | None, typer.Option(help="30m, 2h, 7d or a time")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Failed events (playlog.failed_events), grouped by reason, most frequent first."""
    import datetime as dt

    from playlog.cli import failed as failures
    from playlog.cli.query import run_query

    after = None if since is None else failures.parse_since(since, dt.datetime.now(dt.UTC))
    sql = failures.summary_sql(failures.filters(game, after))
    columns, rows = run_query(_settings(config, data_dir), url, sql)
    if as_json:
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str))
    else:
        print_rows(columns, rows)


@app.command()
def replay(
    game: GameOpt = None,
    event_type: Annotated[str | None, typer.Option(help="Only this event type")] = None,
    reason_like: Annotated[
        str | None, typer.Option(help="Only reasons matching (SQL LIKE; % implied)")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Send unreplayed failed events through the pipeline again, after a fix: each loads
    once and is marked replayed (replayed_at) in the same transaction."""
    from playlog.cli import failed as failures
    from playlog.cli.query import run_query
    from playlog.log.factory import open_log

    settings = _settings(config, data_dir)
    conditions = failures.filters(game, None, event_type, reason_like)
    log_ = open_log(settings)
    try:
        done = failures.replay_all(
            lambda sql: run_query(settings, url, sql)[1],
            log_,
            conditions,
            settings.log.data_topic,
            settings.log.copy_topic,
        )
    finally:
        log_.close()
    stages = ", ".join(f"{n} from {stage}" for stage, n in sorted(done.sent.items()))
    count = sum(done.sent.values())
    console.print(f"replayed {count} failed events{f' ({stages})' if done.sent else ''}")
    if done.skipped:
        console.print(
            f"skipped {len(done.skipped)} stored without their payload (nothing to send): "
            + ", ".join(done.skipped[:10])
            + (", ..." if len(done.skipped) > 10 else "")
        )


@app.command()
def reconcile(
    apply: Annotated[
        bool, typer.Option("--apply", help="Queue lost files for loading (default: report only)")
    ] = False,
    wait: Annotated[
        float, typer.Option(help="With --apply: seconds to wait for the loads (0: none)")
    ] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Compare the object store, the copy topic and the load ledger: batch files never
    loaded, ledger rows whose file is gone. --apply loads the lost files (each once)."""
    from playlog.cli.reconcile import render, run_reconcile

    report = run_reconcile(_settings(config, data_dir), url, apply, wait, console, err)
    if as_json:
        print(report.as_json())
    else:
        render(report, console)


@app.command()
def status(config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None) -> None:
    """Readiness and progress of the running server."""
    from playlog.client import ApiError

    client = _client(config, data_dir, url)
    try:
        ready = client.request("GET", "/readyz")
    except ApiError as exc:
        ready = {"ready": False, "error": str(exc)}
    console.print_json(json.dumps({"url": client.url, **ready}))


@app.command()
def demo(
    seconds: Annotated[float, typer.Option(help="How long to send traffic")] = 10.0,
    data_dir: DataDirOpt = None,
    port: Annotated[int, typer.Option()] = 0,
) -> None:
    """Start the pipeline, send demo traffic, show rows per table, stop."""
    from playlog.cli.demo import run_demo

    run_demo(data_dir or Path(".playlog"), seconds, port, console)


@app.command()
def loadtest(
    seconds: Annotated[float, typer.Option()] = 30.0,
    event_types: Annotated[int, typer.Option(help="Event types (tables)")] = 10,
    events_per_request: Annotated[int, typer.Option()] = 500,
    concurrency: Annotated[int, typer.Option()] = 4,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Send OCF traffic as fast as the server takes it; report accepted and loaded rates."""
    from playlog.cli.demo import run_loadtest

    client = _client(None, data_dir, url)
    run_loadtest(client, seconds, event_types, events_per_request, concurrency, console)


def main() -> None:
    try:
        app()
    except PlaylogError as exc:
        err.print(f"[red]error:[/red] {exc.message}", soft_wrap=True)  # one line, never cut
        sys.exit(1)
