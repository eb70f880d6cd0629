"""Compose one process's services from the settings (each port's ``factory`` picks its
adapter)."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field

from playlog.contracts import Engine
from playlog.errors import ConfigError
from playlog.log.base import Log
from playlog.log.factory import ensure_topics, open_log
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from playlog.settings import Settings
from playlog.storage.base import ObjectStore
from playlog.storage.factory import open_store
from playlog.warehouse.base import Warehouse
from playlog.warehouse.factory import open_warehouse

log = logging.getLogger("playlog")


def open_engine(settings: Settings, log_: Log, registry: Registry, store: ObjectStore) -> Engine:
    if settings.process.engine == "spark":
        from playlog.engine.spark import SparkEngine

        return SparkEngine(settings, registry)
    from playlog.avro.limits import Limits
    from playlog.engine.inprocess import InProcessEngine

    return InProcessEngine(log_, registry, store, Limits.of(settings.server))


def open_catalog(settings: Settings) -> Catalog:
    dsn = settings.registry.dsn
    if dsn is None and settings.warehouse.kind == "postgres":
        dsn = settings.warehouse.dsn
    if dsn is None and settings.warehouse.kind == "redshift":
        # A per-node SQLite catalog would let ingest nodes disagree on schemas.
        raise ConfigError("with warehouse 'redshift', set registry.dsn (a PostgreSQL catalog)")
    if dsn is not None:
        return Catalog(dsn=dsn.get_secret_value())
    return Catalog(settings.catalog_path)


def admin_key(settings: Settings) -> tuple[str, bool]:
    """The admin key: ``PLAYLOG_ADMIN_KEY`` (or ``server.admin_key``), else the one
    stored in the data dir, else a new one stored there. Returns (key, created now)."""
    if os.environ.get("PLAYLOG_ADMIN_KEY"):
        return os.environ["PLAYLOG_ADMIN_KEY"], False
    if settings.server.admin_key is not None:
        return settings.server.admin_key.get_secret_value(), False
    path = settings.data_dir / "admin_key"
    if path.exists():
        return path.read_text().strip(), False
    key = "pl_admin_" + secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key, True


def announce_admin_key(settings: Settings) -> str:
    """Say where the admin key is, on every start (printed in full only when new)."""
    key, created = admin_key(settings)
    stored = settings.data_dir / "admin_key"
    if created:
        where = f"admin key (shown once, stored in {stored}): {key}"
    elif os.environ.get("PLAYLOG_ADMIN_KEY"):
        where = "admin key: from PLAYLOG_ADMIN_KEY"
    elif settings.server.admin_key is not None:
        where = "admin key: from the settings (server.admin_key)"
    else:
        where = f"admin key: in {stored}"
    print(where, flush=True)
    return key


@dataclass
class Services:
    """What the stages of one process share."""

    settings: Settings
    log: Log
    store: ObjectStore
    warehouse: Warehouse | None
    catalog: Catalog
    registry: Registry
    closers: list[object] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings, with_warehouse: bool = True) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        log_ = open_log(settings)
        ensure_topics(settings, log_)
        store = open_store(settings)
        warehouse = open_warehouse(settings, store) if with_warehouse else None
        catalog = open_catalog(settings)
        registry = Registry(catalog, warehouse)
        registry.converge()
        return cls(settings, log_, store, warehouse, catalog, registry)

    def close(self) -> None:
        if self.warehouse is not None:
            self.warehouse.close()
        self.catalog.close()
        self.log.close()
