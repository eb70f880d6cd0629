"""``playlog schema register``: event-type schemas, through the running server's admin
API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from playlog.cli.common import ConfigOpt, DataDirOpt, UrlOpt, client_of, console

schema_app = typer.Typer(help="Event-type schemas.", no_args_is_help=True)


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
