"""``playlog send`` and ``playlog sql``: events in, rows out."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from playlog.cli.common import (
    ConfigOpt,
    DataDirOpt,
    UrlOpt,
    client_of,
    console,
    err,
    print_rows,
    settings_of,
)
from playlog.errors import PlaylogError


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


def sql(
    query: str, config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None
) -> None:
    """Run a read-only query on the warehouse and print the rows."""
    from playlog.cli.query import query_answer

    answer = query_answer(settings_of(config, data_dir), url, query)
    print_rows(answer.columns, answer.rows, answer.truncated)
