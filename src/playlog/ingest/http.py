"""What every handler shares: the dependencies on ``app.state``, reading bodies within
the limit, JSON answers, the auth checks off the event loop, and the error shape
``{"error": {"code": ..., "message": ..., ...}}`` for every failure."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from playlog.errors import (
    BadRequest,
    ClientError,
    NotFound,
    PayloadTooLarge,
    PlaylogError,
    TransientError,
)
from playlog.ingest.auth import Auth
from playlog.monitor import metrics
from playlog.names import check_name

if TYPE_CHECKING:
    from playlog.ingest.health import StatusCache, WarehouseProbe
    from playlog.wiring import Services

log = logging.getLogger("playlog.ingest")

# Bodies up to this size are parsed as JSON on the event loop: a thread hop costs more.
INLINE_JSON_BYTES = 64 * 1024


@dataclass(frozen=True)
class Ingest:
    """The handlers' dependencies, on ``app.state.ingest``."""

    services: Services
    auth: Auth
    warehouse_probe: WarehouseProbe | None
    status: StatusCache


def ingest(request: Request) -> Ingest:
    state: Ingest = request.app.state.ingest
    return state


class _Encoder(json.JSONEncoder):
    """Query results hold what JSON has no name for: dates, durations, decimals, bytes,
    and whatever else a warehouse returns (written as its text: a query's answer is
    never a 500 for the type of a value)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime | dt.date | dt.time):
            return o.isoformat()
        if isinstance(o, dt.timedelta):
            return _duration(o)
        if isinstance(o, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(o)).decode()
        return str(o)  # Decimal, UUID, IP addresses, ...


def _duration(delta: dt.timedelta) -> str:
    """ISO 8601 in days and seconds, e.g. ``P1DT5400.5S``, ``-P0DT90S`` (a warehouse's
    interval arrives as a timedelta: months already counted as days)."""
    micros = abs(delta) // dt.timedelta(microseconds=1)
    days, micros = divmod(micros, 86_400 * 10**6)
    seconds = f"{micros // 10**6}.{micros % 10**6:06d}".rstrip("0").rstrip(".")
    return f"{'-' if delta < dt.timedelta(0) else ''}P{days}DT{seconds}S"


def _named_non_finite(value: Any) -> Any:
    """``value`` with NaN and infinities as the strings PostgreSQL's JSON uses."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _named_non_finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_named_non_finite(v) for v in value]
    return value


def to_json(content: Any) -> bytes:
    """Standard JSON (RFC 8259: no NaN, no Infinity, which strict parsers refuse)."""
    try:
        return json.dumps(content, cls=_Encoder, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:  # a non-finite float (rare): walk the content once more
        named = _named_non_finite(content)
        return json.dumps(named, cls=_Encoder, separators=(",", ":"), allow_nan=False).encode()


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return to_json(content)


async def large_json(content: Any, status_code: int = 200) -> Response:
    """A JSON answer rendered off the event loop (query results can be megabytes)."""
    body = await run_in_threadpool(to_json, content)
    return Response(body, status_code=status_code, media_type="application/json")


# bodies ---------------------------------------------------------------------------


class ClientGone(ClientError):
    """The client closed the connection before its body arrived: nobody to answer,
    and not a server error (nginx's 499). Counted, logged at info."""

    status = 499
    code = "client_closed_request"


def _declared_length(header: str) -> int | None:
    """The Content-Length header's number; None unless ASCII digits (``isdigit()`` is
    true for "²", which ``int()`` refuses). Too many digits for ``int()`` is too large."""
    if not header.isascii() or not header.isdigit():
        return None
    digits = header.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else 2**63


async def read_body(request: Request) -> bytes:
    limit = ingest(request).services.settings.server.max_body_bytes
    declared = _declared_length(request.headers.get("content-length", ""))
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes; the limit is {limit}", limit=limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body over the limit of {limit} bytes", limit=limit)
            chunks.append(chunk)
    except ClientDisconnect:
        log.info(
            "%s %s -> 499: client disconnected after %d bytes of its body",
            request.method,
            request.url.path,
            size,
        )
        raise ClientGone(f"client disconnected after {size} bytes of its body") from None
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError as exc:  # json's C parser gives up ~1,000 levels deep
        raise BadRequest("body is not JSON we accept: too deeply nested") from exc
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc


async def read_json(request: Request) -> Any:
    body = await read_body(request)
    if len(body) <= INLINE_JSON_BYTES:
        return parse_json(body)
    return await run_in_threadpool(parse_json, body)


# auth: the checks may query the catalog (seconds when its host is unreachable), so
# they never run on the event loop -------------------------------------------------


async def admin(request: Request) -> None:
    await run_in_threadpool(ingest(request).auth.admin, request)


async def existing_game(request: Request) -> str:
    """The path's game, refused with 404 unless it exists."""
    services = ingest(request).services
    game: str = request.path_params["game"]

    def check() -> str:
        check_name(game, "game")
        if not services.catalog.has_game(game):
            raise NotFound(f"no game {game!r}")
        return game

    return await run_in_threadpool(check)


# errors ---------------------------------------------------------------------------

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
    431: "request_header_fields_too_large",
}


def _count_if_events(request: Request, status: int, code: str) -> None:
    """A refused event batch, by status and by reason; its events count if they were
    counted before the refusal (``request.state.events``: a log outage), else as one."""
    if request.url.path.endswith("/events"):
        metrics.REQUESTS.labels(status=str(status)).inc()
        metrics.REFUSED_EVENTS.labels(reason=code).inc(getattr(request.state, "events", 1))


async def on_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PlaylogError)
    headers = {"Retry-After": "1"} if isinstance(exc, TransientError) else None
    _count_if_events(request, exc.status, exc.code)
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
    code = _HTTP_CODES.get(status, f"http_{status}")
    _count_if_events(request, status, code)
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
    _count_if_events(request, 500, "internal")
    body = {"error": {"code": "internal", "message": "internal error; see the server log"}}
    return JSON(body, status_code=500)
