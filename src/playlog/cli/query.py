"""Read-only SQL on the warehouse from the command line: through the running server
(``POST /v1/query``) when there is one, else straight from the DuckDB file."""

from __future__ import annotations

from typing import Any

from playlog.errors import PlaylogError
from playlog.settings import Settings


def run_query(settings: Settings, url: str | None, sql: str) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)`` of one SELECT. Bytes come back base64 through the server."""
    from playlog.client import Client, admin_key_of, server_url

    found = server_url(settings.data_dir, url)
    if found is not None:
        result = Client(found, admin_key_of(settings.data_dir)).query(sql)
        return result["columns"], result["rows"]
    # No server: nobody holds the DuckDB file, open it read-only.
    from playlog.warehouse.duckdb import DuckDBWarehouse

    if not settings.duckdb_path.exists():
        raise PlaylogError(f"no warehouse at {settings.duckdb_path}; run `playlog up` first")
    warehouse = DuckDBWarehouse(settings.duckdb_path, read_only=True)
    try:
        answer = warehouse.query(sql)
    finally:
        warehouse.close()
    return answer.columns, [list(r) for r in answer.rows]
