"""``GET /healthz`` (liveness), ``/readyz`` (readiness; why not ready only to the admin
key), ``/metrics`` (Prometheus) and ``/`` (the status page, a static page): open to
anyone. ``GET /v1/status``, the data the page shows: the admin key, unless
``server.public_status``."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from playlog.errors import PlaylogError
from playlog.ingest.http import JSON, admin, ingest
from playlog.monitor import metrics, snapshot, status
from playlog.monitor.history import HISTORY
from playlog.monitor.merged import EXPOSED

if TYPE_CHECKING:
    from playlog.warehouse.base import QueryResult, Warehouse
    from playlog.wiring import Services

log = logging.getLogger("playlog.ingest")

WAREHOUSE_CHECK_WAIT_S = 1.0
STATUS_CACHE_S = 2.0  # the status page polls every 2 s


class WarehouseProbe:
    """The warehouse check, waited for at most ``WAREHOUSE_CHECK_WAIT_S``; a check
    still running (a blackholed host) is waited for again, never started twice."""

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        self._running: asyncio.Task[None] | None = None

    async def state(self) -> str:
        if self._running is None or self._running.done():
            started = asyncio.ensure_future(run_in_threadpool(self._warehouse.check))
            # Its outcome may go unread (a newer probe replaces it): mark it read.
            started.add_done_callback(lambda task: task.cancelled() or task.exception())
            self._running = started
        probe = self._running
        await asyncio.wait([probe], timeout=WAREHOUSE_CHECK_WAIT_S)
        state = self._outcome(probe)
        metrics.WAREHOUSE_UP.set(1 if state == "ok" else 0)
        return state

    @staticmethod
    def _outcome(probe: asyncio.Task[None]) -> str:
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


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready = this node can accept events: the log answers. The warehouse is
    reported but does not count: during a warehouse outage ingestion goes on (the
    loader pauses), so a load balancer must keep sending to this node.

    Open to anyone (load balancers probe it without a key), so each check says only
    ``ok`` or ``failing``; why it fails (a host, a grant, event values) only to the
    admin key, as ``GET /v1/status``'s public view leaves out the reasons."""
    deps = ingest(request)
    services = deps.services
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(services.log.end_offsets, services.settings.log.data_topic)
        checks["log"] = "ok"
    except PlaylogError as exc:
        checks["log"] = str(exc)
    ready = checks["log"] == "ok"
    if deps.warehouse_probe is not None:
        checks["warehouse"] = await deps.warehouse_probe.state()
    if (failure := metrics.loader_failure()) is not None:  # a loader in this process
        checks["loader"] = f"failing: {failure}"
    if not await _has_admin_key(request):
        checks = {name: "ok" if state == "ok" else "failing" for name, state in checks.items()}
    return JSON({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


async def prometheus(request: Request) -> Response:
    exposition = await run_in_threadpool(generate_latest, EXPOSED)  # with child processes'
    return Response(exposition, media_type=CONTENT_TYPE_LATEST)


async def status_page(request: Request) -> Response:
    return HTMLResponse(status.page())


async def status_data(request: Request) -> Response:
    """The whole document for the admin key; with ``server.public_status``, anyone
    else gets the public view (nothing that may hold event values)."""
    deps = ingest(request)
    if not deps.services.settings.server.public_status:
        await admin(request)
        return JSON(await deps.status.document())
    document = await deps.status.document()
    return JSON(document if await _has_admin_key(request) else status.public(document))


async def _has_admin_key(request: Request) -> bool:
    return ingest(request).auth.holds_admin_key(request)


class StatusCache:
    """The status data, gathered at most once per ``STATUS_CACHE_S`` however many
    ask: with ``server.public_status`` anyone may, and each gather queries the
    warehouse."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = asyncio.Lock()
        self._document: dict[str, Any] = {}
        self._at = -math.inf

    async def document(self) -> dict[str, Any]:
        async with self._lock:  # one gather at a time; who waited reads its answer
            if time.monotonic() - self._at >= STATUS_CACHE_S:
                self._document = await run_in_threadpool(self._gather)
                self._at = time.monotonic()
            return self._document

    def _gather(self) -> dict[str, Any]:
        recent = self._query(status.RECENT_FAILED_SQL)
        counts = self._query(status.FAILED_BY_TABLE_SQL)
        failed = by_table = None
        if recent is not None and counts is not None:  # no such table (yet): none
            failed = [dict(zip(recent.columns, row, strict=True)) for row in recent.rows]
            by_table = {str(table): int(n) for table, n in counts.rows}
        settings = self._services.settings
        return status.document(settings, snapshot.take(), HISTORY, failed, by_table)

    def _query(self, sql: str) -> QueryResult | None:
        warehouse = self._services.warehouse
        if warehouse is None:
            return None
        try:
            return warehouse.query(sql)
        except PlaylogError:  # no such table (yet): nothing to list
            return None
