"""Registration refuses a default its field's type cannot hold (422 naming the field):
such a default would reach a table column or a reader and fail there, much later."""

from __future__ import annotations

import json
from typing import Any

import pytest

from playlog.avro.defaults import check_defaults
from playlog.avro.schema import validate_record_schema
from playlog.errors import InvalidDefault


def record(field_type: Any, default: Any) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "e",
        "fields": [{"name": "a", "type": field_type, "default": default}],
    }


BAD = [
    ("int", 2**70),
    ("int", 2**31),
    ("int", 1.5),
    ("int", True),
    ("long", 2**63),
    ("long", "1"),
    ("float", 1e39),
    ("double", float("nan")),
    ("double", float("inf")),
    ("boolean", 0),
    ("string", 3),
    ("null", 0),
    ("bytes", "\u0100"),
    ({"type": "fixed", "name": "f4", "size": 4}, "abc"),
    ({"type": "enum", "name": "colour", "symbols": ["RED", "BLUE"]}, "GREEN"),
    ({"type": "array", "items": "int"}, [1, "x"]),
    ({"type": "map", "values": "int"}, {"k": 2**40}),
    (["null", "int"], "x"),
    ({"type": "long", "logicalType": "timestamp-millis"}, 146_000_000_000_000 * 1000),
    ({"type": "long", "logicalType": "timestamp-micros"}, -62_200_000_000_000_000),
    ({"type": "int", "logicalType": "date"}, 3_000_000),
    ({"type": "int", "logicalType": "time-millis"}, 86_400_000),
    ({"type": "long", "logicalType": "time-micros"}, -1),
    ({"type": "string", "logicalType": "uuid"}, "not-a-uuid"),  # its column is a UUID
    (
        {"type": "record", "name": "inner", "fields": [{"name": "x", "type": "int"}]},
        {"y": 1},
    ),
]


@pytest.mark.parametrize(("field_type", "default"), BAD, ids=[repr(b)[:40] for b in BAD])
def test_a_default_the_type_cannot_hold_is_refused(field_type: Any, default: Any) -> None:
    with pytest.raises(InvalidDefault) as caught:
        check_defaults(record(field_type, default))
    assert caught.value.status == 422
    assert caught.value.details["field"] == "a"


GOOD = [
    ("int", -(2**31)),
    ("long", 2**63 - 1),
    ("float", 1),
    ("double", 1e300),
    ("boolean", False),
    ("string", ""),
    ("null", None),
    ("bytes", "\u00ff\u0000"),
    ({"type": "fixed", "name": "f2", "size": 2}, "\u00ff\u0000"),
    ({"type": "enum", "name": "colour", "symbols": ["RED", "BLUE"]}, "BLUE"),
    ({"type": "array", "items": "int"}, [1, 2]),
    ({"type": "map", "values": "string"}, {"k": "v"}),
    (["null", "int"], None),
    (["int", "null"], 3),
    ({"type": "long", "logicalType": "timestamp-millis"}, 1_764_151_200_000),
    ({"type": "int", "logicalType": "date"}, 20_000),
    ({"type": "string", "logicalType": "uuid"}, "1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
    ({"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}, "\u0001"),
    (
        {
            "type": "record",
            "name": "inner",
            "fields": [{"name": "x", "type": "int"}, {"name": "y", "type": "int", "default": 0}],
        },
        {"x": 1},
    ),
]


@pytest.mark.parametrize(("field_type", "default"), GOOD, ids=[repr(g)[:40] for g in GOOD])
def test_a_default_the_type_holds_is_accepted(field_type: Any, default: Any) -> None:
    check_defaults(record(field_type, default))


def test_a_nested_records_field_default_is_checked_and_named() -> None:
    inner = {
        "type": "record",
        "name": "inner",
        "fields": [{"name": "deep", "type": "int", "default": "no"}],
    }
    with pytest.raises(InvalidDefault) as caught:
        check_defaults({"type": "record", "name": "e", "fields": [{"name": "a", "type": inner}]})
    assert caught.value.details["field"] == "a.deep"


def test_a_named_type_referenced_later_is_checked_by_its_definition() -> None:
    colour = {"type": "enum", "name": "colour", "symbols": ["RED"]}
    schema = {
        "type": "record",
        "name": "e",
        "fields": [
            {"name": "a", "type": colour},
            {"name": "b", "type": "colour", "default": "BLUE"},
        ],
    }
    with pytest.raises(InvalidDefault, match="'b'"):
        check_defaults(schema)


def test_registration_validation_checks_defaults() -> None:
    with pytest.raises(InvalidDefault):
        validate_record_schema(json.dumps(record("int", 2**70)))
    # NaN and 1e400 arrive as JSON tokens, not Python floats
    with pytest.raises(InvalidDefault):
        validate_record_schema(
            '{"type":"record","name":"e","fields":[{"name":"a","type":"double","default":NaN}]}'
        )
    with pytest.raises(InvalidDefault):
        validate_record_schema(
            '{"type":"record","name":"e","fields":[{"name":"a","type":"double","default":1e400}]}'
        )
