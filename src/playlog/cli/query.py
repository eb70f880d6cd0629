"""Read-only SQL on the warehouse from the command line: through the running server
(``POST /v1/query``) when there is one, else straight from the DuckDB file. Both paths
answer alike: the same row limit (``query.max_rows``, saying when it cut the result)
and the same values, in the server's JSON form (timestamps ISO 8601, bytes base64)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from playlog.errors import PlaylogError
from playlog.settings import Settings


@dataclass(frozen=True)
class Answer:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False


def query_answer(settings: Settings, url: str | None, sql: str) -> Answer:
    from playlog.client import Client, admin_key_of, server_url

    found = server_url(settings.data_dir, url)
    if found is not None:
        result = Client(found, admin_key_of(settings.data_dir)).query(sql)
        return Answer(result["columns"], result["rows"], bool(result.get("truncated")))
    return _from_file(settings, sql)


def _from_file(settings: Settings, sql: str) -> Answer:
    # No server: nobody holds the DuckDB file, open it read-only.
    from playlog.ingest.http import to_json
    from playlog.warehouse.base import QueryLimits
    from playlog.warehouse.duckdb import DuckDBWarehouse

    if not settings.duckdb_path.exists():
        raise PlaylogError(f"no warehouse at {settings.duckdb_path}; run `playlog up` first")
    limits = settings.query
    warehouse = DuckDBWarehouse(settings.duckdb_path, read_only=True)
    try:
        result = warehouse.query(
            sql, QueryLimits(limits.max_rows, limits.max_result_bytes, limits.timeout_s)
        )
    finally:
        warehouse.close()
    # The server's own encoding: a value prints the same on both paths.
    rows = json.loads(to_json([list(r) for r in result.rows]))
    return Answer(result.columns, rows, result.truncated)


def run_query(settings: Settings, url: str | None, sql: str) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)`` of one SELECT. Bytes come back base64 on both paths."""
    answer = query_answer(settings, url, sql)
    return answer.columns, answer.rows
