"""Redshift adapter: the exact SQL, the cluster health check (moto's Redshift API) and
the load flow against a connection that records statements (no cluster exists here)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.redshift.models import redshift_backends
from psycopg import errors as pg_errors
from tests.support.avro_types import CASES, TypeCase
from tests.support.fakes import MemoryStore, RecordingConnection

from playlog.avro.types import Column, columns_of
from playlog.contracts import CopyTask, FailedEvent
from playlog.errors import (
    BadRequest,
    ConfigError,
    WarehouseConflict,
    WarehouseError,
    WarehouseUnavailable,
)
from playlog.warehouse import redshift_sql as rsql
from playlog.warehouse import sql
from playlog.warehouse.base import QueryLimits
from playlog.warehouse.redshift import RedshiftWarehouse
from playlog.warehouse.sql import create_table_sql, ledger_ddl
from playlog.warehouse.types import DuckDBTypes, RedshiftTypes

FakeConnection = RecordingConnection


def lookup_sql(count: int) -> str:
    return sql.ledger_lookup_sql(count)


def insert_sql(count: int) -> str:
    return sql.ledger_insert_sql(count, now="SYSDATE")


ROLE = "arn:aws:iam::123456789012:role/PlaylogLoad"
LEDGER = '"playlog"."load_ledger"'

# --- the SQL, exactly -------------------------------------------------------------


def test_copy_with_iam_role() -> None:
    assert rsql.copy_sql('"g"."e"', ["a", "b"], "s3://bkt/_manifests/m.json", iam_role=ROLE) == (
        'COPY "g"."e" ("a", "b") FROM \'s3://bkt/_manifests/m.json\' '
        f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST"
    )


def test_copy_with_access_keys_uses_credentials() -> None:
    sql = rsql.copy_sql(
        '"g"."e"', ["a"], "s3://b/m.json", access_key_id="AKIA1", secret_access_key="s/3+cr"
    )
    assert sql == (
        'COPY "g"."e" ("a") FROM \'s3://b/m.json\' '
        "CREDENTIALS 'aws_access_key_id=AKIA1;aws_secret_access_key=s/3+cr' "
        "FORMAT AS PARQUET MANIFEST"
    )
    with_token = rsql.authorization_sql(None, "AKIA1", "sec", "tok")
    assert with_token == "CREDENTIALS 'aws_access_key_id=AKIA1;aws_secret_access_key=sec;token=tok'"


def test_copy_escapes_quotes_in_literals_and_identifiers() -> None:
    sql = rsql.copy_sql('"g"."e""x"', ['we"ird', "b"], "s3://b/it's.json", iam_role="arn:o'k")
    assert sql == (
        'COPY "g"."e""x" ("we""ird", "b") FROM \'s3://b/it\'\'s.json\' '
        "IAM_ROLE 'arn:o''k' FORMAT AS PARQUET MANIFEST"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"iam_role": "arn\\x"},  # backslash: refused, not guessed at
        {"iam_role": ROLE, "region": "eu-west-1"},  # REGION: not for Parquet
        {"iam_role": ROLE, "access_key_id": "A", "secret_access_key": "S"},  # both
        {},  # neither
        {"access_key_id": "A", "secret_access_key": "S;x"},  # splits CREDENTIALS
    ],
)
def test_copy_refuses_what_redshift_would_misread(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        rsql.copy_sql('"g"."e"', ["a"], "s3://b/m.json", **kwargs)


def test_manifest_lists_every_file_mandatory_with_its_length() -> None:
    data = rsql.manifest_json(["s3://b/1.parquet", "s3://b/2.parquet"], [10, 20])
    assert data == (
        b'{"entries":['
        b'{"url":"s3://b/1.parquet","mandatory":true,"meta":{"content_length":10}},'
        b'{"url":"s3://b/2.parquet","mandatory":true,"meta":{"content_length":20}}]}'
    )


def test_manifest_key_depends_on_the_task_ids_only() -> None:
    key = rsql.manifest_key(["t2", "t1"])
    assert key == rsql.manifest_key(["t1", "t2"])
    assert key.startswith("_manifests/") and key.endswith(".json") and len(key) == 48
    assert key != rsql.manifest_key(["t1"])


def test_ledger_statements() -> None:
    assert lookup_sql(2) == f"SELECT task_id FROM {LEDGER} WHERE task_id IN (%s, %s)"
    assert insert_sql(2) == (
        f"INSERT INTO {LEDGER} (task_id, table_name, file_key, row_count, loaded_at) "
        "VALUES (%s, %s, %s, %s, SYSDATE), (%s, %s, %s, %s, SYSDATE)"
    )
    assert rsql.lock_sql({'"g"."b"', '"g"."a"'}) == 'LOCK "g"."a", "g"."b"'


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_avro_type_gets_its_documented_redshift_column(case: TypeCase) -> None:
    """The README's type table, Redshift's column: as registration adds it, and as an
    existing table of that type is read back (registering again alters nothing)."""
    (column,) = columns_of(case.schema)
    redshift = case.sql[2]
    assert (
        rsql.add_column_sql('"g"."e"', column) == f'ALTER TABLE "g"."e" ADD COLUMN "v" {redshift}'
    )
    information_schema = {"BIGINT": "bigint", "CHAR(36)": "character", "REAL": "real"}
    held = information_schema.get(redshift, redshift.lower().replace("varbyte", "binary varying"))
    assert sql.alter_plan({"v": held}, [column], RedshiftTypes()) == ([], [])


def test_alter_statements_one_column_each() -> None:
    level = Column("level", "level", "int", default=1)
    note = Column("note", "note", "string", default="it's")
    plain = Column("x", "x", "double")
    assert rsql.add_column_sql('"g"."e"', level) == (
        'ALTER TABLE "g"."e" ADD COLUMN "level" INTEGER DEFAULT 1'
    )
    assert rsql.add_column_sql('"g"."e"', note) == (
        'ALTER TABLE "g"."e" ADD COLUMN "note" VARCHAR(65535) DEFAULT \'it\'\'s\''
    )
    assert rsql.add_column_sql('"g"."e"', plain) == (
        'ALTER TABLE "g"."e" ADD COLUMN "x" DOUBLE PRECISION'
    )
    assert rsql.widen_column_sql('"g"."e"', Column("n", "n", "long")) == [
        'ALTER TABLE "g"."e" ADD COLUMN "n__playlog_widen" BIGINT',
        'UPDATE "g"."e" SET "n__playlog_widen" = "n"',
        'ALTER TABLE "g"."e" DROP COLUMN "n"',
        'ALTER TABLE "g"."e" RENAME COLUMN "n__playlog_widen" TO "n"',
    ]


def test_load_error_queries_and_format() -> None:
    assert "FROM sys_load_error_detail WHERE query_id = pg_last_copy_id()" in rsql.LOAD_ERRORS_SQL
    assert "FROM stl_load_errors WHERE query = pg_last_copy_id()" in rsql.STL_LOAD_ERRORS_SQL
    rows = [("s3://b/1.parquet", 3, "level", 1216, "Invalid digit")]
    assert (
        rsql.format_load_errors(rows) == "s3://b/1.parquet:3 column 'level': [1216] Invalid digit"
    )


# --- a recording connection (tests/unit/fakes.py) and an in-memory store ----------


def task(event_type: str, n: int, columns: tuple[str, ...] = ("a", "_event_id")) -> CopyTask:
    key = f"g/{event_type}/dt=2024-01-01/t-0-{n}-{n}.parquet"
    return CopyTask(
        task_id=f"{event_type}{n}", game="g", event_type=event_type, key=key,
        uri=f"s3://bkt/{key}", columns=columns, rows=10 * n, bytes=1000 + n,
        received_min_ms=0, received_max_ms=1, source_topic="t", source_partition=0,
        source_first=n, source_last=n,
    )  # fmt: skip


def warehouse(conn: FakeConnection, **kwargs: Any) -> tuple[RedshiftWarehouse, MemoryStore]:
    store = MemoryStore()
    kwargs.setdefault("iam_role", ROLE)
    return RedshiftWarehouse(lambda: cast(Any, conn), store, **kwargs), store


def after_ledger_ddl(conn: FakeConnection) -> list[str]:
    ddl = ledger_ddl(RedshiftTypes())
    assert conn.statements[: len(ddl)] == ddl  # made on first contact
    return conn.statements[len(ddl) :]


def copy_of(event_type: str, tasks: Sequence[CopyTask]) -> str:
    manifest = f"s3://bkt/{rsql.manifest_key([t.task_id for t in tasks])}"
    return rsql.copy_sql(f'"g"."{event_type}"', tasks[0].columns, manifest, iam_role=ROLE)


# --- load ---------------------------------------------------------------------------


def test_load_is_one_transaction_with_one_copy_per_table_in_sorted_order() -> None:
    conn = FakeConnection()
    wh, store = warehouse(conn)
    b1, a1, a2 = task("b", 1), task("a", 1), task("a", 2)

    assert wh.load([b1, a1, a2]) == ["b1", "a1", "a2"]  # the ids, in task order

    assert after_ledger_ddl(conn) == [
        "BEGIN",
        'LOCK "g"."a", "g"."b"',
        lookup_sql(3),
        copy_of("a", [a1, a2]),
        copy_of("b", [b1]),
        insert_sql(3),
        "COMMIT",
    ]
    assert conn.params[-2] == (  # ledger rows in id order: racing loaders wait, not deadlock
        "a1", "g.a", a1.key, 10, "a2", "g.a", a2.key, 20, "b1", "g.b", b1.key, 10,
    )  # fmt: skip
    manifest = json.loads(store.objects[rsql.manifest_key(["a1", "a2"])])
    assert manifest == {
        "entries": [
            {"url": a1.uri, "mandatory": True, "meta": {"content_length": 1001}},
            {"url": a2.uri, "mandatory": True, "meta": {"content_length": 1002}},
        ]
    }
    assert len(store.objects) == 2  # one manifest per COPY


def test_one_copy_per_column_list_of_a_table() -> None:
    conn = FakeConnection()
    wh, _ = warehouse(conn)
    old, new = task("a", 1, ("x", "_event_id")), task("a", 2, ("x", "y", "_event_id"))
    wh.load([new, old])
    copies = [s for s in conn.statements if s.startswith("COPY")]
    assert copies == [copy_of("a", [old]), copy_of("a", [new])]


def test_tasks_already_in_the_ledger_are_skipped() -> None:
    conn = FakeConnection(done=["a1"])
    wh, store = warehouse(conn)
    a1, a2 = task("a", 1), task("a", 2)

    assert wh.load([a1, a2]) == ["a2"]
    assert [s for s in conn.statements if s.startswith("COPY")] == [copy_of("a", [a2])]
    assert conn.params[-2] == ("a2", "g.a", a2.key, 20)
    assert list(store.objects) == [rsql.manifest_key(["a2"])]


def test_nothing_new_means_no_copy_and_no_ledger_rows() -> None:
    conn = FakeConnection(done=["a1"])
    wh, _ = warehouse(conn)
    assert wh.load([task("a", 1)]) == []
    assert after_ledger_ddl(conn) == ["BEGIN", 'LOCK "g"."a"', lookup_sql(1), "COMMIT"]


def test_copy_failure_rolls_back_and_reports_the_load_errors() -> None:
    failure = pg_errors.InternalError_(
        "Load into table 'b' failed. Check 'sys_load_error_detail' system table for details."
    )
    errors = [("s3://bkt/g/b/x.parquet", 1, "a", 1216, "Invalid digit, Value 'x'")]
    conn = FakeConnection(
        fail=('COPY "g"."b"', failure), answers={"SELECT TRIM(file_name)": errors}
    )
    wh, _ = warehouse(conn)

    with pytest.raises(WarehouseError) as info:
        wh.load([task("a", 1), task("b", 1)])

    assert type(info.value) is WarehouseError  # terminal: the data is bad
    assert "COPY into g.b failed" in info.value.message
    assert "s3://bkt/g/b/x.parquet:1 column 'a': [1216] Invalid digit, Value 'x'" in (
        info.value.message
    )
    tail = after_ledger_ddl(conn)
    assert tail[-3:] == [copy_of("b", [task("b", 1)]), "ROLLBACK", rsql.LOAD_ERRORS_SQL]
    assert "COMMIT" not in tail and not any(s.startswith("INSERT") for s in tail)


def test_load_errors_fall_back_to_stl_load_errors() -> None:
    failure = pg_errors.InternalError_("Load into table 'a' failed.")
    errors = [("s3://bkt/f.parquet", 2, "a", 1207, "Invalid digit")]
    conn = FakeConnection(fail=("COPY", failure), answers={"SELECT TRIM(filename)": errors})
    wh, _ = warehouse(conn)
    with pytest.raises(WarehouseError, match=r"\[1207\] Invalid digit"):
        wh.load([task("a", 1)])
    assert conn.statements[-2:] == [rsql.LOAD_ERRORS_SQL, rsql.STL_LOAD_ERRORS_SQL]


def test_serialization_violation_is_a_conflict_and_lost_connection_unavailable() -> None:
    violation = pg_errors.InternalError_(
        "1023 Serializable isolation violation on table - 100, transactions forming the cycle"
    )
    conn = FakeConnection(fail=("COPY", violation))
    wh, _ = warehouse(conn)
    with pytest.raises(WarehouseConflict):
        wh.load([task("a", 1)])
    assert conn.statements[-1] == "ROLLBACK" and not conn.closed  # reused for the retry

    gone = FakeConnection(fail=("SELECT task_id", pg_errors.AdminShutdown("terminating")))
    wh, _ = warehouse(gone)
    with pytest.raises(WarehouseUnavailable) as info:
        wh.load([task("a", 1)])
    assert not isinstance(info.value, WarehouseConflict)
    assert gone.closed  # may be broken: never reused


def test_only_s3_files_can_be_copied() -> None:
    wh, _ = warehouse(FakeConnection())
    with pytest.raises(WarehouseError, match="only from S3"):
        wh.load([dataclasses.replace(task("a", 1), uri="file:///tmp/x.parquet")])


def test_credentials_are_required_to_load() -> None:
    with pytest.raises(ConfigError):
        RedshiftWarehouse(lambda: cast(Any, FakeConnection()), MemoryStore())
    RedshiftWarehouse(lambda: cast(Any, FakeConnection()), None)  # query-only: fine


# --- DDL and queries ------------------------------------------------------------------


def test_ensure_table_creates_then_adds_and_widens_columns() -> None:
    columns = [Column("n", "n", "long"), Column("lvl", "lvl", "int", default=1)]
    conn = FakeConnection()
    wh, _ = warehouse(conn)
    wh.ensure_table("g", "e", columns)
    assert after_ledger_ddl(conn)[1:] == [
        'CREATE SCHEMA IF NOT EXISTS "g"',
        create_table_sql('"g"."e"', columns, RedshiftTypes()),
    ]

    existing = [("n", "integer"), ("_event_id", "bigint")]
    conn = FakeConnection(answers={"SELECT column_name": existing})
    wh, _ = warehouse(conn)
    wh.ensure_table("g", "e", columns)
    # New columns first (each its own transaction), then the widening in one.
    assert after_ledger_ddl(conn)[1:] == [
        'ALTER TABLE "g"."e" ADD COLUMN "lvl" INTEGER DEFAULT 1',
        "BEGIN",
        *rsql.widen_column_sql('"g"."e"', columns[0]),
        "COMMIT",
    ]


def test_query_runs_one_select_read_only() -> None:
    conn = FakeConnection(answers={"select": [(1, "x"), (2, "y")]})
    wh, _ = warehouse(conn)
    result = wh.query("select a, b from g.e;", QueryLimits(max_rows=1))
    assert result.rows == [(1, "x")] and result.truncated and result.columns == ["c0", "c1"]
    assert after_ledger_ddl(conn) == ["BEGIN READ ONLY", "select a, b from g.e", "ROLLBACK"]
    for bad in ["delete from g.e", "select 1; drop table g.e", "vacuum"]:
        with pytest.raises(BadRequest):
            wh.query(bad)


# --- health: a real query, and the cluster status from the Redshift API ----------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("redshift", region_name="us-east-1")
        client.create_cluster(
            ClusterIdentifier="events",
            NodeType="ra3.xlplus",
            ClusterType="single-node",
            MasterUsername="playlog",
            MasterUserPassword="Secret123",
        )
        yield client


def test_check_passes_when_the_cluster_is_available(aws: Any) -> None:
    conn = FakeConnection()
    wh, _ = warehouse(conn, cluster_id="events", redshift_client=aws)
    wh.check()
    assert after_ledger_ddl(conn) == [f"SELECT count(*) FROM {LEDGER} WHERE false"]


def test_check_fails_naming_the_status_of_a_paused_cluster(aws: Any) -> None:
    aws.pause_cluster(ClusterIdentifier="events")
    wh, _ = warehouse(FakeConnection(), cluster_id="events", redshift_client=aws)
    with pytest.raises(WarehouseUnavailable, match="'paused'"):
        wh.check()


def test_check_fails_while_the_cluster_is_in_maintenance(aws: Any) -> None:
    cluster: Any = redshift_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].clusters["events"]
    cluster.status = "modifying"
    cluster.cluster_availability_status = "Maintenance"  # moto passes it through
    wh, _ = warehouse(FakeConnection(), cluster_id="events", redshift_client=aws)
    with pytest.raises(WarehouseUnavailable, match="'modifying' \\(availability 'Maintenance'\\)"):
        wh.check()

    cluster.status = "available"  # available, but not for queries: still unhealthy
    with pytest.raises(WarehouseUnavailable, match="availability 'Maintenance'"):
        wh.check()


def test_check_fails_for_an_unknown_cluster(aws: Any) -> None:
    wh, _ = warehouse(FakeConnection(), cluster_id="nope", redshift_client=aws)
    with pytest.raises(WarehouseUnavailable, match="ClusterNotFound"):
        wh.check()


def test_check_fails_when_the_test_query_fails() -> None:
    conn = FakeConnection(fail=("SELECT count(*)", pg_errors.ConnectionFailure("gone")))
    wh, _ = warehouse(conn)
    with pytest.raises(WarehouseUnavailable, match="gone"):
        wh.check()
    assert conn.closed


def test_failed_event_text_is_cut_to_the_column_widths_redshift_has() -> None:
    # VARCHAR(n) counts bytes on Redshift: a cut never splits a character.
    hashes = ",".join(f"{n:016x}" for n in range(40))  # 679 bytes
    event = FailedEvent(
        failed_at_ms=0, stage="process", game="g1", event_type="é" * 300,
        schema_hash=hashes, reason="x" * 70_000, source="t/0/1", payload=b"p",
    )  # fmt: skip
    row = dict(zip(sql.FAILED_INSERTED, sql.failed_row(event, RedshiftTypes()), strict=True))
    assert row["schema_hash"] == hashes[:512] and row["event_type"] == "é" * 256
    assert len(row["reason"]) == 65_535 and (row["game"], row["source"]) == ("g1", "t/0/1")
    assert sql.failed_row(event, DuckDBTypes())[4] == hashes  # TEXT: no width
