"""Integer schema ids (the Confluent API's): assigned once per registered version,
kept in the catalog, the same after a reopen; catalogs made before ids get them."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
from tests.support.catalogs import KILL, LOGIN, LOGIN_V2, MIGRATED, write_old_schemas

from playlog.errors import NotFound
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry


def open_registry(path: Path) -> Registry:
    catalog = Catalog(path)
    for game in ("g1", "g2"):
        catalog.add_game(game)
    return Registry(catalog, warehouse=None)


def test_an_id_of_a_deleted_game_is_never_given_again(tmp_path: Path) -> None:
    """A Confluent client caches id -> schema: a reused id would give it the wrong one."""
    registry = open_registry(tmp_path / "catalog.db")
    registry.register("g1", "login", LOGIN)
    kill, _ = registry.register("g2", "kill", KILL)  # the highest id so far
    registry.catalog.revoke_keys("g2")
    assert registry.catalog.forget_game("g2")
    registry.catalog.add_game("g3")
    assert registry.register("g3", "kill", KILL)[0].schema_id == kill.schema_id + 1
    registry.catalog.close()
    reopened = Catalog(tmp_path / "catalog.db")  # the high-water mark is kept
    reopened.add_game("g4")
    assert Registry(reopened, warehouse=None).register("g4", "kill", KILL)[0].schema_id == 4


def test_ids_follow_registration_and_survive_a_reopen(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "catalog.db")
    login, _ = registry.register("g1", "login", LOGIN)
    kill, _ = registry.register("g2", "kill", KILL)
    login_v2, _ = registry.register("g1", "login", LOGIN_V2)
    again, created = registry.register("g1", "login", LOGIN)
    assert [login.schema_id, kill.schema_id, login_v2.schema_id] == [1, 2, 3]
    assert (again.schema_id, created) == (1, False)
    registry.catalog.close()

    reopened = open_registry(tmp_path / "catalog.db")
    assert reopened.by_id(2) == kill
    assert [s.schema_id for s in reopened.versions("g1", "login")] == [1, 3]
    assert reopened.register("g2", "login", LOGIN)[0].schema_id == 4
    with pytest.raises(NotFound, match="no schema with id 5"):
        reopened.by_id(5)


def test_a_catalog_made_before_ids_gets_them_in_registration_order(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    with contextlib.closing(sqlite3.connect(path)) as old:
        write_old_schemas(old, "", "?")
        old.commit()

    registry = open_registry(path)
    assert [(s.table, s.version, s.schema_id) for s in registry.catalog.schemas()] == MIGRATED
    assert registry.register("g2", "login", LOGIN)[0].schema_id == 4
    registry.catalog.close()
    assert open_registry(path).by_id(1).table == "g2.kill"  # migrated once, kept


def test_lookup_finds_a_registered_version_only_under_its_own_subject(tmp_path: Path) -> None:
    registry = open_registry(tmp_path / "catalog.db")
    registry.register("g1", "login", LOGIN)
    assert registry.find_version("g1", "login", LOGIN).schema_id == 1
    with pytest.raises(NotFound):
        registry.find_version("g1", "login", LOGIN_V2)
    with pytest.raises(NotFound):
        registry.find_version("g2", "login", LOGIN)
    millis = json.dumps(
        {
            "type": "record",
            "name": "login",
            "fields": [
                {"name": "player", "type": "string"},
                {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            ],
        }
    )
    registry.register("g1", "timed", millis)
    micros = millis.replace("timestamp-millis", "timestamp-micros")  # the same hash
    with pytest.raises(NotFound):
        registry.find_version("g1", "timed", micros)
