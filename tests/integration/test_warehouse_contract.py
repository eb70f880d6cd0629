"""One contract, every warehouse: DuckDB (file + local store), PostgreSQL (real server
+ S3 store on moto) and Redshift (its SQL, against a connection that records statements:
no cluster exists here) must behave the same for DDL, loads, the ledger, queries and
health. Where the Redshift fake cannot run SQL, the case asserts the SQL it issues."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import psycopg
import pyarrow as pa
import pytest
from psycopg import errors as pg_errors

from playlog.avro.types import Column, columns_of
from playlog.contracts import CopyTask, FailedEvent, OffsetRange
from playlog.errors import (
    BadRequest,
    IncompatibleSchema,
    QueryTimeout,
    ResultTooLarge,
    WarehouseConflict,
    WarehouseError,
    WarehouseUnavailable,
)
from playlog.storage.base import ObjectStore
from playlog.storage.local import LocalStore
from playlog.storage.s3 import S3Store
from playlog.warehouse import sqlbase
from playlog.warehouse.base import QueryLimits, Warehouse
from playlog.warehouse.duckdb import DuckDBWarehouse
from playlog.warehouse.postgres import PostgresWarehouse
from playlog.warehouse.redshift import RedshiftWarehouse
from playlog.warehouse.sqlcheck import single_select
from playlog.warehouse.types import RedshiftTypes
from tests.support.avro_types import CASES, PROMOTIONS, TypeCase
from tests.support.batch_files import put_batch_file
from tests.support.fakes import MemoryStore, RecordingConnection

UTC = dt.UTC
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HASH = "0123456789abcdef"

# information_schema.columns.data_type, per dialect, of the types used below.
SQL_TYPES = {
    "duckdb": {
        "int": "INTEGER",
        "long": "BIGINT",
        "float": "FLOAT",
        "double": "DOUBLE",
        "string": "VARCHAR",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
    },
    "postgres": {
        "int": "integer",
        "long": "bigint",
        "float": "real",
        "double": "double precision",
        "string": "text",
        "timestamp": "timestamp with time zone",
    },
}
METADATA = [("_event_id", "long"), ("_received_at", "timestamp"), ("_schema_hash", "string")]


@dataclass
class Backend:
    name: str
    warehouse: Warehouse
    store: ObjectStore
    game: str
    fake: RecordingConnection | None = None  # Redshift: what it was asked to run
    dsn: str | None = None  # PostgreSQL: an admin's

    def issued(self, prefix: str) -> list[str]:
        assert self.fake is not None
        return [s for s in self.fake.statements if s.startswith(prefix)]

    def columns(self, event_type: str) -> list[tuple[str, str]]:
        result = self.warehouse.query(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{self.game}' and table_name = '{event_type}' "
            "order by ordinal_position"
        )
        return [(str(name), str(kind)) for name, kind in result.rows]

    def expected(
        self, *columns: tuple[str, str], added: tuple[tuple[str, str], ...] = ()
    ) -> list[tuple[str, str]]:
        """The table's columns: fields, metadata, then columns added by ALTER TABLE."""
        every = (*columns, *METADATA, *added)
        return [(name, SQL_TYPES[self.name][kind]) for name, kind in every]

    def rows(self, event_type: str, columns: str) -> list[tuple[Any, ...]]:
        sql = f"select {columns} from {self.game}.{event_type} order by _event_id"
        rows: list[tuple[Any, ...]] = self.warehouse.query(sql).rows
        return rows

    def count(self, event_type: str) -> int:
        return int(
            self.warehouse.query(f"select count(*) from {self.game}.{event_type}").rows[0][0]
        )

    def task(self, event_type: str, data: dict[str, pa.Array], first: int) -> CopyTask:
        """A Parquet batch file with the metadata columns, stored, and its COPY task."""
        n = len(next(iter(data.values())))
        table = pa.table(
            {
                **data,
                "_event_id": pa.array(range(first, first + n), pa.int64()),
                "_received_at": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
                "_schema_hash": pa.array([HASH] * n, pa.string()),
            }
        )
        key = f"{self.game}/{event_type}/dt=2024-05-01/playlog.events-0-{first}-{first + n}.parquet"
        return put_batch_file(
            self.store, key, table, OffsetRange("playlog.events", 0, first, first + n)
        )


def _backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    game = f"g_{uuid.uuid4().hex[:10]}"
    if name == "duckdb":
        local = LocalStore(tmp_path / "objects")
        return Backend(name, DuckDBWarehouse(tmp_path / "warehouse.duckdb", local), local, game)
    if name == "redshift":
        conn, memory = RecordingConnection(), MemoryStore()
        redshift = RedshiftWarehouse(
            lambda: cast(Any, conn), memory, iam_role="arn:aws:iam::1:role/r"
        )
        return Backend(name, redshift, memory, game, conn)
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = S3Store(f"pl-{uuid.uuid4().hex[:12]}", "", endpoint, "us-east-1", "testing", "testing")
    warehouse = PostgresWarehouse(request.getfixturevalue("postgres_dsn"), s3)
    return Backend(name, warehouse, s3, game, dsn=request.getfixturevalue("postgres_dsn"))


@pytest.fixture(params=["duckdb", "postgres", "redshift"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = _backend(request.param, request, tmp_path)
    yield made
    made.warehouse.close()


@pytest.fixture
def pg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = _backend("postgres", request, tmp_path)
    yield made
    made.warehouse.close()


def col(name: str, kind: str, **extra: Any) -> Column:
    return Column(name, name, kind, **extra)


V1 = [col("player", "string"), col("level", "int", default=1), col("score", "float")]


# DDL ------------------------------------------------------------------------------------


def test_ensure_table_creates_exact_columns(backend: Backend) -> None:
    backend.warehouse.ensure_table(backend.game, "login", V1)
    backend.warehouse.ensure_table(backend.game, "login", V1)  # idempotent
    if backend.fake is not None:
        creates = backend.issued(f'CREATE TABLE IF NOT EXISTS "{backend.game}"."login"')
        assert len(creates) == 2 and '"level" INTEGER DEFAULT 1' in creates[0]
        assert '"_schema_hash" VARCHAR(16) NOT NULL' in creates[0]
        assert not backend.issued("ALTER")
        return
    assert backend.columns("login") == backend.expected(
        ("player", "string"), ("level", "int"), ("score", "float")
    )
    assert backend.count("login") == 0


def test_added_column_reads_as_its_default(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    v1_data = {"player": pa.array(["ann"]), "level": pa.array([3], pa.int32())}
    old = backend.task("login", {**v1_data, "score": pa.array([1.5], pa.float32())}, 0)
    assert wh.load([old]) == [old.task_id]

    v2 = [*V1, col("region", "string", default="eu"), col("lives", "long", default=None)]
    if backend.fake is not None:
        v1_columns = [(c.name, RedshiftTypes().sql_type(c).lower()) for c in V1]
        backend.fake.answers = {"SELECT column_name": v1_columns}
    wh.ensure_table(backend.game, "login", v2)
    if backend.fake is not None:
        table = f'"{backend.game}"."login"'
        assert backend.issued("ALTER") == [
            f"ALTER TABLE {table} ADD COLUMN \"region\" VARCHAR(65535) DEFAULT 'eu'",
            f'ALTER TABLE {table} ADD COLUMN "lives" BIGINT',
        ]
        late = backend.task("login", {"player": pa.array(["bob"])}, 10)
        assert wh.load([late]) == [late.task_id]
        assert backend.issued("COPY")[-1].startswith(
            f'COPY {table} ("player", "_event_id", "_received_at", "_schema_hash") FROM'
        )
        return
    assert backend.columns("login") == backend.expected(
        ("player", "string"),
        ("level", "int"),
        ("score", "float"),
        added=(("region", "string"), ("lives", "long")),
    )
    # A file written before the ALTER (no region, no lives, no score) still loads.
    late = backend.task("login", {"player": pa.array(["bob"])}, 10)
    new = backend.task(
        "login",
        {
            "player": pa.array(["cy"]),
            "level": pa.array([7], pa.int32()),
            "score": pa.array([None], pa.float32()),
            "region": pa.array(["us"]),
            "lives": pa.array([9], pa.int64()),
        },
        20,
    )
    assert set(wh.load([late, new])) == {late.task_id, new.task_id}
    assert backend.rows("login", "player, level, score, region, lives") == [
        ("ann", 3, 1.5, "eu", None),
        ("bob", 1, None, "eu", None),
        ("cy", 7, None, "us", 9),
    ]


def test_promoted_types_widen_the_columns(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "score", [col("level", "int"), col("points", "float")])
    data = {"level": pa.array([2], pa.int32()), "points": pa.array([0.5], pa.float32())}
    wh.load([backend.task("score", data, 0)])
    if backend.fake is not None:
        backend.fake.answers = {"SELECT column_name": [("level", "integer"), ("points", "real")]}
    wh.ensure_table(backend.game, "score", [col("level", "long"), col("points", "double")])
    if backend.fake is not None:
        widen = backend.issued('ALTER TABLE "') + backend.issued("UPDATE")
        assert len(widen) == 8 and 'ADD COLUMN "level__playlog_widen" BIGINT' in widen[0]
        return
    assert backend.columns("score") == backend.expected(("level", "long"), ("points", "double"))
    big = {"level": pa.array([2**40], pa.int64()), "points": pa.array([0.1], pa.float64())}
    wh.load([backend.task("score", big, 1)])
    # An int file written before the widening still loads into the BIGINT column.
    wh.load([backend.task("score", data, 2)])
    assert backend.rows("score", "level, points") == [(2, 0.5), (2**40, 0.1), (2, 0.5)]


ARROW = {"int": pa.int32(), "long": pa.int64(), "float": pa.float32(), "double": pa.float64()}


# A value of each kind that the promoted type holds only approximately (Avro's long ->
# float loses precision by design): the cast must not refuse it.
INEXACT = {"int": 2**24 + 1, "long": 2**60 + 1, "float": 0.1}


@pytest.mark.parametrize(("old", "new"), PROMOTIONS, ids=lambda k: str(k))
def test_files_of_both_versions_load_in_one_batch_after_a_promotion(
    backend: Backend, old: str, new: str
) -> None:
    """Files written before a widening (their Parquet type is the old one) and after it,
    in ONE load: each file is cast to the table's current type before they combine."""
    wh = backend.warehouse
    wh.ensure_table(backend.game, "score", [col("player", "string"), col("n", old)])

    def file(player: str, kind: str, value: Any, first: int) -> CopyTask:
        data = {"player": pa.array([player]), "n": pa.array([value], ARROW[kind])}
        return backend.task("score", data, first)

    before = file("a", old, 7, 0)
    assert wh.load([before]) == [before.task_id]
    in_flight = file("b", old, INEXACT[old], 1)
    if backend.fake is not None:
        old_sql = SQL_TYPES["postgres"][old]
        backend.fake.answers = {"SELECT column_name": [("player", "text"), ("n", old_sql)]}
    wh.ensure_table(backend.game, "score", [col("player", "string"), col("n", new)])
    after, late = file("c", new, 9, 2), file("d", old, 10, 3)
    loaded = wh.load([in_flight, after, late])
    assert sorted(loaded) == sorted([in_flight.task_id, after.task_id, late.task_id])
    if backend.fake is not None:  # Redshift's COPY reads the files itself
        assert len(backend.issued("COPY")) == 2
        return
    assert dict(backend.columns("score"))["n"] == SQL_TYPES[backend.name][new]
    inexact = pa.array([INEXACT[old]], ARROW[old]).cast(ARROW[new], safe=False).to_pylist()[0]
    b = pytest.approx(inexact, rel=1e-6)  # PostgreSQL's text form of a real rounds it
    assert backend.rows("score", "player, n") == [("a", 7), ("b", b), ("c", 9), ("d", 10)]


def test_a_decimal_widens_to_more_digits_and_files_of_both_widths_load(backend: Backend) -> None:
    """A version widening a decimal's precision at the same scale: the column widens,
    and a file written before (DECIMAL(9,2) in Parquet) loads with one written after."""
    wh = backend.warehouse
    wh.ensure_table(backend.game, "price", [col("p", "decimal", precision=9, scale=2)])
    narrow = pa.array([Decimal("-9999999.99")], pa.decimal128(9, 2))
    before = backend.task("price", {"p": narrow}, 0)
    if backend.fake is not None:
        backend.fake.answers = {"SELECT column_name": [("p", "decimal(9,2)")]}
    wh.ensure_table(backend.game, "price", [col("p", "decimal", precision=12, scale=2)])
    if backend.fake is not None:
        widen = backend.issued('ALTER TABLE "')
        assert 'ADD COLUMN "p__playlog_widen" DECIMAL(12,2)' in widen[0]
        return
    wide = pa.array([Decimal("1234567890.12")], pa.decimal128(12, 2))
    after = backend.task("price", {"p": wide}, 1)
    wh.load([before, after])
    assert backend.rows("price", "p") == [(Decimal("-9999999.99"),), (Decimal("1234567890.12"),)]
    # the same scale and fewer digits is no change; another scale cannot go there
    wh.ensure_table(backend.game, "price", [col("p", "decimal", precision=10, scale=2)])
    with pytest.raises(IncompatibleSchema) as refused:
        wh.ensure_table(backend.game, "price", [col("p", "decimal", precision=12, scale=3)])
    assert refused.value.details == {"field": "p", "rule": "column_type_conflict"}


# loading --------------------------------------------------------------------------------

EVERY_KIND = [
    col("flag", "boolean"),
    col("n", "int"),
    col("big", "long"),
    col("f", "float"),
    col("d", "double"),
    col("s", "string"),
    col("b", "bytes"),
    col("day", "date"),
    col("tod", "time"),
    col("ts", "timestamp"),
    col("local", "local_timestamp"),
    col("doc", "json"),
    col("price", "decimal", precision=12, scale=3),
]


def test_load_inserts_exact_rows_of_every_kind(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "kinds", EVERY_KIND)
    wh.ensure_table(backend.game, "other", [col("x", "long")])
    values: list[list[Any]] = [
        [True, False, None],
        [-(2**31), 2**31 - 1, None],
        [-(2**63), 2**63 - 1, None],
        [1.5, -0.25, None],
        [0.1, 1e300, None],
        ['é, "quoted"\nline', "", None],
        [b"\x00\xff", b"", None],
        [dt.date(1970, 1, 1), dt.date(1999, 12, 31), None],
        [dt.time(0, 0), dt.time(23, 59, 59, 999_999), None],
        [T0, dt.datetime(1969, 7, 20, 20, 17, 40, 5, tzinfo=UTC), None],
        [dt.datetime(2000, 1, 1), dt.datetime(2038, 1, 19, 3, 14, 8), None],
        ['{"a":[1,2]}', "null", None],
        [Decimal("123456789.125"), Decimal("-0.001"), None],
    ]
    data = {c.name: pa.array(v, c.arrow_type) for c, v in zip(EVERY_KIND, values, strict=True)}
    first = backend.task("kinds", {k: a.slice(0, 2) for k, a in data.items()}, 0)
    second = backend.task("kinds", {k: a.slice(2) for k, a in data.items()}, 2)
    other = backend.task("other", {"x": pa.array([5], pa.int64())}, 0)
    loaded = wh.load([second, other, first])
    assert sorted(loaded) == sorted([first.task_id, second.task_id, other.task_id])
    if backend.fake is not None:  # one COPY per table, tables in sorted order
        copies = backend.issued("COPY")
        assert [c.split(" (")[0] for c in copies] == [
            f'COPY "{backend.game}"."kinds"',
            f'COPY "{backend.game}"."other"',
        ]
        assert backend.fake.statements[-1] == "COMMIT"
        return

    names = ", ".join(c.name for c in EVERY_KIND)
    got = backend.rows("kinds", f"{names}, _event_id, _received_at, _schema_hash")
    expected = [(*(v[i] for v in values), i, T0, HASH) for i in range(3)]
    assert [
        tuple(bytes(v) if isinstance(v, bytearray | memoryview) else v for v in row) for row in got
    ] == expected
    assert backend.rows("other", "x") == [(5,)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_avro_type_loads_exactly_into_its_documented_column(
    backend: Backend, case: TypeCase
) -> None:
    """The README's type table, row by row: the batch file the processor writes for
    the case loads into the column type documented for the warehouse, value for value
    (Redshift: the CREATE TABLE it issues)."""
    wh = backend.warehouse
    columns = columns_of(case.schema)
    wh.ensure_table(backend.game, case.name, columns)
    (column,) = columns
    task = backend.task(case.name, {"v": pa.array(case.file, column.arrow_type)}, 0)
    assert wh.load([task]) == [task.task_id]
    if backend.fake is not None:
        (create,) = backend.issued(f'CREATE TABLE IF NOT EXISTS "{backend.game}"."{case.name}"')
        assert f'"v" {case.sql[2]},' in create
        return
    wh.ensure_table(backend.game, case.name, columns)  # registering again changes nothing
    got = [row[0] for row in backend.rows(case.name, case.select.get(backend.name, "v"))]
    assert [bytes(v) if isinstance(v, memoryview) else v for v in got] == case.expected(
        backend.name
    )


def test_a_uuid_column_added_with_a_default_reads_it_for_older_rows(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", [col("player", "string")])
    old = backend.task("login", {"player": pa.array(["ann"])}, 0)
    assert wh.load([old]) == [old.task_id]
    default = "9B2C1C4E-7A5D-4F3E-8C1A-0123456789AB"
    if backend.fake is not None:
        backend.fake.answers = {"SELECT column_name": [("player", "character varying")]}
    wh.ensure_table(
        backend.game, "login", [col("player", "string"), col("id", "uuid", default=default)]
    )
    if backend.fake is not None:
        (alter,) = backend.issued("ALTER")
        assert alter.endswith(
            "ADD COLUMN \"id\" CHAR(36) DEFAULT '9b2c1c4e-7a5d-4f3e-8c1a-0123456789ab'"
        )
        return
    assert backend.rows("login", "player, id") == [("ann", uuid.UUID(default))]


def test_drop_game_drops_every_table_of_that_game_only(backend: Backend) -> None:
    wh, other = backend.warehouse, f"{backend.game}_other"
    for game, event_type in ((backend.game, "login"), (backend.game, "kill"), (other, "login")):
        wh.ensure_table(game, event_type, V1)
    wh.load([backend.task("login", {"player": pa.array(["p"] * 2)}, 0)])
    wh.drop_game(backend.game)
    wh.drop_game(backend.game)  # idempotent
    if backend.fake is not None:
        drops = backend.issued("DROP SCHEMA")
        assert drops == [f'DROP SCHEMA IF EXISTS "{backend.game}" CASCADE'] * 2
        return
    left = "select table_schema from information_schema.tables where table_schema like 'g_%'"
    schemas = {row[0] for row in wh.query(left).rows}
    assert backend.game not in schemas and other in schemas
    wh.ensure_table(backend.game, "login", V1)  # the name is free for a new game
    assert backend.count("login") == 0
    wh.drop_game(other)


def test_loading_the_same_tasks_again_inserts_nothing(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    tasks = [backend.task("login", {"player": pa.array(["p"] * 3)}, i * 10) for i in range(3)]
    assert set(wh.load(tasks[:2])) == {tasks[0].task_id, tasks[1].task_id}
    # Redelivered with one new task: only the new one loads.
    assert wh.load(tasks) == [tasks[2].task_id]
    assert wh.load(tasks) == []
    if backend.fake is not None:
        assert len(backend.issued("COPY")) == 2  # one per load that had something new
        return
    assert backend.count("login") == 9


def test_a_task_twice_in_one_call_loads_once(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    task = backend.task("login", {"player": pa.array(["p"])}, 0)
    assert wh.load([task, task]) == [task.task_id]
    if backend.fake is not None:
        assert len(backend.issued("COPY")) == 1
        assert backend.fake.params[-2] == (task.task_id, task.table, task.key, task.rows)
        return
    assert backend.count("login") == 1


def test_a_bad_file_fails_the_whole_transaction(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    wh.ensure_table(backend.game, "other", [col("x", "long")])
    good = backend.task("login", {"player": pa.array(["ok"])}, 0)
    other = backend.task("other", {"x": pa.array([1], pa.int64())}, 0)
    bad = backend.task("login", {"level": pa.array(["not a number"])}, 100)
    if backend.fake is not None:  # Redshift reads the file itself: its COPY fails
        failure = pg_errors.InternalError_("Load into table 'login' failed.")
        backend.fake.fail = ('"level", "_event_id"', failure)
    with pytest.raises(WarehouseError) as info:
        wh.load([good, other, bad])
    assert type(info.value) is WarehouseError
    if backend.fake is not None:
        assert "COMMIT" not in backend.fake.statements
        assert not backend.issued("INSERT")
        backend.fake.fail = None
        assert set(wh.load([good, other])) == {good.task_id, other.task_id}
        return
    assert backend.count("login") == 0
    assert backend.count("other") == 0
    # Nothing reached the ledger either: the good tasks load on their own.
    assert set(wh.load([good, other])) == {good.task_id, other.task_id}


# queries and health ---------------------------------------------------------------------


def test_query_returns_rows_and_says_when_truncated(backend: Backend) -> None:
    if backend.fake is not None:
        backend.fake.answers = {"select 1 as one": [(1, ";")], "select 1 as n": [(1,), (2,), (3,)]}
    result = backend.warehouse.query("select 1 as one, ';' as semi;  -- done")
    names = ["c0", "c1"] if backend.fake is not None else ["one", "semi"]
    assert (result.columns, result.rows, result.truncated) == (names, [(1, ";")], False)
    if backend.fake is not None:
        assert backend.fake.statements[-3:] == [
            "BEGIN READ ONLY",
            "select 1 as one, ';' as semi",
            "ROLLBACK",
        ]
    three = "select 1 as n union all select 2 union all select 3 order by n"
    result = backend.warehouse.query(three, QueryLimits(max_rows=2))
    assert (result.rows, result.truncated) == ([(1,), (2,)], True)


SLOW = {
    "duckdb": "select count(*) from range(100000000000) a",
    "postgres": "select pg_sleep(30)",
}
HUGE = {
    "duckdb": "select repeat('x', 100000) from range(1000)",
    "postgres": "select repeat('x', 100000) from generate_series(1, 1000)",
}


@pytest.mark.parametrize("name", ["duckdb", "postgres"])
def test_a_query_past_its_time_limit_is_cancelled(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    backend = _backend(name, request, tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match=r"longer than 0.5 s") as info:
            backend.warehouse.query(SLOW[name], QueryLimits(timeout_s=0.5))
        assert info.value.status == 408
        assert time.monotonic() - started < 20  # cancelled, not run to its end
        assert backend.warehouse.query("select 41 + 1").rows == [(42,)]  # still usable
        backend.warehouse.check()
    finally:
        backend.warehouse.close()


@pytest.mark.parametrize("name", ["duckdb", "postgres"])
def test_a_result_over_the_byte_limit_is_refused_before_it_is_held(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    backend = _backend(name, request, tmp_path)
    try:
        with pytest.raises(ResultTooLarge, match="larger than 1048576 bytes") as info:
            backend.warehouse.query(HUGE[name], QueryLimits(max_bytes=1024 * 1024))
        assert info.value.status == 413
        small = backend.warehouse.query(HUGE[name], QueryLimits(max_rows=5))
        assert (len(small.rows), small.truncated) == (5, True)
    finally:
        backend.warehouse.close()


@pytest.mark.parametrize(
    "sql",
    [
        "drop table {t}",
        "select 1; select 2",
        "select 1; drop table {t}",
        "insert into {t} (player) values ('x')",
        "with x as (insert into {t} (player, _event_id, _received_at, _schema_hash) "
        "values ('x', 1, now(), 'h') returning *) select * from x",
        "",
    ],
)
def test_query_refuses_anything_but_one_select(backend: Backend, sql: str) -> None:
    backend.warehouse.ensure_table(backend.game, "login", V1)
    statement = sql.format(t=f"{backend.game}.login")
    if backend.fake is not None and statement.startswith("with"):
        # A data-modifying WITH passes the lexer check; the READ ONLY transaction
        # (rolled back in any case) is what refuses it on a real cluster.
        backend.warehouse.query(statement)
        assert backend.fake.statements[-3:] == ["BEGIN READ ONLY", statement, "ROLLBACK"]
        return
    before = len(backend.fake.statements) if backend.fake is not None else 0
    with pytest.raises(BadRequest):
        backend.warehouse.query(statement)
    if backend.fake is not None:
        assert len(backend.fake.statements) == before  # refused, never sent
        return
    assert backend.count("login") == 0


@pytest.mark.parametrize(
    "sql",
    [
        "select 'a;b' as x",
        "select $$a;b$$ as x",
        "/* ; */ select 'a;b' as x -- ;",
        "(select 'a;b' as x)",
        "with t as (select 'a;b' as x) select x from t;",
    ],
)
def test_semicolons_in_strings_and_comments_are_not_statements(backend: Backend, sql: str) -> None:
    if backend.fake is not None:
        backend.fake.answers = {single_select(sql): [("a;b",)]}
    assert backend.warehouse.query(sql).rows == [("a;b",)]
    if backend.fake is not None:
        sent = backend.fake.statements[-2]
        assert "a;b" in sent and sent in (sql, sql.removesuffix(";"))  # as given


def test_check_passes(backend: Backend) -> None:
    backend.warehouse.check()


def test_check_raises_only_unavailable_when_the_test_query_fails(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The health query failing for a reason that is not an outage (here: a missing
    # table) is still only WarehouseUnavailable: the loader's health loop waits on it.
    missing = "SELECT count(*) FROM playlog.no_such_table"
    monkeypatch.setattr(sqlbase, "_HEALTH_SQL", missing)
    if backend.fake is not None:
        backend.fake.fail = (missing, pg_errors.UndefinedTable("no_such_table"))
    with pytest.raises(WarehouseUnavailable) as info:
        backend.warehouse.check()
    assert not isinstance(info.value, WarehouseConflict)


def test_check_raises_unavailable_when_the_connection_is_broken(backend: Backend) -> None:
    if backend.fake is not None:
        backend.fake.fail = ("SELECT count(*)", pg_errors.ConnectionFailure("gone"))
    else:
        backend.warehouse.close()
    with pytest.raises(WarehouseUnavailable) as info:
        backend.warehouse.check()
    assert not isinstance(info.value, WarehouseConflict)
    if backend.fake is not None:
        assert backend.fake.closed  # may be broken: never reused


# PostgreSQL only -------------------------------------------------------------------------


def test_session_settings_come_from_the_settings(postgres_dsn: str) -> None:
    from pydantic import SecretStr

    from playlog.settings import WarehouseSettings

    settings = WarehouseSettings(
        kind="postgres", dsn=SecretStr(postgres_dsn), statement_timeout_s=12, lock_timeout_s=7
    )
    wh = PostgresWarehouse.from_settings(settings, None)
    try:
        sql = "select current_setting('statement_timeout'), current_setting('lock_timeout')"
        assert wh.query(sql).rows == [("12s", "7s")]
    finally:
        wh.close()


def test_check_fails_fast_when_nothing_listens(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    dsn = f"host=127.0.0.1 port={port} dbname=x user=x"
    wh = PostgresWarehouse(dsn, LocalStore(tmp_path), connect_timeout_s=2)
    with pytest.raises(WarehouseUnavailable):
        wh.check()
    with pytest.raises(WarehouseUnavailable):
        wh.load([])
    assert time.monotonic() - started < 5
    wh.close()


def test_reconnects_after_the_server_drops_its_connections(pg: Backend, postgres_dsn: str) -> None:
    wh = pg.warehouse
    wh.ensure_table(pg.game, "login", V1)
    wh.check()
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        killed = admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where application_name = 'playlog' and datname = current_database() "
            "and pid <> pg_backend_pid()"
        ).fetchall()
    assert killed
    # Pooled connections are dead now; the next calls reconnect without an error.
    wh.check()
    task = pg.task("login", {"player": pa.array(["p"])}, 0)
    assert wh.load([task]) == [task.task_id]


def test_concurrent_loads_of_one_task_insert_it_once(pg: Backend) -> None:
    wh = pg.warehouse
    wh.ensure_table(pg.game, "login", V1)
    n = 200_000  # big enough that the two transactions overlap
    task = pg.task("login", {"player": pa.array(["p"] * n)}, 0)
    start = threading.Barrier(2)
    outcomes: list[Any] = []

    def load() -> None:
        start.wait()
        try:
            outcomes.append(wh.load([task]))
        except WarehouseConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    inserted = [o for o in outcomes if o == [task.task_id]]
    others = [o for o in outcomes if o != [task.task_id]]
    assert len(inserted) == 1, outcomes
    assert len(others) == 1 and (others[0] == [] or isinstance(others[0], WarehouseConflict))
    assert pg.count("login") == n


# faults that are not the data's: the load fails as WarehouseUnavailable (the loader
# pauses and retries it), never as WarehouseError (which dead-letters the task) -------


def _unavailable(wh: Warehouse, tasks: list[CopyTask], text: str) -> None:
    with pytest.raises(WarehouseUnavailable) as info:
        wh.load(tasks)
    assert not isinstance(info.value, WarehouseConflict)
    assert text in str(info.value)


def test_a_missing_batch_file_is_an_outage_and_loads_once_restored(backend: Backend) -> None:
    if backend.fake is not None:
        pytest.skip("Redshift's COPY reads S3 itself: the fake has no files")
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    good = backend.task("login", {"player": pa.array(["a"])}, 0)
    lost = backend.task("login", {"player": pa.array(["b", "c"])}, 10)
    data = backend.store.get(lost.key)
    backend.store.delete(lost.key)
    _unavailable(wh, [good, lost], "missing")
    backend.store.put(lost.key, data)
    assert sorted(wh.load([good, lost])) == sorted([good.task_id, lost.task_id])
    assert backend.count("login") == 3


def test_a_dropped_table_is_an_outage_until_registration_recreates_it(backend: Backend) -> None:
    """The loader cannot know a table's types and defaults; registering the schema
    again (idempotent) re-creates it, and the paused tasks then load."""
    if backend.fake is not None:
        pytest.skip("the fake cannot drop tables")
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    task = backend.task("login", {"player": pa.array(["a"])}, 0)
    if isinstance(wh, DuckDBWarehouse):
        wh._run(lambda conn: conn.execute(f'DROP TABLE "{backend.game}"."login"'))
    else:
        with psycopg.connect(backend_dsn(backend), autocommit=True) as admin:
            admin.execute(f'DROP TABLE "{backend.game}"."login"')
    _unavailable(wh, [task], "login")
    wh.ensure_table(backend.game, "login", V1)
    assert wh.load([task]) == [task.task_id]
    assert backend.count("login") == 1


def backend_dsn(backend: Backend) -> str:
    assert backend.dsn is not None
    return backend.dsn


def test_a_revoked_grant_is_an_outage_and_loads_once_granted_again(
    postgres_dsn: str, tmp_path: Path
) -> None:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    role, game = f"pl_{uuid.uuid4().hex[:10]}", f"g_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        dbname = conninfo_to_dict(postgres_dsn).get("dbname")
        admin.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO {role}')
        PostgresWarehouse(postgres_dsn).close()  # the ledger exists, owned by the admin
        admin.execute(f"GRANT USAGE, CREATE ON SCHEMA playlog TO {role}")
        admin.execute(f"GRANT SELECT, INSERT ON playlog.load_ledger TO {role}")
        store = LocalStore(tmp_path / "objects")
        wh = PostgresWarehouse(make_conninfo(postgres_dsn, user=role), store)
        try:
            backend = Backend("postgres", wh, store, game)
            wh.ensure_table(game, "login", V1)
            first = backend.task("login", {"player": pa.array(["a"])}, 0)
            assert wh.load([first]) == [first.task_id]
            admin.execute(f'REVOKE INSERT ON "{game}"."login" FROM {role}')
            tasks = [backend.task("login", {"player": pa.array(["b", "c"])}, i) for i in (10, 20)]
            _unavailable(wh, tasks, "permission denied")
            admin.execute(f'GRANT INSERT ON "{game}"."login" TO {role}')
            assert sorted(wh.load(tasks)) == sorted(t.task_id for t in tasks)
            assert wh.load([first, *tasks]) == []
            assert backend.count("login") == 5
        finally:
            wh.close()
            admin.execute(f'DROP SCHEMA IF EXISTS "{game}" CASCADE')
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


# failed events -----------------------------------------------------------------------------


def failure(source: str, reason: str = "Conversion Error: 1000 out of range") -> FailedEvent:
    return FailedEvent(
        1_714_564_800_000, "load", "g1", "login", "", reason, source, b"\x00payload\xff"
    )


def failed_rows(backend: Backend, prefix: str) -> list[tuple[Any, ...]]:
    rows = backend.warehouse.query(
        "select source, stage, reason, payload, failed_at, replayed_at is not null "
        f"from playlog.failed_events where source like '{prefix}%' order by source"
    ).rows
    return [(*r[:3], bytes(r[3]), *r[4:]) for r in rows]


def test_a_failed_event_is_recorded_once_per_source(backend: Backend) -> None:
    wh, a, b = backend.warehouse, f"{backend.game}/a", f"{backend.game}/b"
    # A dead letter delivered twice (once with another message) is one failed event.
    assert wh.record_failed([failure(a), failure(a, "another try"), failure(b)]) == [a, b]
    if backend.fake is not None:
        inserts = backend.issued('INSERT INTO "playlog"."failed_events"')
        assert len(inserts) == 1 and inserts[0].count("(") == 3  # columns + two rows
        return
    assert wh.record_failed([failure(b), failure(a)]) == []
    reason = "Conversion Error: 1000 out of range"
    payload = b"\x00payload\xff"
    assert failed_rows(backend, backend.game) == [
        (a, "load", reason, payload, T0, False),
        (b, "load", reason, payload, T0, False),
    ]


def test_loading_a_replay_marks_its_failed_event_replayed_once(backend: Backend) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    task = backend.task("login", {"player": pa.array(["p", "q"])}, 0)
    wh.record_failed([failure(task.key)])
    replay = dataclasses.replace(task, replay_of=task.key)
    assert wh.load([replay]) == [task.task_id]
    if backend.fake is not None:
        marks = backend.issued('UPDATE "playlog"."failed_events" SET replayed_at')
        assert len(marks) == 1 and backend.fake.params[-2] == (task.key,)
        return
    marked = wh.query(
        f"select replayed_at from playlog.failed_events where source = '{task.key}'"
    ).rows[0][0]
    assert marked is not None
    # Replayed again (the CLI ran twice, or crashed before it knew): nothing loads again.
    assert wh.load([replay]) == []
    assert backend.count("login") == 2
    again = wh.query(f"select replayed_at from playlog.failed_events where source = '{task.key}'")
    assert again.rows == [(marked,)]


# ledger retention ------------------------------------------------------------------------


def own_loads(wh: Warehouse, before: dt.datetime, game: str) -> list[tuple[str, str]]:
    """This test's ledger rows loaded before ``before``, walked a page at a time (the
    PostgreSQL tests share one ledger)."""
    rows: list[tuple[str, str]] = []
    after = ""
    while page := wh.loads_before(before, after, 50):
        assert page == sorted(page) and page[0][0] > after  # task-id order, after ``after``
        rows += page
        after = page[-1][0]
    return [row for row in rows if row[1].startswith(f"{game}/")]


def test_loads_before_pages_the_ledger_and_forget_loads_deletes_just_those(
    backend: Backend,
) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    tasks = [backend.task("login", {"player": pa.array(["p"])}, i * 10) for i in range(3)]
    wh.load(tasks)
    later, earlier = (dt.datetime.now(UTC) + dt.timedelta(hours=h) for h in (1, -1))
    if backend.fake is not None:
        assert wh.loads_before(later, "", 50) == []  # the fake holds no rows to page
        [page] = backend.issued('SELECT task_id, file_key FROM "playlog"."load_ledger"')
        assert "ORDER BY task_id LIMIT 50" in page
        assert wh.forget_loads([tasks[0].task_id, "no-such-task"]) == 1
        assert len(backend.issued('DELETE FROM "playlog"."load_ledger"')) == 1
        assert backend.fake.params[-2] == (tasks[0].task_id,)  # then COMMIT
        return
    assert own_loads(wh, later, backend.game) == sorted((t.task_id, t.key) for t in tasks)
    assert own_loads(wh, earlier, backend.game) == []
    assert wh.forget_loads([tasks[0].task_id, "no-such-task"]) == 1
    assert wh.forget_loads([]) == 0
    rest = sorted((t.task_id, t.key) for t in tasks[1:])
    assert own_loads(wh, later, backend.game) == rest
    # Forgotten means loadable again: why only ledger retention forgets, and only
    # tasks whose file has left the store.
    assert wh.load(tasks) == [tasks[0].task_id]
    assert backend.count("login") == 4
