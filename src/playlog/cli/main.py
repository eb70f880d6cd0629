"""``playlog``: one entry point for every stage and every admin task.

Commands import what they need (the runtime, the settings, the HTTP client, the
warehouse) when they run: ``playlog --help`` must answer at once, without loading
uvicorn, pyarrow, polars, duckdb or fastavro (tests/unit/test_cli_imports.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from playlog.cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    UrlOpt,
    client_of,
    console,
    err,
    print_rows,
    settings_of,
)
from playlog.cli.games import game_app
from playlog.errors import PlaylogError

app = typer.Typer(
    help="playlog: game telemetry to the warehouse, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Event-type schemas.", no_args_is_help=True)
app.add_typer(game_app, name="game")
app.add_typer(schema_app, name="schema")

HostOpt = Annotated[str | None, typer.Option("--host", help="Default 127.0.0.1")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Default 8080")]
TlsCertOpt = Annotated[
    Path | None, typer.Option("--tls-cert", help="Serve HTTPS: PEM certificate chain")
]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="Its PEM private key")]


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

    settings = settings_of(config, data_dir, host, port, tls_cert=tls_cert, tls_key=tls_key)
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

    settings = settings_of(config, data_dir)
    runtime.configure_logging()
    runtime.run_monitor(settings)


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
    result = client_of(config, data_dir, url).register(game, event_type, schema_file.read_text())
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
    client = client_of(config, data_dir, url, key)
    stream = sys.stdin if source == "-" else open(source)  # noqa: SIM115
    with stream:
        total = send_lines(client, game, stream, batch, err)
    console.print(f"accepted {total} events")


@app.command()
def sql(
    query: str, config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None
) -> None:
    """Run a read-only query on the warehouse and print the rows."""
    from playlog.cli.query import query_answer

    answer = query_answer(settings_of(config, data_dir), url, query)
    print_rows(answer.columns, answer.rows, answer.truncated)


GameOpt = Annotated[str | None, typer.Option("--game", help="Only this game")]


@app.command()
def failed(
    game: GameOpt = None,
    since: Annotated[str | None, typer.Option(help="30m, 2h, 7d or a time")] = None,
    as_json: JsonOpt = False,
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
    columns, rows = run_query(settings_of(config, data_dir), url, sql)
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

    settings = settings_of(config, data_dir)
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
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Compare the object store, the copy topic and the load ledger: batch files never
    loaded, ledger rows whose file is gone. --apply loads the lost files (each once)."""
    from playlog.cli.reconcile import render, run_reconcile

    report = run_reconcile(settings_of(config, data_dir), url, apply, wait, console, err)
    if as_json:
        print(report.as_json())
    else:
        render(report, console)


@app.command()
def status(
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Readiness, stages, lag, and per table freshness and failed events."""
    from playlog.cli import status as report

    found = report.gather(client_of(config, data_dir, url))
    if as_json:
        print(json.dumps(found))
    else:
        report.render(found, console)


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
    keep: Annotated[bool, typer.Option("--keep", help="Keep its game and tables")] = False,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Send OCF traffic as fast as the server takes it; report accepted and loaded rates.
    Its game (load<pid>) is deleted afterwards unless --keep."""
    from playlog.cli.loadtest import run_loadtest

    client = client_of(None, data_dir, url)
    args = (seconds, event_types, events_per_request, concurrency, console)
    run_loadtest(client, *args, keep=keep)


def main() -> None:
    """Every user mistake ends in one line on stderr and exit code 1, never a traceback."""
    try:
        app()
    except PlaylogError as exc:
        _fail(exc.message)
    except OSError as exc:  # a missing or unreadable file named on the command line
        _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except UnicodeDecodeError as exc:
        _fail(f"not a text file: {exc.reason}")


def _fail(message: str) -> None:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    sys.exit(1)
