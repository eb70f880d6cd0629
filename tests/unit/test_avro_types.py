"""Avro field types -> neutral columns (kind, Arrow type, default); SQL types are in
test_warehouse_types.py."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from playlog.avro.schema import validate_record_schema
from playlog.avro.types import Column, columns_of
from playlog.errors import BadRequest


def record(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "Event", "fields": list(fields)}


def one(avro_type: Any, **extra: Any) -> Column:
    (column,) = columns_of(record({"name": "f", "type": avro_type, **extra}))
    return column


@pytest.mark.parametrize(
    ("avro_type", "kind", "arrow"),
    [
        ("boolean", "boolean", pa.bool_()),
        ("int", "int", pa.int32()),
        ("long", "long", pa.int64()),
        ("float", "float", pa.float32()),
        ("double", "double", pa.float64()),
        ("string", "string", pa.string()),
        ("bytes", "bytes", pa.binary()),
        ({"type": "long"}, "long", pa.int64()),
    ],
)
def test_primitives(avro_type: Any, kind: str, arrow: pa.DataType) -> None:
    column = one(avro_type)
    assert (column.kind, column.arrow_type) == (kind, arrow)


@pytest.mark.parametrize("avro_type", [["null", "int"], ["int", "null"], ["null", {"type": "int"}]])
def test_nullable_union_unwraps_to_its_type(avro_type: Any) -> None:
    assert one(avro_type).kind == "int"


@pytest.mark.parametrize(
    ("logical", "base", "kind", "arrow"),
    [
        ("date", "int", "date", pa.date32()),
        ("time-millis", "int", "time", pa.time64("us")),
        ("time-micros", "long", "time", pa.time64("us")),
        ("timestamp-millis", "long", "timestamp", pa.timestamp("us", tz="UTC")),
        ("timestamp-micros", "long", "timestamp", pa.timestamp("us", tz="UTC")),
        ("local-timestamp-millis", "long", "local_timestamp", pa.timestamp("us")),
        ("local-timestamp-micros", "long", "local_timestamp", pa.timestamp("us")),
        ("timestamp-nanos", "long", "timestamp_ns", pa.int64()),
        ("local-timestamp-nanos", "long", "local_timestamp_ns", pa.int64()),
        ("uuid", "string", "uuid", pa.string()),
    ],
)
def test_logical_types(logical: str, base: str, kind: str, arrow: pa.DataType) -> None:
    column = one({"type": base, "logicalType": logical})
    assert (column.kind, column.arrow_type) == (kind, arrow)
    # Nullable logical types map the same way.
    assert one(["null", {"type": base, "logicalType": logical}]).kind == kind


def test_logical_type_on_the_wrong_base_is_ignored() -> None:
    # Avro: an invalid logical type annotation falls back to the underlying type.
    assert one({"type": "int", "logicalType": "timestamp-millis"}).kind == "int"


def test_decimal_keeps_precision_and_scale() -> None:
    column = one({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 3})
    assert (column.kind, column.precision, column.scale) == ("decimal", 12, 3)
    assert column.arrow_type == pa.decimal128(12, 3)
    fixed = {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal"}
    assert one({**fixed, "precision": 18}).arrow_type == pa.decimal128(18, 0)


def test_decimals_wider_than_decimal128_travel_as_text() -> None:
    column = one({"type": "bytes", "logicalType": "decimal", "precision": 39, "scale": 2})
    assert (column.kind, column.precision, column.scale) == ("decimal", 39, 2)
    assert column.arrow_type == pa.string()


@pytest.mark.parametrize(
    "invalid",
    [
        {"type": "bytes", "logicalType": "decimal"},  # no precision
        {"type": "bytes", "logicalType": "decimal", "precision": 0},
        {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 5},
        {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": -1},
        {"type": "bytes", "logicalType": "decimal", "precision": "9"},
        {"type": "fixed", "name": "F", "size": 2, "logicalType": "decimal", "precision": 5},
        {"type": "fixed", "name": "U", "size": 8, "logicalType": "uuid"},
        {"type": "fixed", "name": "D", "size": 16, "logicalType": "duration"},
        {"type": "string", "logicalType": "decimal", "precision": 4},
        {"type": "long", "logicalType": "date"},
        {"type": "bytes", "logicalType": "big-decimal"},  # Avro 1.12's, not playlog's
        {"type": "bytes", "logicalType": "no-such-type"},
    ],
)
def test_an_invalid_logical_type_is_ignored_for_its_underlying_type(
    invalid: dict[str, Any],
) -> None:
    base = {k: v for k, v in invalid.items() if k not in ("logicalType", "precision", "scale")}
    assert one(invalid) == one(base)


def test_fixed_logical_types() -> None:
    assert one({"type": "fixed", "name": "U", "size": 16, "logicalType": "uuid"}).kind == "uuid"
    duration = one({"type": "fixed", "name": "D", "size": 12, "logicalType": "duration"})
    assert (duration.kind, duration.arrow_type) == ("duration", pa.string())
    fixed = {"type": "fixed", "name": "F", "size": 2, "logicalType": "decimal", "precision": 4}
    assert one(fixed).kind == "decimal"  # 2 bytes hold 4 digits (32767), not 5


def test_enum_is_string_and_fixed_is_bytes() -> None:
    assert one({"type": "enum", "name": "Team", "symbols": ["RED"]}).kind == "string"
    assert one({"type": "fixed", "name": "Hash", "size": 16}).kind == "bytes"


def test_named_type_references_map_like_their_definition() -> None:
    team = {"type": "enum", "name": "Team", "namespace": "game", "symbols": ["RED", "BLUE"]}
    money = {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal"}
    columns = columns_of(
        record(
            {"name": "home", "type": team},
            {"name": "away", "type": "Team"},
            {"name": "rival", "type": ["null", "game.Team"], "default": None},
            {"name": "price", "type": {**money, "precision": 10, "scale": 2}},
            {"name": "refund", "type": "Money"},
        )
    )
    assert [c.kind for c in columns] == ["string", "string", "string", "decimal", "decimal"]
    assert (columns[4].precision, columns[4].scale) == (10, 2)


@pytest.mark.parametrize(
    "avro_type",
    [
        {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]},
        {"type": "array", "items": "int"},
        {"type": "map", "values": "string"},
        ["int", "string"],
        ["null", "int", "string"],
        "null",
        ["null", {"type": "array", "items": "int"}],
    ],
)
def test_complex_types_become_json(avro_type: Any) -> None:
    column = one(avro_type)
    assert column.kind == "json"
    assert column.arrow_type == pa.string()


def test_no_default() -> None:
    column = one("string")
    assert not column.has_default


def test_columns_are_lower_case_in_field_order() -> None:
    columns = columns_of(record({"name": "PlayerId", "type": "long"}, {"name": "b", "type": "int"}))
    assert [(c.name, c.field) for c in columns] == [("playerid", "PlayerId"), ("b", "b")]


def test_fields_colliding_in_lower_case_are_refused() -> None:
    schema = record({"name": "Score", "type": "int"}, {"name": "score", "type": "int"})
    with pytest.raises(BadRequest) as info:
        columns_of(schema)
    assert info.value.details == {"field": "score"}


@pytest.mark.parametrize("name", ["_event_id", "_EVENT_ID", "_received_at", "_schema_hash"])
def test_reserved_metadata_field_names_are_refused(name: str) -> None:
    with pytest.raises(BadRequest, match="reserved"):
        columns_of(record({"name": name, "type": "string"}))


@pytest.mark.parametrize(
    "schema", [{"type": "enum", "name": "E", "symbols": ["A"]}, "string", ["null", "int"]]
)
def test_non_record_schema_is_refused(schema: Any) -> None:
    with pytest.raises(BadRequest):
        columns_of(schema)


def test_a_default_of_an_invalid_logical_type_is_checked_against_its_underlying_type() -> None:
    # a "date" on a long is ignored: the field is a long, and so is its default
    schema = record({"name": "f", "type": {"type": "long", "logicalType": "date"},
                     "default": 2**40})  # fmt: skip
    assert validate_record_schema(json.dumps(schema)) == schema
    assert columns_of(schema)[0].kind == "long"
