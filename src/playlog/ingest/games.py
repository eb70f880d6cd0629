"""``POST``/``GET /v1/games``, ``DELETE /v1/games/{game}``, ``POST /v1/games/{game}/keys``,
``DELETE /v1/games/{game}/keys/{key_id}``: admin only."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from playlog.errors import Conflict, NotFound
from playlog.ingest.http import JSON, admin, existing_game, ingest, read_json
from playlog.names import check_name

log = logging.getLogger("playlog.ingest")


async def create_game(request: Request) -> Response:
    await admin(request)
    catalog = ingest(request).services.catalog
    body = await read_json(request)
    game = check_name(body.get("game") if isinstance(body, dict) else None, "game")
    if not await run_in_threadpool(catalog.add_game, game):
        raise Conflict(f"game {game!r} exists already")
    key_id, api_key = await run_in_threadpool(catalog.add_key, game)
    log.info("game created: %s (key %s)", game, key_id)
    return JSON({"game": game, "api_key": api_key, "key_id": key_id}, status_code=201)


async def list_games(request: Request) -> Response:
    """The games users made (playlog's own canary game is no user's business)."""
    await admin(request)
    catalog = ingest(request).services.catalog
    return JSON({"games": await run_in_threadpool(catalog.games_of_users)})


async def delete_game(request: Request) -> Response:
    """Its keys revoked, its tables dropped, its schemas gone from the catalog."""
    await admin(request)
    game = request.path_params["game"]
    deps = ingest(request)
    tables = await run_in_threadpool(deps.services.registry.delete_game, game)
    deps.auth.forget()
    return JSON({"game": game, "deleted": True, "tables": tables})


async def add_key(request: Request) -> Response:
    await admin(request)
    game = await existing_game(request)
    key_id, api_key = await run_in_threadpool(ingest(request).services.catalog.add_key, game)
    return JSON({"game": game, "key_id": key_id, "api_key": api_key}, status_code=201)


async def revoke_key(request: Request) -> Response:
    await admin(request)
    game = await existing_game(request)
    key_id = request.path_params["key_id"]
    deps = ingest(request)
    if not await run_in_threadpool(deps.services.catalog.revoke_key, game, key_id):
        raise NotFound(f"no active key {key_id!r} for game {game!r}")
    deps.auth.forget()
    return JSON({"game": game, "key_id": key_id, "revoked": True})
