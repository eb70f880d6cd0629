"""The warehouse adapter the settings select."""

from __future__ import annotations

from playlog.settings import Settings
from playlog.storage.base import ObjectStore
from playlog.warehouse.base import Warehouse


def open_warehouse(settings: Settings, store: ObjectStore | None) -> Warehouse:
    kind = settings.warehouse.kind
    if kind == "postgres":
        from playlog.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse.from_settings(settings.warehouse, store)
    if kind == "redshift":
        from playlog.warehouse.redshift import RedshiftWarehouse

        return RedshiftWarehouse.from_settings(settings.warehouse, store)
    from playlog.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(settings.duckdb_path, store)
