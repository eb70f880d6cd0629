"""``playlog failed|replay|reconcile|status``: watching a running pipeline and
repairing what went wrong (failed events sent again, lost batch files loaded)."""

from __future__ import annotations

import json
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

GameOpt = Annotated[str | None, typer.Option("--game", help="Only this game")]


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
