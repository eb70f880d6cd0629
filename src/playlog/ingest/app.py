"""The HTTP API (ASGI, Starlette). Routes and status codes are the public interface
documented in ARCHITECTURE.md; keep them exactly."""

from __future__ import annotations

import asyncio
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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from playlog.errors import (
    BadRequest,
    Conflict,
    Forbidden,
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
        body = await read_body(request)
        try:
            return json.loads(body)
        except RecursionError as exc:  # json's C parser gives up ~1,000 levels deep
            raise BadRequest("body is not JSON we accept: too deeply nested") from exc
        except ValueError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from exc

    # The auth checks may query the catalog (seconds when its host is unreachable):
    # never on the event loop.
    async def admin(request: Request) -> None:
        await run_in_threadpool(auth.admin, request)

    async def existing_game(request: Request) -> str:
        return await run_in_threadpool(_existing_game, services, request.path_params["game"])

    # games and keys --------------------------------------------------------------

    async def create_game(request: Request) -> Response:
        await admin(request)
        body = await read_json(request)
        game = check_name(body.get("game") if isinstance(body, dict) else None, "game")
        if not await run_in_threadpool(services.catalog.add_game, game):
            raise Conflict(f"game {game!r} exists already")
        key_id, api_key = await run_in_threadpool(services.catalog.add_key, game)
        log.info("game created: %s (key %s)", game, key_id)
        return JSON({"game": game, "api_key": api_key, "key_id": key_id}, status_code=201)

    async def add_key(request: Request) -> Response:
        await admin(request)
        game = await existing_game(request)
        key_id, api_key = await run_in_threadpool(services.catalog.add_key, game)
        return JSON({"game": game, "key_id": key_id, "api_key": api_key}, status_code=201)

    async def revoke_key(request: Request) -> Response:
        await admin(request)
        game = await existing_game(request)
        key_id = request.path_params["key_id"]
        if not await run_in_threadpool(services.catalog.revoke_key, game, key_id):
            raise NotFound(f"no active key {key_id!r} for game {game!r}")
        auth.forget()
        return JSON({"game": game, "key_id": key_id, "revoked": True})

    # schemas --------------------------------------------------------------------

    async def register_schema(request: Request) -> Response:
        await admin(request)
        game, event_type = request.path_params["game"], request.path_params["event_type"]
        body = (await read_body(request)).decode("utf-8", "replace")
        schema, created = await run_in_threadpool(registry.register, game, event_type, body)
        return JSON(
            {"fingerprint": schema.fingerprint, "version": schema.version, "table": schema.table},
            status_code=201 if created else 200,
        )

    async def list_schemas(request: Request) -> Response:
        game, event_type = request.path_params["game"], request.path_params["event_type"]
        await run_in_threadpool(auth.admin_or_game, request, game)
        versions = await run_in_threadpool(registry.versions, game, event_type)
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
        # Who asks first: an unknown fingerprint forces a catalog reload, and whether
        # a hash is registered is no business of a caller without a key.
        owner = await run_in_threadpool(auth.identify, request)
        schema = await run_in_threadpool(
            registry.by_fingerprint, request.path_params["fingerprint"]
        )
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

    # events -----------------------------------------------------------------------

    async def post_events(request: Request) -> Response:
        game = request.path_params["game"]
        await run_in_threadpool(auth.game, request, game)
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
        await admin(request)
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

    warehouse_probe: list[asyncio.Task[None]] = []  # the one warehouse check running

    async def warehouse_state() -> str:
        """The warehouse check, waited for at most WAREHOUSE_CHECK_WAIT_S; a check
        still running (a blackholed host) is waited for again, never started twice."""
        assert services.warehouse is not None
        if not warehouse_probe or warehouse_probe[0].done():
            started = asyncio.ensure_future(run_in_threadpool(services.warehouse.check))
            # Its outcome may go unread (a newer probe replaces it): mark it read.
            started.add_done_callback(lambda task: task.cancelled() or task.exception())
            warehouse_probe[:] = [started]
        probe = warehouse_probe[0]
        await asyncio.wait([probe], timeout=WAREHOUSE_CHECK_WAIT_S)
        if not probe.done():
            return f"no answer within {WAREHOUSE_CHECK_WAIT_S:g} s"
        if probe.cancelled():
            return "check cancelled"
        error = probe.exception()
        if error is None:
            return "ok"
        if isinstance(error, PlaylogError):
            return str(error)
        log.error("warehouse check failed unexpectedly", exc_info=error)
        return f"check failed: {type(error).__name__}; see the server log"

    async def readyz(request: Request) -> Response:
        """Ready = this node can accept events: the log answers. The warehouse is
        reported but does not count: during a warehouse outage ingestion goes on (the
        loader pauses), so a load balancer must keep sending to this node."""
        checks: dict[str, str] = {}
        try:
            await run_in_threadpool(services.log.end_offsets, settings.log.data_topic)
            checks["log"] = "ok"
        except PlaylogError as exc:
            checks["log"] = str(exc)
        ready = checks["log"] == "ok"
        if services.warehouse is not None:
            checks["warehouse"] = await warehouse_state()
        return JSON({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def status_page(request: Request) -> Response:
        def page() -> str:
            types = {g: services.registry.event_types(g) for g in services.catalog.games()}
            return render_status(services.settings, types)

        return HTMLResponse(await run_in_threadpool(page))

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PlaylogError)
        headers = {"Retry-After": "1"} if isinstance(exc, TransientError) else None
        if request.url.path.endswith("/events"):
            metrics.REQUESTS.labels(status=str(exc.status)).inc()
        if exc.status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc)
        return JSON(exc.to_json(), status_code=exc.status, headers=headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own answers (no such route, method not allowed) in our shape."""
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        if status == 404:
            message = f"no such path: {request.url.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = exc.detail
        if request.url.path.endswith("/events"):
            metrics.REQUESTS.labels(status=str(status)).inc()
        code = _HTTP_CODES.get(status, f"http_{status}")
        body = {"error": {"code": code, "message": message}}
        return JSON(body, status_code=status, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        """A bug: the traceback goes to the log, the client gets no internals."""
        log.error(
            "%s %s -> 500: unexpected %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            exc_info=exc,
        )
        if request.url.path.endswith("/events"):
            metrics.REQUESTS.labels(status="500").inc()
        body = {"error": {"code": "internal", "message": "internal error; see the server log"}}
        return JSON(body, status_code=500)

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
    return Starlette(
        routes=routes,
        exception_handlers={
            PlaylogError: on_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )


WAREHOUSE_CHECK_WAIT_S = 1.0

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_payload",
}


def _existing_game(services: Services, game: str) -> str:
    check_name(game, "game")
    if not services.catalog.has_game(game):
        raise NotFound(f"no game {game!r}")
    return game
