"""The ingest app in this process (Starlette's TestClient) over a real catalog and
registry in ``tmp_path``, with no log, and a warehouse if given."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # it prefers the httpx2 package; httpx works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from playlog.ingest.app import create_app
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from playlog.settings import Settings
from playlog.warehouse.base import Warehouse

ADMIN = "pl_admin_unit"

__all__ = ["ADMIN", "TestClient", "app_client"]


@contextmanager
def app_client(
    tmp_path: Path, warehouse: Warehouse | None = None, **server: Any
) -> Iterator[TestClient]:
    """``server``: settings of ``[server]``."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    services = SimpleNamespace(
        settings=Settings(data_dir=tmp_path, server=server), registry=Registry(catalog, warehouse),
        catalog=catalog, log=None, warehouse=warehouse,
    )  # fmt: skip
    with TestClient(create_app(services, ADMIN), raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield client
