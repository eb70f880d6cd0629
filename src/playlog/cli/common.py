"""What the commands share: their options, the consoles, the settings, the admin
client of the running server, and printing rows. Light imports only (``--help``
loads no settings, HTTP client or warehouse: tests/unit/test_cli_imports.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from playlog.errors import PlaylogError

if TYPE_CHECKING:
    from playlog.client import Client
    from playlog.settings import Settings

console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Default .playlog/")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="Server URL (default: the running one)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON instead of a table")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")]


def settings_of(
    config: Path | None,
    data_dir: Path | None,
    host: str | None = None,
    port: int | None = None,
    **server_flags: Path | None,
) -> Settings:
    from playlog.settings import Settings

    flags = {"host": host, "port": port, **server_flags}
    server: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}  # --port 0 too
    return Settings.read(config, data_dir=data_dir, **({"server": server} if server else {}))


def client_of(
    config: Path | None, data_dir: Path | None, url: str | None, key: str | None = None
) -> Client:
    from playlog.client import Client, admin_key_of, server_url

    settings = settings_of(config, data_dir)
    found = server_url(settings.data_dir, url)
    if found is None:
        raise PlaylogError(
            f"no running playlog server found for {settings.data_dir} "
            "(start one with `playlog up`, or pass --url)"
        )
    return Client(found, key or admin_key_of(settings.data_dir))


def cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def print_rows(columns: list[str], rows: list[list[Any]], truncated: bool = False) -> None:
    """A table of every value in full, then the row count (and whether more existed)."""
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*[cell(v) for v in row])
    out = console
    if not console.is_terminal:  # piped or redirected: never cut values to 80 columns
        wide = console.measure(table, options=console.options.update_width(1_000_000))
        out = Console(width=max(console.width, wide.maximum))
    out.print(table)
    count = f"({len(rows)} row{'s' if len(rows) != 1 else ''})"
    if truncated:
        count += " [yellow]truncated: more rows exist (query.max_rows); add a LIMIT or filter[/]"
    console.print(count)
