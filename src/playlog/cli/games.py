"""``playlog game create|key|list|delete``: games and their keys, through the running
server's admin API."""

from __future__ import annotations

import json

import typer

from playlog.cli.common import ConfigOpt, DataDirOpt, UrlOpt, YesOpt, client_of, console

game_app = typer.Typer(help="Games and their keys.", no_args_is_help=True)


@game_app.command("create")
def game_create(
    game: str, config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None
) -> None:
    """Create a game; prints its API key."""
    console.print_json(json.dumps(client_of(config, data_dir, url).create_game(game)))


@game_app.command("key")
def game_key(
    game: str, config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None
) -> None:
    """Add another API key to a game."""
    console.print_json(json.dumps(client_of(config, data_dir, url).add_key(game)))


@game_app.command("list")
def game_list(config: ConfigOpt = None, data_dir: DataDirOpt = None, url: UrlOpt = None) -> None:
    """The games, one per line."""
    for game in client_of(config, data_dir, url).games():
        console.print(game, highlight=False)


@game_app.command("delete")
def game_delete(
    game: str,
    yes: YesOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = None,
) -> None:
    """Delete a game: revoke its keys, DROP its tables, remove its schemas."""
    client = client_of(config, data_dir, url)
    if not yes:
        typer.confirm(
            f"Delete game {game!r}: revoke its keys and drop its tables with all their rows?",
            abort=True,
        )
    deleted = client.delete_game(game)
    tables = ", ".join(deleted["tables"]) or "none"
    console.print(f"deleted game {game} (tables dropped: {tables})", highlight=False)
