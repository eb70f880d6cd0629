"""Catalog (games, keys, versions) and registry (hash, compatibility, DDL) on DuckDB."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form
from tests.support.batch_files import put_batch_file

from playlog.avro.types import Column
from playlog.contracts import OffsetRange
from playlog.errors import (
    BadRequest,
    Conflict,
    IncompatibleSchema,
    InvalidPayload,
    NotFound,
    PlaylogError,
    ReservedName,
    UnknownSchema,
)
from playlog.registry.catalog import Catalog, hash_key
from playlog.registry.registry import Registry
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse

METADATA = [
    ("_event_id", "BIGINT"),
    ("_received_at", "TIMESTAMP WITH TIME ZONE"),
    ("_schema_hash", "VARCHAR"),
]


def record(*fields: dict[str, Any], name: str = "Login") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields)}


def field(name: str, avro_type: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": avro_type, **extra}


LOGIN_V1 = record(field("Player", "string"), field("score", "int"))


def fp(schema: dict[str, Any]) -> str:
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    return str(fingerprint(canonical, "CRC-64-AVRO"))


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects")


@pytest.fixture
def warehouse(tmp_path: Path, store: LocalStore) -> Iterator[DuckDBWarehouse]:
    opened = DuckDBWarehouse(tmp_path / "warehouse.duckdb", store)
    yield opened
    opened.close()


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "catalog.sqlite"


@pytest.fixture
def catalog(catalog_path: Path) -> Iterator[Catalog]:
    opened = Catalog(catalog_path)
    yield opened
    opened.close()


@pytest.fixture
def registry(catalog: Catalog, warehouse: DuckDBWarehouse) -> Registry:
    catalog.add_game("g1")
    return Registry(catalog, warehouse)


def columns(warehouse: DuckDBWarehouse, game: str, event_type: str) -> list[tuple[str, str]]:
    result = warehouse.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{game}' AND table_name = '{event_type}' "
        "ORDER BY ordinal_position"
    )
    return [(str(name), str(kind)) for name, kind in result.rows]


def load_rows(
    warehouse: DuckDBWarehouse, store: LocalStore, game: str, event_type: str, data: pa.Table
) -> None:
    """Load ``data`` (plus metadata columns) through the real COPY-task path."""
    n = data.num_rows
    data = (
        data.append_column("_event_id", pa.array(range(n), pa.int64()))
        .append_column(
            "_received_at",
            pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * n, pa.timestamp("us", "UTC")),
        )
        .append_column("_schema_hash", pa.array([fp(LOGIN_V1)] * n))
    )
    key = f"{game}/{event_type}/batch-{n}.parquet"
    task = put_batch_file(store, key, data, OffsetRange("events", 0, 0, 0))
    assert warehouse.load([task]) == [task.task_id]


# --- games and keys ------------------------------------------------------------------


def test_add_game_is_idempotent(catalog: Catalog) -> None:
    assert catalog.add_game("g1") is True
    assert catalog.add_game("g1") is False
    assert catalog.add_game("g2") is True
    assert catalog.games() == ["g1", "g2"]
    assert catalog.has_game("g1") and not catalog.has_game("g3")


def test_a_key_names_its_game(catalog: Catalog) -> None:
    catalog.add_game("g1")
    catalog.add_game("g2")
    key_id, key = catalog.add_key("g1")
    _, other = catalog.add_key("g2")
    assert key.startswith(f"pl_{key_id}_")
    assert catalog.game_of_key(key) == "g1"
    assert catalog.game_of_key(other) == "g2"


def test_keys_are_hashed_at_rest(catalog: Catalog, catalog_path: Path) -> None:
    catalog.add_game("g1")
    _, key = catalog.add_key("g1")
    secret = key.split("_", 2)[2]
    files = [catalog_path, *catalog_path.parent.glob(catalog_path.name + "-*")]
    stored = b"".join(p.read_bytes() for p in files)
    assert hash_key(key).encode() in stored  # the bytes we read hold the key's row
    assert key.encode() not in stored
    assert secret.encode() not in stored


@pytest.mark.parametrize(
    "wrong",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # right id, wrong secret
        lambda key: "pl_00000000_" + key.split("_", 2)[2],  # unknown id
        lambda key: key.replace("pl_", "xx_", 1),
        lambda key: "",
        lambda key: "pl_",
        lambda key: key.split("_", 2)[1],
    ],
)
def test_a_wrong_key_names_no_game(catalog: Catalog, wrong: Any) -> None:
    catalog.add_game("g1")
    _, key = catalog.add_key("g1")
    assert catalog.game_of_key(wrong(key)) is None
    assert catalog.game_of_key(key) == "g1"


def test_a_revoked_key_names_no_game(catalog: Catalog) -> None:
    catalog.add_game("g1")
    catalog.add_game("g2")
    key_id, key = catalog.add_key("g1")
    _, kept = catalog.add_key("g1")
    assert catalog.revoke_key("g2", key_id) is False  # not that game's key
    assert catalog.game_of_key(key) == "g1"
    assert catalog.revoke_key("g1", key_id) is True
    assert catalog.revoke_key("g1", key_id) is False  # already revoked
    assert catalog.game_of_key(key) is None
    assert catalog.game_of_key(kept) == "g1"


# --- registration ------------------------------------------------------------------------


def test_register_v1_creates_the_table(registry: Registry, warehouse: DuckDBWarehouse) -> None:
    schema = record(
        field("Player", "string"),
        field("score", "int"),
        field("won", "boolean"),
        field("at", {"type": "long", "logicalType": "timestamp-millis"}),
        field("price", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
        field("tags", {"type": "array", "items": "string"}),
    )
    version, created = registry.register("g1", "login", json.dumps(schema))

    assert created is True
    assert (version.game, version.event_type, version.version) == ("g1", "login", 1)
    assert version.fingerprint == fp(schema)
    assert version.table == "g1.login"
    assert columns(warehouse, "g1", "login") == [
        ("player", "VARCHAR"),
        ("score", "INTEGER"),
        ("won", "BOOLEAN"),
        ("at", "TIMESTAMP WITH TIME ZONE"),
        ("price", "DECIMAL(9,2)"),
        ("tags", "VARCHAR"),
        *METADATA,
    ]


def test_registering_the_same_schema_again_is_a_no_op(
    registry: Registry, warehouse: DuckDBWarehouse
) -> None:
    first, _ = registry.register("g1", "login", json.dumps(LOGIN_V1))
    # Other spacing and a doc string: same names, fields and types, same hash.
    again, created = registry.register(
        "g1", "login", json.dumps({**LOGIN_V1, "doc": "a login"}, indent=2)
    )
    assert created is False
    assert again == first
    assert [v.version for v in registry.versions("g1", "login")] == [1]
    assert len(registry.catalog.schemas("g1")) == 1


def test_compatible_v2_adds_columns_that_old_rows_read_as_their_default(
    registry: Registry, warehouse: DuckDBWarehouse, store: LocalStore
) -> None:
    registry.register("g1", "login", json.dumps(LOGIN_V1))
    old_rows = pa.table({"player": ["ann", "bob"], "score": pa.array([1, 2], pa.int32())})
    load_rows(warehouse, store, "g1", "login", old_rows)

    v2 = record(
        *LOGIN_V1["fields"],
        field("level", "int", default=7),
        field("clan", ["null", "string"], default=None),
        field("mode", "string", default="ranked"),
    )
    version, created = registry.register("g1", "login", json.dumps(v2))

    assert (version.version, created) == (2, True)
    assert columns(warehouse, "g1", "login") == [
        ("player", "VARCHAR"),
        ("score", "INTEGER"),
        *METADATA,
        ("level", "INTEGER"),
        ("clan", "VARCHAR"),
        ("mode", "VARCHAR"),
    ]
    rows = warehouse.query("SELECT player, level, clan, mode FROM g1.login ORDER BY player").rows
    assert rows == [("ann", 7, None, "ranked"), ("bob", 7, None, "ranked")]
    assert registry.latest("g1", "login") == version
    assert [v.version for v in registry.versions("g1", "login")] == [1, 2]


def test_int_to_long_widens_the_column(
    registry: Registry, warehouse: DuckDBWarehouse, store: LocalStore
) -> None:
    registry.register("g1", "login", json.dumps(LOGIN_V1))
    biggest_int = pa.table({"player": ["ann"], "score": pa.array([2**31 - 1], pa.int32())})
    load_rows(warehouse, store, "g1", "login", biggest_int)
    v2 = record(field("Player", "string"), field("score", "long"))

    version, _ = registry.register("g1", "login", json.dumps(v2))

    assert version.version == 2
    assert ("score", "BIGINT") in columns(warehouse, "g1", "login")
    assert warehouse.query("SELECT score FROM g1.login").rows == [(2**31 - 1,)]


@pytest.mark.parametrize(
    ("v2", "rule"),
    [
        (record(*LOGIN_V1["fields"], field("level", "int")), "new_field_without_default"),
        (record(field("Player", "string"), field("score", "string")), "type_change"),
    ],
)
def test_incompatible_schema_changes_nothing(
    registry: Registry, warehouse: DuckDBWarehouse, v2: dict[str, Any], rule: str
) -> None:
    registry.register("g1", "login", json.dumps(LOGIN_V1))
    before = columns(warehouse, "g1", "login")

    with pytest.raises(IncompatibleSchema) as info:
        registry.register("g1", "login", json.dumps(v2))

    assert info.value.details["rule"] == rule
    assert info.value.status == 409
    assert [v.version for v in registry.versions("g1", "login")] == [1]
    assert [s.version for s in registry.catalog.schemas("g1")] == [1]
    assert columns(warehouse, "g1", "login") == before
    with pytest.raises(UnknownSchema):
        registry.lookup("g1", fp(v2), fresh=True)


def test_unknown_game_is_not_found(registry: Registry, warehouse: DuckDBWarehouse) -> None:
    with pytest.raises(NotFound, match="no game 'g9'"):
        registry.register("g9", "login", json.dumps(LOGIN_V1))
    assert columns(warehouse, "g9", "login") == []


@pytest.mark.parametrize(
    ("game", "event_type", "what"),
    [
        ("G1", "login", "game"),
        ("g1", "Login", "event_type"),
        ("g1", "1login", "event_type"),
        ("g1", 'login"; DROP TABLE x; --', "event_type"),
        ("g-1", "login", "game"),
        ("g1", "l" * 64, "event_type"),
    ],
)
def test_invalid_names_are_bad_requests(
    registry: Registry, game: str, event_type: str, what: str
) -> None:
    with pytest.raises(BadRequest, match=f"invalid {what}") as info:
        registry.register(game, event_type, json.dumps(LOGIN_V1))
    assert info.value.details == {"field": what}


@pytest.mark.parametrize(
    "schema_json",
    ["not json", '"string"', json.dumps(record(field("a b", "int")))],
)
def test_invalid_schemas_are_bad_requests(registry: Registry, schema_json: str) -> None:
    with pytest.raises(BadRequest):
        registry.register("g1", "login", schema_json)
    with pytest.raises(NotFound):
        registry.versions("g1", "login")


def test_one_record_schema_under_two_event_types_is_a_conflict(
    registry: Registry, warehouse: DuckDBWarehouse
) -> None:
    registry.register("g1", "login", json.dumps(LOGIN_V1))
    with pytest.raises(Conflict, match=r"already registered as g1\.login") as info:
        registry.register("g1", "logout", json.dumps(LOGIN_V1))
    assert not isinstance(info.value, IncompatibleSchema)
    assert info.value.details == {"fingerprint": fp(LOGIN_V1)}
    assert columns(warehouse, "g1", "logout") == []
    # Another game may use the same record.
    registry.catalog.add_game("g2")
    assert registry.register("g2", "logout", json.dumps(LOGIN_V1))[0].version == 1


# --- lookups ----------------------------------------------------------------------------


def test_lookup_by_fingerprint_is_per_game(registry: Registry) -> None:
    version, _ = registry.register("g1", "login", json.dumps(LOGIN_V1))
    registry.catalog.add_game("g2")
    assert registry.lookup("g1", fp(LOGIN_V1)) == version
    with pytest.raises(UnknownSchema) as info:
        registry.lookup("g2", fp(LOGIN_V1), fresh=True)
    assert info.value.details == {"fingerprint": fp(LOGIN_V1)}


def test_a_hash_registered_by_two_games_is_found_as_each_games_own(registry: Registry) -> None:
    """Two games may register the same schema: asked with a game's key, the hash is
    that game's version (it was another game's, so the owner got 403)."""
    registry.catalog.add_game("g2")
    first, _ = registry.register("g1", "login", json.dumps(LOGIN_V1))
    second, _ = registry.register("g2", "login", json.dumps(LOGIN_V1))
    assert registry.by_fingerprint(fp(LOGIN_V1), "g2") == second
    assert registry.by_fingerprint(fp(LOGIN_V1), "g1") == first
    assert registry.by_fingerprint(fp(LOGIN_V1)).game in ("g1", "g2")  # the admin's
    registry.catalog.add_game("g3")
    assert registry.by_fingerprint(fp(LOGIN_V1), "g3").game != "g3"  # the caller: 403


def test_unknown_fingerprint_raises_unknown_schema(registry: Registry) -> None:
    with pytest.raises(UnknownSchema, match="schema 0123456789abcdef is not registered"):
        registry.lookup("g1", "0123456789abcdef", fresh=True)


def test_a_second_registry_sees_a_schema_registered_by_the_first(
    registry: Registry, catalog_path: Path
) -> None:
    other_catalog = Catalog(catalog_path)  # another process, its own connection
    other = Registry(other_catalog, None, reload_interval_s=3600)
    try:
        version, _ = registry.register("g1", "login", json.dumps(LOGIN_V1))
        with pytest.raises(UnknownSchema):  # its index is stale and the interval long
            other.lookup("g1", version.fingerprint)
        assert other.lookup("g1", version.fingerprint, fresh=True) == version
        assert other.lookup("g1", version.fingerprint) == version  # now cached
    finally:
        other_catalog.close()


def test_string_to_bytes_is_refused_because_no_column_can_follow(tmp_path: Path) -> None:
    from playlog.errors import IncompatibleSchema
    from playlog.settings import Settings
    from playlog.wiring import Services

    services = Services.open(Settings.read(data_dir=tmp_path))
    try:
        services.catalog.add_game("g")
        v1 = {"type": "record", "name": "e", "fields": [{"name": "note", "type": "string"}]}
        services.registry.register("g", "e", json.dumps(v1))
        v2 = {"type": "record", "name": "e", "fields": [{"name": "note", "type": "bytes"}]}
        with pytest.raises(IncompatibleSchema) as raised:
            services.registry.register("g", "e", json.dumps(v2))
        assert raised.value.details == {
            "field": "note",
            "rule": "string_bytes_change",
            "version": 1,
        }
        assert [s.version for s in services.registry.versions("g", "e")] == [1]
    finally:
        services.close()


@pytest.mark.parametrize(
    "game",
    ["playlog", "public", "information_schema", "main", "temp", "system", "pg_catalog", "pg_x"],
)
def test_a_game_named_like_a_warehouse_schema_is_refused(tmp_path: Path, game: str) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    with pytest.raises(ReservedName, match="reserved") as caught:
        catalog.add_game(game)
    assert caught.value.status == 400
    assert catalog.games() == []
    assert catalog.add_game("playlog_canary")  # a prefix alone is no schema of anyone's


MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
MICROS = {"type": "long", "logicalType": "timestamp-micros"}


def test_a_logical_type_change_under_the_same_hash_is_refused_not_ignored(
    registry: Registry, warehouse: DuckDBWarehouse
) -> None:
    """The hash ignores logical types: millis -> micros has the same fingerprint, yet
    answering "already registered" would store every new event 1000x off."""
    v1 = record(field("player", "string"), field("ts", MILLIS))
    v2 = record(field("player", "string"), field("ts", MICROS))
    assert fp(v1) == fp(v2)
    registry.register("g1", "login", json.dumps(v1))
    before = columns(warehouse, "g1", "login")

    with pytest.raises(IncompatibleSchema) as info:
        registry.register("g1", "login", json.dumps(v2))

    assert (info.value.details["field"], info.value.details["rule"]) == (
        "ts",
        "logical_type_change",
    )
    assert [s.version for s in registry.catalog.schemas("g1")] == [1]
    assert registry.latest("g1", "login").raw["fields"][1]["type"] == MILLIS
    assert columns(warehouse, "g1", "login") == before


def _three_versions(registry: Registry, first: Any, third: dict[str, Any]) -> None:
    registry.register("g1", "login", json.dumps(record(field("player", "string"), first)))
    registry.register("g1", "login", json.dumps(record(field("player", "string"))))
    registry.register("g1", "login", json.dumps(record(field("player", "string"), third)))


@pytest.mark.parametrize(
    ("first", "third", "rule"),
    [
        # dropped in v2, re-added in v3 with another type: the column keeps the old one
        (field("a", "int"), field("a", "string", default=""), "type_change"),
        (field("a", "long"), field("a", "int", default=0), "type_change"),
        (field("ts", MILLIS), field("ts", MICROS, default=0), "logical_type_change"),
        # another case of the same name: another Avro field, but the same column
        (field("a", "int"), field("A", "string", default=""), "column_type_conflict"),
    ],
)
def test_a_readded_field_must_fit_the_column_an_older_version_made(
    registry: Registry, warehouse: DuckDBWarehouse, first: Any, third: Any, rule: str
) -> None:
    with pytest.raises(IncompatibleSchema) as info:
        _three_versions(registry, first, third)

    assert info.value.details["rule"] == rule
    assert info.value.details["field"] in (first["name"], third["name"])
    assert [s.version for s in registry.catalog.schemas("g1")] == [1, 2]
    assert columns(warehouse, "g1", "login")[1][0] == first["name"].lower()


def test_a_readded_field_may_widen_along_a_promotion(
    registry: Registry, warehouse: DuckDBWarehouse
) -> None:
    _three_versions(registry, field("a", "int"), field("a", "long", default=0))
    assert ("a", "BIGINT") in columns(warehouse, "g1", "login")


def test_a_container_header_with_other_logical_types_names_no_registered_writer(
    registry: Registry,
) -> None:
    v1 = record(field("player", "string"), field("ts", MILLIS))
    registered, _ = registry.register("g1", "login", json.dumps(v1))
    assert registry.writer_of("g1", json.dumps(v1, indent=1)) == registered
    header = json.dumps(record(field("player", "string"), field("ts", MICROS)))

    with pytest.raises(InvalidPayload, match="other logical types") as info:
        registry.writer_of("g1", header)

    assert info.value.status == 422
    with pytest.raises(UnknownSchema):
        registry.writer_of("g1", json.dumps(record(field("other", "int"))))


JAVA_STRING = {"type": "string", "avro.java.string": "String"}


def test_a_header_spelling_its_types_as_java_generated_code_does_is_the_registered_writer(
    registry: Registry,
) -> None:
    """Avro Java's generated code embeds "avro.java.string" on every string (and map):
    properties outside the fingerprint, and no logical type, wherever they sit. Sent
    in a header or registered, it is the version already registered."""
    array, union = {"type": "array", "items": "string"}, ["null", "string", MILLIS]
    v1 = record(field("a", array), field("u", union), field("n", "long"))
    registered, _ = registry.register("g1", "login", json.dumps(v1))
    items = {**array, "items": JAVA_STRING}
    java = ["null", JAVA_STRING, MILLIS]
    header = record(field("a", items), field("u", java), field("n", {"type": "long"}))

    assert registry.writer_of("g1", json.dumps(header)) == registered
    assert registry.register("g1", "login", json.dumps(header)) == (registered, False)
    # the same hash, the logical type gone or moved to another long: not this writer
    gone = ["null", JAVA_STRING, {"type": "long"}]
    for u, n in ((gone, "long"), (["null", "string", "long"], MILLIS)):
        header = record(field("a", items), field("u", u), field("n", n))
        with pytest.raises(InvalidPayload, match="other logical types"):
            registry.writer_of("g1", json.dumps(header))


def test_a_registration_failing_midway_adds_no_column(
    registry: Registry, warehouse: DuckDBWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All DDL of a version is one transaction: a failure after the first ALTER leaves
    the table as it was, and the catalog without the version."""
    from playlog.warehouse import sql as sqltext

    registry.register("g1", "login", json.dumps(LOGIN_V1))
    before = columns(warehouse, "g1", "login")
    real = sqltext.add_column_sql

    def second_fails(table: str, column: Column, types: Any) -> str:
        return (
            "ALTER TABLE nowhere.at_all ADD COLUMN x INT"
            if column.name == "b"
            else real(table, column, types)
        )

    monkeypatch.setattr(sqltext, "add_column_sql", second_fails)
    v2 = record(*LOGIN_V1["fields"], field("a", "int", default=1), field("b", "int", default=2))
    with pytest.raises(PlaylogError):
        registry.register("g1", "login", json.dumps(v2))

    assert columns(warehouse, "g1", "login") == before
    assert [s.version for s in registry.catalog.schemas("g1")] == [1]


def test_on_start_every_table_is_brought_up_to_its_latest_version(
    registry: Registry, warehouse: DuckDBWarehouse, catalog: Catalog
) -> None:
    """Catalog and warehouse converge after a crash or a restored warehouse: a process
    that opens them re-applies each event type's DDL (idempotently)."""
    registry.register("g1", "login", json.dumps(LOGIN_V1))
    v2 = record(*LOGIN_V1["fields"], field("level", "int", default=7))
    registry.register("g1", "login", json.dumps(v2))
    expected = columns(warehouse, "g1", "login")
    warehouse._run(lambda conn: conn.execute("DROP TABLE g1.login"))

    Registry(catalog, warehouse).converge()

    # a re-created table has the metadata columns last: the same columns and types
    assert sorted(columns(warehouse, "g1", "login")) == sorted(expected)
    Registry(catalog, warehouse).converge()  # idempotent
    assert sorted(columns(warehouse, "g1", "login")) == sorted(expected)


def test_a_column_the_warehouse_holds_with_another_type_is_refused(
    registry: Registry, warehouse: DuckDBWarehouse
) -> None:
    """The warehouse's own columns count, not only the catalog's versions: a column
    left by a crash between DDL and catalog (or made by hand) keeps its type."""
    registry.register("g1", "login", json.dumps(LOGIN_V1))
    warehouse._run(lambda conn: conn.execute('ALTER TABLE g1.login ADD COLUMN "clan" VARCHAR'))
    before = columns(warehouse, "g1", "login")
    v2 = record(*LOGIN_V1["fields"], field("Clan", "int", default=0))

    with pytest.raises(IncompatibleSchema) as info:
        registry.register("g1", "login", json.dumps(v2))

    assert info.value.details == {"field": "Clan", "rule": "column_type_conflict"}
    assert "VARCHAR" in info.value.message
    assert columns(warehouse, "g1", "login") == before
    assert [s.version for s in registry.catalog.schemas("g1")] == [1]
    # a type the column can hold still registers
    v2_text = record(*LOGIN_V1["fields"], field("clan", ["null", "string"], default=None))
    assert registry.register("g1", "login", json.dumps(v2_text))[0].version == 2


def test_a_table_that_no_longer_fits_its_schema_does_not_stop_a_start(
    registry: Registry, warehouse: DuckDBWarehouse, catalog: Catalog
) -> None:
    """Converging on start meets a column changed by hand: logged, and the start goes on."""
    registry.register("g1", "login", json.dumps(LOGIN_V1))
    warehouse._run(lambda conn: conn.execute("ALTER TABLE g1.login DROP COLUMN score"))
    warehouse._run(lambda conn: conn.execute('ALTER TABLE g1.login ADD COLUMN "score" BLOB'))

    Registry(catalog, warehouse).converge()  # no exception

    assert ("score", "BLOB") in columns(warehouse, "g1", "login")
