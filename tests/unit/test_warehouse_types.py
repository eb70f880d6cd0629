"""Column kinds -> SQL types and default literals, per warehouse."""

from __future__ import annotations

from typing import Any

import pytest

from playlog.avro.types import Column, columns_of
from playlog.warehouse.types import DuckDBTypes, PostgresTypes, RedshiftTypes

MAPPERS = [DuckDBTypes(), PostgresTypes(), RedshiftTypes()]


def one(avro_type: Any, **extra: Any) -> Column:
    record = {
        "type": "record",
        "name": "Event",
        "fields": [{"name": "f", "type": avro_type, **extra}],
    }
    (column,) = columns_of(record)
    return column


@pytest.mark.parametrize(
    ("kind_type", "duckdb", "postgres", "redshift"),
    [
        ("string", "VARCHAR", "TEXT", "VARCHAR(65535)"),
        ("bytes", "BLOB", "BYTEA", "VARBYTE(65535)"),
        ("double", "DOUBLE", "DOUBLE PRECISION", "DOUBLE PRECISION"),
        ("long", "BIGINT", "BIGINT", "BIGINT"),
        (
            {"type": "long", "logicalType": "timestamp-millis"},
            "TIMESTAMPTZ",
            "TIMESTAMPTZ",
            "TIMESTAMPTZ",
        ),
        (
            {"type": "long", "logicalType": "local-timestamp-micros"},
            "TIMESTAMP",
            "TIMESTAMP",
            "TIMESTAMP",
        ),
        ({"type": "array", "items": "int"}, "VARCHAR", "TEXT", "VARCHAR(65535)"),
    ],
)
def test_sql_type_per_dialect(kind_type: Any, duckdb: str, postgres: str, redshift: str) -> None:
    column = one(kind_type)
    assert DuckDBTypes().sql_type(column) == duckdb
    assert PostgresTypes().sql_type(column) == postgres
    assert RedshiftTypes().sql_type(column) == redshift


@pytest.mark.parametrize(
    ("avro_type", "default", "literal"),
    [
        ("string", "it's", "'it''s'"),
        ("string", "", "''"),
        ("boolean", True, "TRUE"),
        ("boolean", False, "FALSE"),
        ("int", 0, "0"),
        ("long", -42, "-42"),
        ("double", 1.5, "1.5"),
        (["null", "string"], None, None),
        (["string", "null"], "x", "'x'"),
        ({"type": "enum", "name": "Team", "symbols": ["RED"]}, "RED", "'RED'"),
        ({"type": "array", "items": "int"}, [1, 2], "'[1,2]'"),
        ({"type": "map", "values": "string"}, {"k": "v'"}, """'{"k":"v''"}'"""),
        ("bytes", "\u00ff", None),
        (
            {"type": "string", "logicalType": "uuid"},
            "9B2C1C4E-7A5D-4F3E-8C1A-0123456789AB",
            "'9b2c1c4e-7a5d-4f3e-8c1a-0123456789ab'",
        ),
        ({"type": "int", "logicalType": "date"}, 0, None),
    ],
)
def test_sql_default(avro_type: Any, default: Any, literal: str | None) -> None:
    column = one(avro_type, default=default)
    assert column.has_default
    for types in MAPPERS:
        assert types.default_sql(column) == literal


def test_no_default_is_null() -> None:
    for types in MAPPERS:
        assert types.default_sql(one("string")) is None


def test_decimal_keeps_precision_and_scale_everywhere() -> None:
    column = one({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 3})
    assert {types.sql_type(column) for types in MAPPERS} == {"DECIMAL(12,3)"}


def test_complex_types_are_text() -> None:
    column = one({"type": "map", "values": "int"})
    assert PostgresTypes().sql_type(column) == "TEXT"


def test_column_sql_with_default_and_renamed() -> None:
    column = Column("note", "note", "string", default="it's")
    assert RedshiftTypes().column_sql(column) == "\"note\" VARCHAR(65535) DEFAULT 'it''s'"
    assert DuckDBTypes().column_sql(column, "n2") == "\"n2\" VARCHAR DEFAULT 'it''s'"
