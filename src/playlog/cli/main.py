"""``playlog``: one entry point for every stage and every admin task.

This module is the table of contents: the commands live in modules by what they are
for (``stages``, ``games``, ``schemas``, ``data``, ``operate``, ``trial``) and are
listed here in the order ``playlog --help`` shows them. Commands import what they need
(the runtime, the settings, the HTTP client, the warehouse) when they run: ``playlog
--help`` must answer at once, without loading uvicorn, pyarrow, polars, duckdb or
fastavro (tests/unit/test_cli_imports.py)."""

from __future__ import annotations

import sys

import typer

from playlog.cli import data, operate, stages, trial
from playlog.cli.common import err
from playlog.cli.games import game_app
from playlog.cli.schemas import schema_app
from playlog.errors import PlaylogError

app = typer.Typer(
    help="playlog: game telemetry to the warehouse, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(game_app, name="game")
app.add_typer(schema_app, name="schema")
for command in (
    stages.up, stages.ingest, stages.process, stages.load, stages.monitor,
    data.send, data.sql,
    operate.failed, operate.replay, operate.reconcile, operate.status,
    trial.demo, trial.loadtest,
):  # fmt: skip
    app.command()(command)


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
