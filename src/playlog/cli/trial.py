"""``playlog demo`` and ``playlog loadtest``: playlog tried on generated traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from playlog.cli.common import DataDirOpt, UrlOpt, client_of, console


def demo(
    seconds: Annotated[float, typer.Option(help="How long to send traffic")] = 10.0,
    data_dir: DataDirOpt = None,
    port: Annotated[int, typer.Option()] = 0,
) -> None:
    """Start the pipeline, send demo traffic, show rows per table, stop."""
    from playlog.cli.demo import run_demo

    run_demo(data_dir or Path(".playlog"), seconds, port, console)


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
