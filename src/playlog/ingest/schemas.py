"""``POST``/``GET /v1/games/{game}/schemas/{event_type}`` and
``GET /v1/schemas/{fingerprint}``: register a version (admin), read the versions."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from playlog.avro.schema import EventSchema
from playlog.errors import Forbidden
from playlog.ingest.http import JSON, admin, ingest, read_body
from playlog.registry.registry import Registry


def _register(
    registry: Registry, game: str, event_type: str, body: bytes
) -> tuple[EventSchema, bool]:
    return registry.register(game, event_type, body.decode("utf-8", "replace"))


async def register_schema(request: Request) -> Response:
    await admin(request)
    registry = ingest(request).services.registry
    game, event_type = request.path_params["game"], request.path_params["event_type"]
    body = await read_body(request)
    schema, created = await run_in_threadpool(_register, registry, game, event_type, body)
    return JSON(
        {"fingerprint": schema.fingerprint, "version": schema.version, "table": schema.table},
        status_code=201 if created else 200,
    )


async def list_schemas(request: Request) -> Response:
    deps = ingest(request)
    game, event_type = request.path_params["game"], request.path_params["event_type"]
    await run_in_threadpool(deps.auth.admin_or_game, request, game)
    versions = await run_in_threadpool(deps.services.registry.versions, game, event_type)
    return JSON(
        {
            "game": game,
            "event_type": event_type,
            "table": versions[-1].table,
            "versions": [
                {"version": s.version, "fingerprint": s.fingerprint, "schema": s.raw}
                for s in versions
            ],
        }
    )


async def get_schema(request: Request) -> Response:
    deps = ingest(request)
    # Who asks first: an unknown fingerprint forces a catalog reload, and whether
    # a hash is registered is no business of a caller without a key.
    owner = await run_in_threadpool(deps.auth.identify, request)
    fingerprint = request.path_params["fingerprint"]
    schema = await run_in_threadpool(deps.services.registry.by_fingerprint, fingerprint, owner)
    if owner is not None and owner != schema.game:
        raise Forbidden(f"this key belongs to another game than {schema.game!r}")
    return JSON(
        {
            "fingerprint": schema.fingerprint,
            "game": schema.game,
            "event_type": schema.event_type,
            "version": schema.version,
            "table": schema.table,
            "schema": schema.raw,
        }
    )
