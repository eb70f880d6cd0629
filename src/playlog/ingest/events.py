"""``POST /v1/games/{game}/events``: check a batch, append it durably, answer 202.

Inflating and checking a body is CPU work (up to 10 MiB), the append and the
idempotency key wait for disks: all of it runs in one worker thread per request, so
that the event loop keeps answering other requests (``/healthz`` among them)."""

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
from playlog.ingest.idempotency import Answer, IdempotencyKeys, check_key
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
    game = request.path_params["game"]
    if not deps.auth.owns_cached(request, game):  # else the check may query the catalog
        await run_in_threadpool(deps.auth.game, request, game)
    received_ms = int(time.time() * 1000)
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    body = await read_body(request)
    # One hop to a worker thread for all the blocking work of a request (each hop
    # costs the event loop a wake-up and a context switch).
    answer, replayed = await run_in_threadpool(
        accept, request, deps, game, body, received_ms, request_id
    )
    return _answer(answer, replayed)


def accept(
    request: Request, deps: Ingest, game: str, body: bytes, received_ms: int, request_id: str
) -> tuple[Answer, bool]:
    """Check the body, append it (once per ``Idempotency-Key``): the answer, and
    whether it replays an earlier one (blocking)."""
    services = deps.services
    headers = request.headers
    batch = check_batch(
        services.registry,
        services.settings.server,
        game,
        headers.get("content-type", ""),
        headers.get("content-encoding", ""),
        body,
    )
    request.state.events = batch.count  # for the refusal counter, if the append fails
    message = Message(
        game.encode(),
        batch.value,
        {
            "game": game,
            "format": batch.format,
            "received_at_ms": str(received_ms),
            "request_id": request_id,
            "count": str(batch.count),
        },
    )
    accepted = Answer(202, {"accepted": batch.count}, request_id)
    idempotency_key = headers.get("idempotency-key")
    if idempotency_key is None:
        _append(deps, message)
        return accepted, False
    keys = IdempotencyKeys(services.catalog, services.settings.server.idempotency_window_s)
    try:
        claimed = keys.begin(game, check_key(idempotency_key))
    except CatalogUnavailable as exc:
        # Ingestion outlives the catalog's database (often the warehouse's): accept
        # without the key's protection rather than refuse; only a retry of this very
        # batch during the outage could then be stored twice.
        log.warning("idempotency keys unavailable, accepting without: %s", exc)
        _append(deps, message)
        return accepted, False
    if isinstance(claimed, Answer):  # a retry: answered as the first time, nothing appended
        return claimed, True
    try:  # a failure releases the claim: the client's retry goes through
        _append(deps, message)
    except BaseException:
        keys.release(claimed)
        raise
    keys.finish(claimed, accepted)
    return accepted, False


def _append(deps: Ingest, message: Message) -> None:
    started = time.monotonic()
    deps.services.log.append(deps.services.settings.log.data_topic, [message])
    metrics.APPEND_SECONDS.observe(time.monotonic() - started)
    metrics.count_accepted(message.headers["game"], int(message.headers["count"]))
    metrics.BYTES_ACCEPTED.inc(len(message.value))


def _answer(answer: Answer, replayed: bool = False) -> Response:
    headers = {"X-Request-Id": answer.request_id}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
        metrics.REQUESTS.labels(status="replayed").inc()
    else:
        metrics.REQUESTS.labels(status=str(answer.status)).inc()
    return JSON(answer.body, status_code=answer.status, headers=headers)
