"""``POST /v1/games/{game}/events``: check a batch, append it durably, answer 202.

Inflating and checking a body is CPU work (up to 10 MiB): it runs in a worker thread
so that the event loop keeps answering other requests (``/healthz`` among them)."""

from __future__ import annotations

import time
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from playlog.ingest import payloads
from playlog.ingest.http import JSON, ingest, read_body
from playlog.log.base import Message
from playlog.monitor import metrics
from playlog.registry.registry import Registry
from playlog.settings import ServerSettings


def check_batch(
    registry: Registry,
    server: ServerSettings,
    game: str,
    content_type: str,
    content_encoding: str,
    body: bytes,
) -> payloads.Batch:
    """The body as one data-topic value: inflated, parsed and validated (blocking)."""
    body = payloads.decompress(body, content_encoding, server.inflated_limit)
    limits = payloads.Limits(server.max_nesting_depth, server.inflated_limit)
    return payloads.parse(registry, game, content_type, body, server.max_events_per_body, limits)


async def post_events(request: Request) -> Response:
    deps = ingest(request)
    services, game = deps.services, request.path_params["game"]
    await run_in_threadpool(deps.auth.game, request, game)
    received_ms = int(time.time() * 1000)
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    body = await read_body(request)
    batch = await run_in_threadpool(
        check_batch,
        services.registry,
        services.settings.server,
        game,
        request.headers.get("content-type", ""),
        request.headers.get("content-encoding", ""),
        body,
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
    await run_in_threadpool(services.log.append, services.settings.log.data_topic, [message])
    metrics.APPEND_SECONDS.observe(time.monotonic() - started)
    metrics.EVENTS_ACCEPTED.labels(game=game).inc(batch.count)
    metrics.BYTES_ACCEPTED.inc(len(batch.value))
    metrics.REQUESTS.labels(status="202").inc()
    return JSON({"accepted": batch.count}, status_code=202, headers={"X-Request-Id": request_id})
