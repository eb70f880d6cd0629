"""Schema ids in a PostgreSQL catalog shared by several nodes: an old catalog is
migrated once however many nodes open it at once, and concurrent registrations never
share an id (issue 13, part 4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from playlog.errors import Conflict
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from tests.cluster import fresh_database
from tests.support.catalogs import MIGRATED, record, write_old_schemas


@pytest.fixture
def dsn(postgres_dsn: str) -> Iterator[str]:
    with fresh_database(postgres_dsn) as fresh:
        yield fresh


@pytest.mark.parametrize("catalog", ["old", "none"])
def test_nodes_opening_a_catalog_at_once_create_or_migrate_it_once(dsn: str, catalog: str) -> None:
    if catalog == "old":
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute("CREATE SCHEMA playlog")
            write_old_schemas(db, "playlog.", "%s")

    with ThreadPoolExecutor(4) as pool:
        nodes = list(pool.map(lambda _: Catalog(dsn=dsn), range(4)))
    try:
        expected = MIGRATED if catalog == "old" else []
        for node in nodes:
            assert [(s.table, s.version, s.schema_id) for s in node.schemas()] == expected
    finally:
        for node in nodes:
            node.close()


def test_concurrent_registrations_on_two_nodes_get_distinct_ids(dsn: str) -> None:
    catalogs = [Catalog(dsn=dsn), Catalog(dsn=dsn)]
    catalogs[0].add_game("g1")
    registries = [Registry(catalog, warehouse=None) for catalog in catalogs]

    def register(n: int) -> int:
        schema = record(f"e{n}", {"name": "x", "type": "long"})
        for _ in range(20):  # a Conflict is the twin that lost the race: retry
            try:
                return registries[n % 2].register("g1", f"e{n}", schema)[0].schema_id
            except Conflict:
                continue
        raise AssertionError(f"e{n} never registered")

    try:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(register, range(16)))
        assert sorted(ids) == list(range(1, 17))
        stored = {s.event_type: s.schema_id for s in catalogs[0].schemas()}
        assert stored == {f"e{n}": ids[n] for n in range(16)}
        assert json.loads(registries[1].by_id(ids[5]).schema_json)["name"] == "e5"
    finally:
        for catalog in catalogs:
            catalog.close()


def test_an_id_of_a_deleted_game_is_never_given_again(dsn: str) -> None:
    catalog = Catalog(dsn=dsn)
    try:
        for game in ("g1", "g2"):
            catalog.add_game(game)
        registry = Registry(catalog, warehouse=None)
        registry.register("g1", "e", record("e", {"name": "x", "type": "long"}))
        kill = registry.register("g2", "k", record("k", {"name": "x", "type": "long"}))[0]
        catalog.revoke_keys("g2")
        assert catalog.forget_game("g2")
        catalog.add_game("g3")
        again = registry.register("g3", "k", record("k", {"name": "x", "type": "long"}))[0]
        assert again.schema_id == kill.schema_id + 1
    finally:
        catalog.close()
