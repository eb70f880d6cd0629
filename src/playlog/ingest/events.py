"""``POST /v1/games/{game}/events``: check a batch, append it durably, answer 202.

Inflating and checking a body is CPU work (up to 10 MiB): it runs in a worker thread
so that the event loop keeps answering other requests (``/healthz`` among them)."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from playlog.errors import CatalogUnavailable
from playlog.ingest import payloads
from playlog.ingest.http import JSON, Ingest, ingest, read_body
from playlog.ingest.idempotency import Answer, Claim, IdempotencyKeys, check_key
from playlog.log.base import Message
from playlog.monitor import metrics
from playlog.registry.registry import Registry
from playlog.settings import ServerSettings

log = logging.getLogger("playlog.ingest")


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
    limits = payloads.Limits.of(server)
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
    request.state.events = batch.count  # for the refusal counter, if the append fails
    headers = {
        "game": game,
        "format": batch.format,
        "received_at_ms": str(received_ms),
        "request_id": request_id,
        "count": str(batch.count),
    }
    message = Message(game.encode(), batch.value, headers)
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is None:
        await _append(deps, message)
        return _answer(Answer(202, {"accepted": batch.count}, request_id))
    keys = IdempotencyKeys(services.catalog, services.settings.server.idempotency_window_s)
    try:
        claimed = await run_in_threadpool(keys.begin, game, check_key(idempotency_key))
    except CatalogUnavailable as exc:
        # Ingestion outlives the catalog's database (often the warehouse's): accept
        # without the key's protection rather than refuse; only a retry of this very
        # batch during the outage could then be stored twice.
        log.warning("idempotency keys unavailable, accepting without: %s", exc)
        await _append(deps, message)
        return _answer(Answer(202, {"accepted": batch.count}, request_id))
    if isinstance(claimed, Answer):  # a retry: answered as the first time, nothing appended
        metrics.REQUESTS.labels(status="replayed").inc()
        return _answer(claimed, replayed=True)
    return await _append_once(deps, keys, claimed, message, batch.count, request_id)


async def _append(deps: Ingest, message: Message) -> None:
    started = time.monotonic()
    await run_in_threadpool(
        deps.services.log.append, deps.services.settings.log.data_topic, [message]
    )
    metrics.APPEND_SECONDS.observe(time.monotonic() - started)
    metrics.count_accepted(message.headers["game"], int(message.headers["count"]))
    metrics.BYTES_ACCEPTED.inc(len(message.value))


async def _append_once(
    deps: Ingest, keys: IdempotencyKeys, claim: Claim, message: Message, count: int, request_id: str
) -> Response:
    """Append under ``claim``: a failure releases it (the client's retry goes through)."""
    try:
        await _append(deps, message)
    except BaseException:
        await run_in_threadpool(keys.release, claim)
        raise
    answer = Answer(202, {"accepted": count}, request_id)
    await run_in_threadpool(keys.finish, claim, answer)
    return _answer(answer)


def _answer(answer: Answer, replayed: bool = False) -> Response:
    headers = {"X-Request-Id": answer.request_id}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    else:
        metrics.REQUESTS.labels(status=str(answer.status)).inc()
    return JSON(answer.body, status_code=answer.status, headers=headers)
