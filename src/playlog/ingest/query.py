"""``POST /v1/query`` ``{"sql": "select ..."}``: a read-only query (admin; used by
``playlog sql``)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from playlog.errors import BadRequest, NotFound
from playlog.ingest.http import admin, ingest, large_json, read_json


async def query(request: Request) -> Response:
    await admin(request)
    body = await read_json(request)
    sql = body.get("sql") if isinstance(body, dict) else None
    if not isinstance(sql, str) or not sql.strip():
        raise BadRequest('expected {"sql": "select ..."}')
    warehouse = ingest(request).services.warehouse
    if warehouse is None:
        raise NotFound("this process has no warehouse")
    result = await run_in_threadpool(warehouse.query, sql)
    return await large_json(
        {
            "columns": result.columns,
            "rows": [list(r) for r in result.rows],
            "truncated": result.truncated,
        }
    )
