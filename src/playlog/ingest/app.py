"""The HTTP API (ASGI, Starlette). Routes and status codes are the public interface
documented in ARCHITECTURE.md; keep them exactly."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
import uuid
from decimal import Decimal
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from playlog.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    PlaylogError,
    TransientError,
)
from playlog.ingest import payloads
from playlog.ingest.auth import Auth
from playlog.log.base import Message
from playlog.monitor import metrics
from playlog.monitor.status import render_status
from playlog.names import check_name
from playlog.wiring import Services

log = logging.getLogger("playlog.ingest")


class _Encoder(json.JSONEncoder):
    """Query results hold dates, decimals and bytes; JSON has none of them."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime | dt.date | dt.time):
            return o.isoformat()
        if isinstance(o, Decimal):
            return str(o)
        if isinstance(o, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(o)).decode()
        if isinstance(o, uuid.UUID):
            return str(o)
        return super().default(o)


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, cls=_Encoder, separators=(",", ":")).encode()


def create_app(services: Services, admin_key: str) -> Starlette:
    settings = services.settings
    registry = services.registry
    auth = Auth(services.catalog, admin_key)

    async def read_body(request: Request) -> bytes:
        limit = settings.server.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"body of {declared} bytes; the limit is {limit}", limit=limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body over the limit of {limit} bytes", limit=limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_json(request: Request) -> Any:
        try:
            return json.loads(await read_body(request))
        except ValueError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc

    # games and keys --------------------------------------------------------------

    async def create_game(request: Request) -> Response:
        auth.admin(request)
        body = await read_json(request)
        game = check_name(body.get("game") if isinstance(body, dict) else None, "game")
        if not await run_in_threadpool(services.catalog.add_game, game):
            raise Conflict(f"game {game!r} exists already")
        key_id, api_key = await run_in_threadpool(services.catalog.add_key, game)
        log.info("game created: %s (key %s)", game, key_id)
        return JSON({"game": game, "api_key": api_key, "key_id": key_id}, status_code=201)

    async def add_key(request: Request) -> Response:
        auth.admin(request)
        game = _existing_game(services, request.path_params["game"])
        key_id, api_key = await run_in_threadpool(services.catalog.add_key, game)
        return JSON({"game": game, "key_id": key_id, "api_key": api_key}, status_code=201)

    async def revoke_key(request: Request) -> Response:
        auth.admin(request)
        game = _existing_game(services, request.path_params["game"])
        key_id = request.path_params["key_id"]
        if not await run_in_threadpool(services.catalog.revoke_key, game, key_id):
            raise NotFound(f"no active key {key_id!r} for game {game!r}")
        auth.forget()
        return JSON({"game": game, "key_id": key_id, "revoked": True})

    # schemas --------------------------------------------------------------------

    async def register_schema(request: Request) -> Response:
        auth.admin(request)
        game, event_type = request.path_params["game"], request.path_params["event_type"]
        body = (await read_body(request)).decode("utf-8", "replace")
        schema, created = await run_in_threadpool(registry.register, game, event_type, body)
        return JSON(
            {"fingerprint": schema.fingerprint, "version": schema.version, "table": schema.table},
            status_code=201 if created else 200,
        )

    async def list_schemas(request: Request) -> Response:
        game, event_type = request.path_params["game"], request.path_params["event_type"]
        auth.admin_or_game(request, game)
        versions = registry.versions(game, event_type)
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
        schema = registry.by_fingerprint(request.path_params["fingerprint"])
        auth.admin_or_game(request, schema.game)
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

    # events -----------------------------------------------------------------------

    async def post_events(request: Request) -> Response:
        game = request.path_params["game"]
        auth.game(request, game)
        received_ms = int(time.time() * 1000)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        body = payloads.decompress(
            await read_body(request),
            request.headers.get("content-encoding", ""),
            settings.server.max_body_bytes,
        )
        batch = await run_in_threadpool(
            payloads.parse,
            registry,
            game,
            request.headers.get("content-type", ""),
            body,
            settings.server.max_events_per_body,
        )
        headers = {
            "game": game,
            "format": batch.format,
            "received_at_ms": str(received_ms),
            "request_id": request_id,
            "count": str(batch.count),
        }
        started = time.monotonic()
        message = Message(game.encode(), batch.value, headers)
        await run_in_threadpool(services.log.append, settings.log.data_topic, [message])
        metrics.APPEND_SECONDS.observe(time.monotonic() - started)
        metrics.EVENTS_ACCEPTED.labels(game=game).inc(batch.count)
        metrics.BYTES_ACCEPTED.inc(len(batch.value))
        metrics.REQUESTS.labels(status="202").inc()
        return JSON(
            {"accepted": batch.count}, status_code=202, headers={"X-Request-Id": request_id}
        )

    # queries and health -----------------------------------------------------------

    async def query(request: Request) -> Response:
        auth.admin(request)
        body = await read_json(request)
        sql = body.get("sql") if isinstance(body, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            raise BadRequest('expected {"sql": "select ..."}')
        if services.warehouse is None:
            raise NotFound("this process has no warehouse")
        result = await run_in_threadpool(services.warehouse.query, sql)
        return JSON(
            {
                "columns": result.columns,
                "rows": [list(r) for r in result.rows],
                "truncated": result.truncated,
            }
        )

    async def healthz(request: Request) -> Response:
        return JSON({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await run_in_threadpool(services.log.end_offsets, settings.log.data_topic)
            checks["log"] = "ok"
        except PlaylogError as exc:
            checks["log"] = str(exc)
        if services.warehouse is not None:
            try:
                await run_in_threadpool(services.warehouse.check)
                checks["warehouse"] = "ok"
            except PlaylogError as exc:
                checks["warehouse"] = str(exc)
        ready = all(v == "ok" for v in checks.values())
        return JSON({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def status_page(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(render_status, services))

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PlaylogError)
        headers = {"Retry-After": "1"} if isinstance(exc, TransientError) else None
        if request.url.path.endswith("/events"):
            metrics.REQUESTS.labels(status=str(exc.status)).inc()
        if exc.status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc)
        return JSON(exc.to_json(), status_code=exc.status, headers=headers)

    routes = [
        Route("/v1/games", create_game, methods=["POST"]),
        Route("/v1/games/{game}/keys", add_key, methods=["POST"]),
        Route("/v1/games/{game}/keys/{key_id}", revoke_key, methods=["DELETE"]),
        Route("/v1/games/{game}/schemas/{event_type}", register_schema, methods=["POST"]),
        Route("/v1/games/{game}/schemas/{event_type}", list_schemas, methods=["GET"]),
        Route("/v1/schemas/{fingerprint}", get_schema, methods=["GET"]),
        Route("/v1/games/{game}/events", post_events, methods=["POST"]),
        Route("/v1/query", query, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
        Route("/", status_page),
    ]
    return Starlette(routes=routes, exception_handlers={PlaylogError: on_error})


def _existing_game(services: Services, game: str) -> str:
    check_name(game, "game")
    if not services.catalog.has_game(game):
        raise NotFound(f"no game {game!r}")
    return game
