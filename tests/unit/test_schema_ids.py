"""Integer schema ids (the Confluent API's): assigned once per registered version,
kept in the catalog, the same after a reopen; catalogs made before ids get them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from playlog.avro.schema import fingerprint_of
from playlog.errors import NotFound
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry


def record(name: str, *fields: tuple[str, Any]) -> str:
    return json.dumps(
        {"type": "record", "name": name, "fields": [{"name": n, "type": t} for n, t in fields]}
    )


LOGIN = record("login", ("player", "string"))
LOGIN_V2 = json.dumps(
    {
        "type": "record",
        "name": "login",
        "fields": [
            {"name": "player", "type": "string"},
            {"name": "n", "type": "int", "default": 0},
        ],
    }
)
KILL = record("kill", ("victim", "string"))


def open_registry(path: Path) -> Registry:
    catalog = Catalog(path)
    for game in ("g1", "g2"):
        catalog.add_game(game)
    return Registry(catalog, warehouse=None)


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
    old = sqlite3.connect(path)
    old.execute(  # the schemas table as every catalog before ids had it
        """CREATE TABLE schemas (game TEXT NOT NULL, event_type TEXT NOT NULL,
        version INTEGER NOT NULL, fingerprint TEXT NOT NULL, schema_json TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (game, event_type, version))"""
    )
    rows = [("g2", "kill", 1, KILL, 10.0), ("g1", "login", 1, LOGIN, 20.0)]
    rows.append(("g1", "login", 2, LOGIN_V2, 30.0))
    for game, event_type, version, text, at in rows:
        schema_json = json.dumps(json.loads(text), separators=(",", ":"))
        old.execute(
            "INSERT INTO schemas VALUES (?, ?, ?, ?, ?, ?)",
            (game, event_type, version, fingerprint_of(schema_json), schema_json, at),
        )
    old.commit()
    old.close()

    registry = open_registry(path)
    assert [(s.table, s.version, s.schema_id) for s in registry.catalog.schemas()] == [
        ("g1.login", 1, 2),
        ("g1.login", 2, 3),
        ("g2.kill", 1, 1),
    ]
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
