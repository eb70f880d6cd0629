"""Every Avro 1.12 type and logical type, one case each: the values a writer sends,
their JSON input form, what the batch file holds, the column type per warehouse and
what a query gives back. The README's type table lists the same rows; the unit,
warehouse-contract and end-to-end tests run each case on every path."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

UTC = dt.UTC
U1, U2 = uuid.UUID("9b2c1c4e-7a5d-4f3e-8c1a-0123456789ab"), uuid.UUID(int=2**128 - 1)
T1 = dt.datetime(2026, 11, 26, 10, 0, 0, 123_000, tzinfo=UTC)
T2 = dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC)
WIDE = Decimal("1234567890123456789012345678901234567890.0123456789")
NS1, NS2 = 1_764_151_200_123_456_789, -1


# Avro's promotions (the spec's "Schema Resolution"): a reader of the second type reads
# data written as the first.
PROMOTIONS = [
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
]


@dataclass(frozen=True)
class TypeCase:
    name: str  # the event type, and the case's id
    avro: Any  # the type of the record's one field, "v"
    values: list[Any]  # as fastavro writes them
    json: list[Any]  # the documented JSON input form of each value
    file: list[Any]  # the batch file's column, as Arrow gives it to Python
    sql: tuple[str, str, str]  # column type in DuckDB, PostgreSQL, Redshift
    fast: bool = False  # does an OCF of it take the columnar fast path?
    # what a query gives back, where it differs from ``file``: per warehouse
    rows: dict[str, list[Any]] = field(default_factory=dict)
    # the select expression, where ``v`` alone would not show every digit
    select: dict[str, str] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, Any]:
        return {"type": "record", "name": self.name, "fields": [{"name": "v", "type": self.avro}]}

    def expected(self, warehouse: str) -> list[Any]:
        return self.rows.get(warehouse, self.file)


def _logical(base: str, logical: str, **extra: Any) -> dict[str, Any]:
    return {"type": base, "logicalType": logical, **extra}


def _fixed(name: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"type": "fixed", "name": name, "size": size, **extra}


def _json_text(values: list[Any]) -> list[str]:
    return [json.dumps(v) for v in values]


TEXT = ("VARCHAR", "TEXT", "VARCHAR(65535)")
DURATIONS = [{"months": 1, "days": 2, "milliseconds": 3}, {"months": 0, "days": 0,
             "milliseconds": 2**32 - 1}]  # fmt: skip
RECORD = {"type": "record", "name": "pos", "fields": [{"name": "x", "type": "int"}]}

CASES = [
    TypeCase("t_boolean", "boolean", [True, False], [True, False], [True, False],
             ("BOOLEAN",) * 3, fast=True),
    TypeCase("t_int", "int", [-(2**31), 2**31 - 1], [-(2**31), 2**31 - 1],
             [-(2**31), 2**31 - 1], ("INTEGER",) * 3, fast=True),
    TypeCase("t_long", "long", [-(2**63), 2**63 - 1], [-(2**63), 2**63 - 1],
             [-(2**63), 2**63 - 1], ("BIGINT",) * 3, fast=True),
    TypeCase("t_float", "float", [1.5, -0.25], [1.5, -0.25], [1.5, -0.25], ("REAL",) * 3,
             fast=True),
    TypeCase("t_double", "double", [0.1, 1e300], [0.1, 1e300], [0.1, 1e300],
             ("DOUBLE", "DOUBLE PRECISION", "DOUBLE PRECISION"), fast=True),
    TypeCase("t_string", "string", ['é, "q"\n', ""], ['é, "q"\n', ""], ['é, "q"\n', ""],
             TEXT, fast=True),
    TypeCase("t_bytes", "bytes", [b"\x00\xff", b""], ["AP8=", ""], [b"\x00\xff", b""],
             ("BLOB", "BYTEA", "VARBYTE(65535)"), fast=True),
    TypeCase("t_enum", {"type": "enum", "name": "team", "symbols": ["red", "blue"]},
             ["blue", "red"], ["blue", "red"], ["blue", "red"], TEXT, fast=True),
    TypeCase("t_fixed", _fixed("hash", 3), [b"abc", b"\x00\x01\xff"], ["YWJj", "AAH/"],
             [b"abc", b"\x00\x01\xff"], ("BLOB", "BYTEA", "VARBYTE(65535)"), fast=True),
    TypeCase("t_uuid", _logical("string", "uuid"), [str(U1), str(U2).upper()],
             [str(U1), str(U2).upper()], [str(U1), str(U2)], ("UUID", "UUID", "CHAR(36)"),
             rows={"duckdb": [U1, U2], "postgres": [U1, U2]}),
    TypeCase("t_uuid_fixed", _fixed("uid", 16, logicalType="uuid"), [U1.bytes, U2.bytes],
             [str(U1), str(U2)], [str(U1), str(U2)], ("UUID", "UUID", "CHAR(36)"),
             rows={"duckdb": [U1, U2], "postgres": [U1, U2]}),
    TypeCase("t_decimal", _logical("bytes", "decimal", precision=9, scale=2),
             [Decimal("1234567.89"), Decimal("-0.01")], ["1234567.89", -0.01],
             [Decimal("1234567.89"), Decimal("-0.01")], ("DECIMAL(9,2)",) * 3),
    TypeCase("t_decimal_fixed", _fixed("money", 8, logicalType="decimal", precision=18,
             scale=4), [Decimal("-99999999999999.9999"), Decimal("0.0001")],
             ["-99999999999999.9999", 0.0001],
             [Decimal("-99999999999999.9999"), Decimal("0.0001")], ("DECIMAL(18,4)",) * 3),
    TypeCase("t_decimal_wide", _logical("bytes", "decimal", precision=50, scale=10),
             [WIDE, Decimal("1E-10")], [str(WIDE), "0.0000000001"],
             [str(WIDE), "0.0000000001"], ("VARCHAR", "DECIMAL(50,10)", "VARCHAR(52)"),
             rows={"postgres": [WIDE, Decimal("1E-10")]}),
    TypeCase("t_decimal_invalid", _logical("bytes", "decimal", scale=2),  # no precision
             [b"\x01", b""], ["AQ==", ""], [b"\x01", b""],
             ("BLOB", "BYTEA", "VARBYTE(65535)"), fast=True),
    TypeCase("t_date", _logical("int", "date"), [dt.date(1, 1, 1), dt.date(9999, 12, 31)],
             ["0001-01-01", 2_932_896], [dt.date(1, 1, 1), dt.date(9999, 12, 31)],
             ("DATE",) * 3, fast=True),
    TypeCase("t_time_millis", _logical("int", "time-millis"),
             [dt.time(0, 0), dt.time(23, 59, 59, 999_000)], ["00:00:00", 86_399_999],
             [dt.time(0, 0), dt.time(23, 59, 59, 999_000)], ("TIME",) * 3),
    TypeCase("t_time_micros", _logical("long", "time-micros"),
             [dt.time(12, 0, 0, 1), dt.time(23, 59, 59, 999_999)],
             ["12:00:00.000001", 86_399_999_999],
             [dt.time(12, 0, 0, 1), dt.time(23, 59, 59, 999_999)], ("TIME",) * 3),
    TypeCase("t_timestamp_millis", _logical("long", "timestamp-millis"), [T1, T2],
             ["2026-11-26T10:00:00.123Z", int(T2.timestamp() * 1000)], [T1, T2],
             ("TIMESTAMPTZ",) * 3, fast=True),
    TypeCase("t_timestamp_micros", _logical("long", "timestamp-micros"), [T1, T2],
             ["2026-11-26T11:00:00.123+01:00", int(T2.timestamp() * 1_000_000)], [T1, T2],
             ("TIMESTAMPTZ",) * 3, fast=True),
    TypeCase("t_local_timestamp_millis", _logical("long", "local-timestamp-millis"),
             [T1.replace(tzinfo=None), T2.replace(tzinfo=None)],
             ["2026-11-26T10:00:00.123", int(T2.timestamp() * 1000)],
             [T1.replace(tzinfo=None), T2.replace(tzinfo=None)], ("TIMESTAMP",) * 3, fast=True),
    TypeCase("t_local_timestamp_micros", _logical("long", "local-timestamp-micros"),
             [T1.replace(tzinfo=None), T2.replace(tzinfo=None)],
             ["2026-11-26T10:00:00.123000", int(T2.timestamp() * 1_000_000)],
             [T1.replace(tzinfo=None), T2.replace(tzinfo=None)], ("TIMESTAMP",) * 3, fast=True),
    TypeCase("t_timestamp_nanos", _logical("long", "timestamp-nanos"), [NS1, NS2],
             ["2025-11-26T10:00:00.123456789Z", NS2], [NS1, NS2],
             ("TIMESTAMP_NS", "BIGINT", "BIGINT"), fast=True, select={"duckdb": "epoch_ns(v)"}),
    TypeCase("t_local_timestamp_nanos", _logical("long", "local-timestamp-nanos"), [NS1, NS2],
             ["2025-11-26T10:00:00.123456789", NS2], [NS1, NS2],
             ("TIMESTAMP_NS", "BIGINT", "BIGINT"), fast=True, select={"duckdb": "epoch_ns(v)"}),
    TypeCase("t_duration", _fixed("span", 12, logicalType="duration"),
             [b"\x01\0\0\0\x02\0\0\0\x03\0\0\0", b"\0" * 8 + b"\xff" * 4], DURATIONS,
             _json_text(DURATIONS), TEXT),
    TypeCase("t_array", {"type": "array", "items": "int"}, [[1, 2], []], [[1, 2], []],
             ["[1, 2]", "[]"], TEXT, fast=True),
    TypeCase("t_map", {"type": "map", "values": "string"}, [{"k": "v"}, {}],
             [{"k": "v"}, {}], ['{"k": "v"}', "{}"], TEXT, fast=True),
    TypeCase("t_record", RECORD, [{"x": 1}, {"x": -1}], [{"x": 1}, {"x": -1}],
             ['{"x": 1}', '{"x": -1}'], TEXT, fast=True),
    TypeCase("t_union", ["null", "int", "string"], [7, "seven"], [7, "seven"],
             ["7", '"seven"'], TEXT),
    TypeCase("t_nullable", ["null", "long"], [None, 5], [None, 5], [None, 5],
             ("BIGINT",) * 3, fast=True),
]  # fmt: skip
BY_NAME = {case.name: case for case in CASES}
