"""``POST /v1/query`` ``{"sql": "select ..."}``: a read-only query (admin; used by
``playlog sql``)."""

from __future__ import annotations

from anyio import CapacityLimiter, to_thread
from starlette.requests import Request
from starlette.responses import Response

from playlog.errors import BadRequest, NotFound, TooManyQueries
from playlog.ingest.http import admin, ingest, large_json, read_json
from playlog.warehouse.base import QueryLimits


async def query(request: Request) -> Response:
    await admin(request)
    body = await read_json(request)
    sql = body.get("sql") if isinstance(body, dict) else None
    if not isinstance(sql, str) or not sql.strip():
        raise BadRequest('expected {"sql": "select ..."}')
    services = ingest(request).services
    if services.warehouse is None:
        raise NotFound("this process has no warehouse")
    settings = services.settings.query
    limits = QueryLimits(settings.max_rows, settings.max_result_bytes, settings.timeout_s)
    slots = _slots(request, settings.max_concurrent)
    if slots.available_tokens < 1:
        raise TooManyQueries(
            f"{settings.max_concurrent} queries are running (query.max_concurrent); "
            "retry when one has finished",
            limit=settings.max_concurrent,
        )
    # Threads of their own (by their own limiter): ingestion's threads never wait
    # for queries, however many arrive.
    result = await to_thread.run_sync(services.warehouse.query, sql, limits, limiter=slots)
    return await large_json(
        {
            "columns": result.columns,
            "rows": [list(r) for r in result.rows],
            "truncated": result.truncated,
        }
    )


def _slots(request: Request, size: int) -> CapacityLimiter:
    """The app's query slots (made on first use)."""
    state = request.app.state
    if getattr(state, "query_slots", None) is None:
        state.query_slots = CapacityLimiter(size)
    slots: CapacityLimiter = state.query_slots
    return slots
