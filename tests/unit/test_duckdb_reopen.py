"""A DuckDB database invalidated by a fatal error (an IO error mid-write, disk full)
refuses every later statement: the warehouse opens the file anew, so the loader's
retry succeeds once the cause is gone, without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from playlog.errors import WarehouseUnavailable
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse


class Invalidated:
    """Stands in for a DuckDB database object after a fatal error."""

    def __init__(self) -> None:
        self.closed = False

    def cursor(self) -> Any:
        raise duckdb.FatalException("FATAL Error: database has been invalidated")

    def close(self) -> None:
        self.closed = True


def test_an_invalidated_database_is_reopened_and_the_retry_works(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb", LocalStore(tmp_path / "objects"))
    try:
        warehouse.query("select 1")
        broken = Invalidated()
        warehouse._db = broken  # type: ignore[assignment]

        with pytest.raises(WarehouseUnavailable, match="invalidated"):
            warehouse.check()  # the health probe sees the outage...

        assert broken.closed
        warehouse.check()  # ...and the next one finds the reopened file
        assert warehouse.query("select count(*) from playlog.load_ledger").rows == [(0,)]
    finally:
        warehouse.close()
