"""Backward compatibility: the new schema (reader) must read what the old one wrote."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.avro_types import PROMOTIONS

from playlog.avro.compat import check_backward
from playlog.errors import BadRequest, IncompatibleSchema


def record(*fields: dict[str, Any], name: str = "Login") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields)}


def field(name: str, avro_type: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": avro_type, **extra}


def refused(old: dict[str, Any], new: dict[str, Any]) -> IncompatibleSchema:
    with pytest.raises(IncompatibleSchema) as info:
        check_backward(old, new)
    return info.value


BASE = record(field("player", "string"), field("score", "int"))


def test_identical_schema_is_compatible() -> None:
    check_backward(BASE, BASE)


def test_identical_complex_schema_is_compatible() -> None:
    schema = record(
        field("team", {"type": "enum", "name": "Team", "symbols": ["RED", "BLUE"]}),
        field("rival", ["null", "Team"], default=None),
        field("hash", {"type": "fixed", "name": "Hash", "size": 16}),
        field("ts", {"type": "long", "logicalType": "timestamp-millis"}),
        field("tags", {"type": "array", "items": "string"}),
        field("stats", {"type": "map", "values": "double"}),
        field("price", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
    )
    check_backward(schema, schema)


def test_added_field_with_default_is_compatible() -> None:
    check_backward(BASE, record(*BASE["fields"], field("level", "int", default=1)))


def test_added_nullable_field_with_null_default_is_compatible() -> None:
    check_backward(BASE, record(*BASE["fields"], field("clan", ["null", "string"], default=None)))


def test_added_field_without_default_is_refused() -> None:
    exc = refused(BASE, record(*BASE["fields"], field("level", "int")))
    assert exc.details == {"field": "level", "rule": "new_field_without_default"}
    assert "'level'" in exc.message
    assert exc.status == 409
    assert exc.to_json()["error"]["rule"] == "new_field_without_default"


def test_removed_field_is_compatible() -> None:
    check_backward(BASE, record(field("player", "string")))


def test_renamed_field_with_alias_is_compatible() -> None:
    check_backward(BASE, record(field("name", "string", aliases=["player"]), field("score", "int")))


def test_renamed_field_without_alias_or_default_is_refused() -> None:
    exc = refused(BASE, record(field("name", "string"), field("score", "int")))
    assert exc.details == {"field": "name", "rule": "new_field_without_default"}


@pytest.mark.parametrize(("old_type", "new_type"), PROMOTIONS)
def test_avro_promotions_are_compatible(old_type: str, new_type: str) -> None:
    check_backward(record(field("v", old_type)), record(field("v", new_type)))


def test_long_to_int_is_refused() -> None:
    exc = refused(record(field("score", "long")), record(field("score", "int")))
    assert exc.details == {"field": "score", "rule": "type_change"}
    assert "from long to int" in exc.message
    assert "int->long/float/double" in exc.message


def test_string_to_int_message_names_both_types_and_promotions() -> None:
    exc = refused(record(field("score", "string")), record(field("score", "int")))
    assert exc.message == (
        "field 'score' changes type from string to int; allowed promotions: "
        "int->long/float/double, long->float/double, float->double"
    )


@pytest.mark.parametrize(("old_type", "new_type"), [("string", "bytes"), ("bytes", "string")])
@pytest.mark.parametrize(
    "wrap",
    [
        lambda t: t,
        lambda t: ["null", t],
        lambda t: {"type": "array", "items": t},
        lambda t: {"type": "record", "name": "Note", "fields": [{"name": "text", "type": t}]},
    ],
    ids=["top-level", "nullable", "array-items", "nested-record"],
)
def test_string_bytes_promotion_is_refused_at_every_depth(
    old_type: str, new_type: str, wrap: Any
) -> None:
    """Avro reads string as bytes and back; no warehouse column (nor a JSON text
    column's values: text vs base64) follows, so playlog refuses it everywhere."""
    exc = refused(record(field("note", wrap(old_type))), record(field("note", wrap(new_type))))
    assert exc.details["rule"] == "string_bytes_change"
    assert exc.details["field"] in ("note", "note.text")
    assert f"would read old {old_type} values as {new_type}" in exc.message
    assert "no warehouse column changes between text and binary" in exc.message


def test_a_union_reads_with_its_first_matching_branch() -> None:
    """As the Avro specification and fastavro (the processor's decoder) resolve it: an
    int read by [double, int] becomes a double (a promotion, fine); bytes read by
    [int, string, bytes] would become text, even with the union unchanged."""
    check_backward(record(field("v", "int")), record(field("v", ["double", "int"])))
    either = ["int", "string", "bytes"]
    exc = refused(
        record(field("v", either)), record(field("v", either), field("n", "int", default=0))
    )
    assert exc.details == {"field": "v", "rule": "string_bytes_change"}
    assert "would read old bytes values as string" in exc.message
    exc = refused(record(field("v", "string")), record(field("v", ["bytes", "string"])))
    assert exc.details == {"field": "v", "rule": "string_bytes_change"}


def test_plain_type_to_nullable_union_is_compatible() -> None:
    old = record(field("clan", "string"))
    check_backward(old, record(field("clan", ["null", "string"], default=None)))
    # A union branch may also be reached through a promotion.
    check_backward(record(field("n", "int")), record(field("n", ["null", "long"])))


def test_nullable_union_to_plain_type_is_refused() -> None:
    exc = refused(
        record(field("clan", ["null", "string"], default=None)), record(field("clan", "string"))
    )
    assert exc.details == {"field": "clan", "rule": "type_change"}
    assert "from [null, string] to string" in exc.message


def test_union_to_wider_union_is_compatible() -> None:
    old = record(field("v", ["null", "int"]))
    check_backward(old, record(field("v", ["null", "long", "string"])))


def test_union_losing_a_branch_is_refused() -> None:
    old = record(field("v", ["null", "int", "string"]))
    exc = refused(old, record(field("v", ["null", "int"])))
    assert exc.details == {"field": "v", "rule": "type_change"}


def test_enum_symbol_removed_is_refused() -> None:
    old = record(field("team", {"type": "enum", "name": "Team", "symbols": ["RED", "BLUE"]}))
    new = record(field("team", {"type": "enum", "name": "Team", "symbols": ["RED"]}))
    exc = refused(old, new)
    assert exc.details == {"field": "team", "rule": "enum_symbols_removed"}
    assert "BLUE" in exc.message


def test_enum_symbol_removed_with_enum_default_is_compatible() -> None:
    old = record(field("team", {"type": "enum", "name": "Team", "symbols": ["RED", "BLUE"]}))
    new_enum = {"type": "enum", "name": "Team", "symbols": ["RED", "NONE"], "default": "NONE"}
    check_backward(old, record(field("team", new_enum)))


def test_enum_symbol_added_is_compatible() -> None:
    old = record(field("team", {"type": "enum", "name": "Team", "symbols": ["RED"]}))
    new = record(field("team", {"type": "enum", "name": "Team", "symbols": ["RED", "BLUE"]}))
    check_backward(old, new)


def test_enum_referenced_by_name_is_resolved() -> None:
    team = {"type": "enum", "name": "Team", "symbols": ["RED", "BLUE"]}
    old = record(field("home", team), field("away", "Team"))
    new = record(
        field("home", {**team, "symbols": ["RED", "BLUE", "GREEN"]}),
        field("away", "Team"),
    )
    check_backward(old, new)
    fewer = record(field("home", {**team, "symbols": ["RED"]}), field("away", "Team"))
    assert refused(old, fewer).details == {"field": "home", "rule": "enum_symbols_removed"}


def test_fixed_size_change_is_refused() -> None:
    old = record(field("hash", {"type": "fixed", "name": "Hash", "size": 16}))
    new = record(field("hash", {"type": "fixed", "name": "Hash", "size": 32}))
    exc = refused(old, new)
    assert exc.details == {"field": "hash", "rule": "fixed_size_change"}
    assert "from 16 to 32" in exc.message


def _with_address(*address_fields: dict[str, Any]) -> dict[str, Any]:
    address = {"type": "record", "name": "Address", "fields": list(address_fields)}
    return record(field("player", "string"), field("address", address))


def test_nested_record_field_added_without_default_is_refused_with_dotted_path() -> None:
    old = _with_address(field("country", "string"))
    new = _with_address(field("country", "string"), field("city", "string"))
    exc = refused(old, new)
    assert exc.details == {"field": "address.city", "rule": "new_field_without_default"}
    assert "'address.city'" in exc.message


def test_nested_record_field_added_with_default_is_compatible() -> None:
    old = _with_address(field("country", "string"))
    check_backward(
        old, _with_address(field("country", "string"), field("city", "string", default=""))
    )


def test_nested_type_change_inside_array_of_records_uses_dotted_path() -> None:
    item = {"type": "record", "name": "Item", "fields": [field("qty", "long")]}
    new_item = {"type": "record", "name": "Item", "fields": [field("qty", "int")]}
    old = record(field("items", {"type": "array", "items": item}))
    new = record(field("items", {"type": "array", "items": new_item}))
    assert refused(old, new).details == {"field": "items.qty", "rule": "type_change"}


def test_array_items_and_map_values_follow_promotions() -> None:
    check_backward(
        record(field("a", {"type": "array", "items": "int"})),
        record(field("a", {"type": "array", "items": "long"})),
    )
    exc = refused(
        record(field("m", {"type": "map", "values": "double"})),
        record(field("m", {"type": "map", "values": "float"})),
    )
    assert exc.details == {"field": "m", "rule": "type_change"}
    assert "from double to float" in exc.message


def test_array_to_map_is_refused() -> None:
    exc = refused(
        record(field("a", {"type": "array", "items": "int"})),
        record(field("a", {"type": "map", "values": "int"})),
    )
    assert exc.details == {"field": "a", "rule": "type_change"}
    assert "from array<int> to map<int>" in exc.message


def test_logical_type_change_is_refused() -> None:
    old = record(field("ts", {"type": "long", "logicalType": "timestamp-millis"}))
    new = record(field("ts", {"type": "long", "logicalType": "timestamp-micros"}))
    exc = refused(old, new)
    assert exc.details == {"field": "ts", "rule": "logical_type_change"}
    assert "from timestamp-millis to timestamp-micros" in exc.message


def test_adding_a_logical_type_to_a_plain_type_is_refused() -> None:
    old = record(field("ts", "long"))
    new = record(field("ts", {"type": "long", "logicalType": "timestamp-millis"}))
    assert refused(old, new).details == {"field": "ts", "rule": "logical_type_change"}


def test_removing_a_logical_type_is_refused() -> None:
    old = record(field("day", {"type": "int", "logicalType": "date"}))
    assert refused(old, record(field("day", "int"))).details == {
        "field": "day",
        "rule": "logical_type_change",
    }


DECIMAL_9_2 = {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}
FIXED_DECIMAL = {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal"}


@pytest.mark.parametrize(
    ("old_type", "new_type"),
    [
        (DECIMAL_9_2, {**DECIMAL_9_2, "precision": 12}),
        (
            {**FIXED_DECIMAL, "precision": 9, "scale": 2},
            {**FIXED_DECIMAL, "precision": 18, "scale": 2},
        ),
        (["null", DECIMAL_9_2], ["null", {**DECIMAL_9_2, "precision": 38}]),
    ],
)
def test_decimal_precision_widening_with_the_same_scale_is_compatible(
    old_type: Any, new_type: Any
) -> None:
    """The unscaled bytes do not change: every old value fits the wider DECIMAL."""
    check_backward(record(field("price", old_type)), record(field("price", new_type)))


@pytest.mark.parametrize(
    "new_type",
    [
        {**DECIMAL_9_2, "precision": 8},  # narrower: old values may not fit
        {**DECIMAL_9_2, "precision": 12, "scale": 3},  # another scale: values x10
        {**DECIMAL_9_2, "scale": 1},
    ],
)
def test_decimal_narrowing_or_rescaling_is_refused(new_type: Any) -> None:
    exc = refused(record(field("price", DECIMAL_9_2)), record(field("price", new_type)))
    assert exc.details == {"field": "price", "rule": "logical_type_change"}
    assert "decimal(9,2)" in exc.message


def test_a_field_whose_aliases_match_two_old_fields_is_refused() -> None:
    """Avro Java refuses a reader field matching several writer fields (by name or
    aliases): which value it would read is undefined."""
    old = record(field("a", "int"), field("b", "int"))
    exc = refused(old, record(field("c", "int", aliases=["a", "b"])))
    assert exc.details == {"field": "c", "rule": "ambiguous_alias"}
    assert "'a'" in exc.message and "'b'" in exc.message
    exc = refused(old, record(field("a", "int", aliases=["b"])))
    assert exc.details == {"field": "a", "rule": "ambiguous_alias"}


def test_an_invalid_logical_type_is_the_underlying_type() -> None:
    """Ignored, as the Avro specification says (the column is the underlying type's):
    a decimal without precision is bytes, and becoming a valid decimal is a change."""
    invalid = {"type": "bytes", "logicalType": "decimal"}
    check_backward(record(field("price", invalid)), record(field("price", "bytes")))
    check_backward(record(field("price", "bytes")), record(field("price", invalid)))
    check_backward(
        record(field("n", "long")), record(field("n", {"type": "long", "logicalType": "x"}))
    )
    exc = refused(record(field("price", invalid)), record(field("price", DECIMAL_9_2)))
    assert exc.details == {"field": "price", "rule": "logical_type_change"}


def test_decimal_scale_change_is_refused() -> None:
    dec = {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}
    old = record(field("price", dec))
    exc = refused(old, record(field("price", {**dec, "scale": 3})))
    assert exc.details == {"field": "price", "rule": "logical_type_change"}


def test_logical_type_inside_nullable_union_is_compared() -> None:
    old = record(field("ts", {"type": "long", "logicalType": "timestamp-millis"}))
    same = record(field("ts", ["null", {"type": "long", "logicalType": "timestamp-millis"}]))
    check_backward(old, same)
    other = record(field("ts", ["null", {"type": "long", "logicalType": "timestamp-micros"}]))
    assert refused(old, other).details == {"field": "ts", "rule": "logical_type_change"}


def test_renamed_nested_record_is_refused_unless_aliased() -> None:
    old = record(field("a", {"type": "record", "name": "Address", "fields": []}))
    renamed = {"type": "record", "name": "Place", "fields": []}
    exc = refused(old, record(field("a", renamed)))
    assert exc.details == {"field": "a", "rule": "type_change"}
    assert "record Address to record Place" in exc.message
    check_backward(old, record(field("a", {**renamed, "aliases": ["Address"]})))


def test_recursive_record_terminates() -> None:
    node = record(
        field("value", "int"),
        field("next", ["null", "Node"], default=None),
        name="Node",
    )
    check_backward(node, node)
    wider = record(
        field("value", "long"),
        field("next", ["null", "Node"], default=None),
        name="Node",
    )
    check_backward(node, wider)


def test_not_a_record_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        check_backward({"type": "string"}, BASE)
    with pytest.raises(BadRequest):
        check_backward(BASE, record(field("x", "NoSuchType")))
