"""JSON events -> Avro datums, validated as strictly as Avro itself."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from playlog.avro.json_events import encode
from playlog.errors import InvalidPayload

UTC = dt.UTC


def schema_of(*fields: dict[str, Any]) -> Any:
    return fastavro.parse_schema(
        {"type": "record", "name": "Event", "namespace": "g1", "fields": list(fields)}
    )


def field(name: str, avro_type: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": avro_type, **extra}


def roundtrip(data: Any, schema: Any) -> Any:
    """Encode as ingest does, then decode the Avro bytes back with fastavro."""
    raw = encode(data, schema, "event 0")
    return fastavro.schemaless_reader(io.BytesIO(raw), schema, None)


def refused(data: Any, schema: Any, where: str = "event 4") -> str:
    with pytest.raises(InvalidPayload) as info:
        encode(data, schema, where)
    assert info.value.status == 422
    return info.value.message


def one(avro_type: Any, value: Any) -> Any:
    return roundtrip({"f": value}, schema_of(field("f", avro_type)))["f"]


def one_refused(avro_type: Any, value: Any) -> str:
    return refused({"f": value}, schema_of(field("f", avro_type)))


TS_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
TS_MICROS = {"type": "long", "logicalType": "timestamp-micros"}
LOCAL_MILLIS = {"type": "long", "logicalType": "local-timestamp-millis"}
DATE = {"type": "int", "logicalType": "date"}
DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}
TEAM = {"type": "enum", "name": "Team", "symbols": ["RED", "BLUE"]}


# --- unions -----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("five", "five"), (None, None)])
def test_union_takes_the_bare_value(value: Any, expected: Any) -> None:
    assert one(["null", "int", "string"], value) == expected


@pytest.mark.parametrize("value", [1.5, True, [1]])
def test_union_value_matching_no_branch_is_refused(value: Any) -> None:
    assert one_refused(["null", "int", "string"], value) == (
        f"event 4: f: {value!r} matches no branch of union"
    )


def test_union_with_a_reference_to_a_named_type() -> None:
    schema = schema_of(field("team", TEAM), field("rival", ["null", "Team"], default=None))
    assert roundtrip({"team": "RED", "rival": "BLUE"}, schema) == {"team": "RED", "rival": "BLUE"}
    assert refused({"team": "RED", "rival": "GREEN"}, schema) == (
        "event 4: rival: 'GREEN' matches no branch of union"
    )


def test_field_typed_by_reference_to_a_named_record() -> None:
    pos = {"type": "record", "name": "Pos", "fields": [field("x", "int")]}
    schema = schema_of(field("start", pos), field("end", "Pos"))
    assert roundtrip({"start": {"x": 1}, "end": {"x": 2}}, schema) == {
        "start": {"x": 1},
        "end": {"x": 2},
    }
    assert refused({"start": {"x": 1}, "end": {"x": "2"}}, schema) == (
        "event 4: end.x: expected int, got str '2'"
    )


# --- bytes and fixed ------------------------------------------------------------------


def test_bytes_are_base64() -> None:
    assert one("bytes", "AAEC/w==") == b"\x00\x01\x02\xff"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("!!", "not valid base64"), ("AAE", "not valid base64"), (7, "expected base64 text")],
)
def test_bytes_that_are_not_base64_are_refused(value: Any, problem: str) -> None:
    assert one_refused("bytes", value) == f"event 4: f: {problem}"


def test_fixed_checks_the_size() -> None:
    fixed = {"type": "fixed", "name": "Hash", "size": 4}
    assert one(fixed, "AQIDBA==") == b"\x01\x02\x03\x04"
    assert one_refused(fixed, "AQID") == "event 4: f: fixed needs 4 bytes, got 3"


# --- timestamps and dates -------------------------------------------------------------


def test_timestamp_as_epoch_integer_in_the_schema_unit() -> None:
    assert one(TS_MILLIS, 1_704_164_645_678) == dt.datetime(2024, 1, 2, 3, 4, 5, 678_000, UTC)
    assert one(TS_MICROS, 1_704_164_645_678_901) == dt.datetime(2024, 1, 2, 3, 4, 5, 678_901, UTC)


@pytest.mark.parametrize(
    "text",
    ["2024-01-02T03:04:05.678Z", "2024-01-02T04:04:05.678+01:00", "2024-01-01T22:04:05.678-05:00"],
)
def test_timestamp_as_rfc3339_string_with_z_or_offset(text: str) -> None:
    assert one(TS_MILLIS, text) == dt.datetime(2024, 1, 2, 3, 4, 5, 678_000, UTC)


def test_naive_timestamp_string_is_refused() -> None:
    assert one_refused(TS_MILLIS, "2024-01-02T03:04:05") == (
        "event 4: f: timestamp '2024-01-02T03:04:05' needs a UTC offset (e.g. Z)"
    )


def test_timestamp_string_that_is_not_a_date_is_refused() -> None:
    assert one_refused(TS_MICROS, "yesterday") == (
        "event 4: f: 'yesterday' is not an RFC 3339 timestamp"
    )


def test_timestamp_as_boolean_is_refused() -> None:
    assert one_refused(TS_MILLIS, True) == "event 4: f: expected long, got a boolean"


def test_local_timestamp_string_keeps_the_wall_clock() -> None:
    assert one(LOCAL_MILLIS, "2024-01-02T03:04:05.678") == dt.datetime(2024, 1, 2, 3, 4, 5, 678_000)
    assert one(LOCAL_MILLIS, 86_400_000) == dt.datetime(1970, 1, 2)


def test_date_as_iso_string_or_days() -> None:
    assert one(DATE, "2024-02-29") == dt.date(2024, 2, 29)
    assert one(DATE, 1) == dt.date(1970, 1, 2)
    assert one_refused(DATE, "2023-02-29") == "event 4: f: '2023-02-29' is not an ISO date"


# --- decimals, enums -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.34", "12.34"), ("-0.5", "-0.50"), (7, "7.00"), ("9999.99", "9999.99")],
)
def test_decimal_from_string_or_number(value: Any, expected: str) -> None:
    assert one(DECIMAL, value) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "event 4: f: 'abc' is not a decimal"),
        ("1.234", "event 4: f: 1.234 has more than 2 decimal places"),
        ("10000", "event 4: f: 10000 does not fit decimal(6,2)"),
        ("NaN", "event 4: f: NaN is not a finite decimal"),
    ],
)
def test_decimal_out_of_the_schema_is_refused(value: str, message: str) -> None:
    assert one_refused(DECIMAL, value) == message


def test_enum_symbol_is_checked() -> None:
    assert one(TEAM, "BLUE") == "BLUE"
    assert one_refused(TEAM, "GREEN") == "event 4: f: 'GREEN' is not one of ['RED', 'BLUE']"


# --- records ---------------------------------------------------------------------------


PLAYER = {
    "type": "record",
    "name": "Player",
    "fields": [
        field("id", "long"),
        field("tag", "bytes", default=""),
        field("lvl", "int", default=3),
    ],
}


def test_unknown_field_is_refused() -> None:
    schema = schema_of(field("player", PLAYER))
    assert refused({"player": {"id": 1}, "extra": 1}, schema) == (
        "event 4: data: unknown field(s) ['extra']"
    )
    assert refused({"player": {"id": 1, "nick": "x"}}, schema) == (
        "event 4: player: unknown field(s) ['nick']"
    )


def test_missing_field_without_default_is_refused() -> None:
    schema = schema_of(field("player", PLAYER), field("score", "int"))
    assert refused({"player": {"id": 1}}, schema) == (
        "event 4: score: missing (the field has no default)"
    )
    assert refused({"player": {}, "score": 1}, schema) == (
        "event 4: player.id: missing (the field has no default)"
    )


def test_missing_fields_with_defaults_are_filled_including_a_bytes_default() -> None:
    schema = schema_of(
        field("player", PLAYER),
        field("clan", ["null", "string"], default=None),
        field("tags", {"type": "array", "items": "string"}, default=[]),
    )
    assert roundtrip({"player": {"id": 9}}, schema) == {
        "player": {"id": 9, "tag": b"", "lvl": 3},
        "clan": None,
        "tags": [],
    }


def test_nested_paths_name_array_items_and_map_keys() -> None:
    schema = schema_of(
        field("scores", {"type": "array", "items": "int"}),
        field("stats", {"type": "map", "values": "long"}),
    )
    assert refused({"scores": [1, "2"], "stats": {}}, schema) == (
        "event 4: scores[1]: expected int, got str '2'"
    )
    assert refused({"scores": [], "stats": {"hp": 1.5}}, schema) == (
        "event 4: stats.hp: expected long, got float 1.5"
    )


def test_data_that_is_not_an_object_is_refused() -> None:
    assert refused([1, 2], schema_of(field("f", "int"))) == "event 4: data: expected an object"


# --- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-(2**31), 2**31 - 1])
def test_int_range_edges_are_accepted(value: int) -> None:
    assert one("int", value) == value


@pytest.mark.parametrize("value", [-(2**31) - 1, 2**31])
def test_int_out_of_range_is_refused(value: int) -> None:
    assert one_refused("int", value) == f"event 4: f: {value} does not fit an Avro int"


def test_long_range_is_checked() -> None:
    assert one("long", 2**63 - 1) == 2**63 - 1
    assert one_refused("long", 2**63) == f"event 4: f: {2**63} does not fit an Avro long"


@pytest.mark.parametrize("kind", ["int", "long", "float", "double"])
def test_boolean_is_not_a_number(kind: str) -> None:
    assert one_refused(kind, True) == f"event 4: f: expected {kind}, got a boolean"


def test_float_takes_integers_but_int_refuses_floats() -> None:
    assert one("double", 2) == 2.0
    assert one_refused("int", 2.0) == "event 4: f: expected int, got float 2.0"


def test_string_refuses_numbers_and_null() -> None:
    assert one_refused("string", 5) == "event 4: f: expected string, got int 5"
    assert one_refused("string", None) == "event 4: f: expected string, got NoneType None"


def test_encoded_bytes_are_the_avro_binary_datum() -> None:
    schema = schema_of(field("n", "int"), field("s", "string"))
    # zig-zag 3 = 0x06; string "hi" = length 2 (0x04) + bytes
    assert encode({"n": 3, "s": "hi"}, schema, "event 0") == b"\x06\x04hi"


# --- values that would break later: refused now, never a 500 -------------------------
# Each of these once got past the checks and raised in fastavro (while encoding: a
# 500; while decoding in the processor: a dead letter) or hung it.

LOCAL_MICROS = {"type": "long", "logicalType": "local-timestamp-micros"}
TIME_MILLIS = {"type": "int", "logicalType": "time-millis"}
TIME_MICROS = {"type": "long", "logicalType": "time-micros"}
FIRST = dt.datetime(1, 1, 1, tzinfo=UTC)
LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def epoch(moment: dt.datetime, unit: dt.timedelta) -> int:
    return (moment - EPOCH) // unit


MS, US = dt.timedelta(milliseconds=1), dt.timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1E+999999999", "event 4: f: 1E+999999999 does not fit decimal(6,2)"),  # Overflow
        ("1E-999999999", "event 4: f: 1E-999999999 has more than 2 decimal places"),
        ("-1E+7", "event 4: f: -1E+7 does not fit decimal(6,2)"),
    ],
)
def test_decimal_with_an_extreme_exponent_is_refused(value: str, message: str) -> None:
    assert one_refused(DECIMAL, value) == message


@pytest.mark.parametrize(
    "value", ["0E+999999999", "0E-999999999", "-0", "1.000000000", "1234.500000000000"]
)
def test_decimal_zero_with_any_exponent_and_trailing_zeros_are_accepted(value: str) -> None:
    """0E+999999999 made fastavro compute 10**999999999 (a hang); trailing zeros
    beyond the precision made it raise a bare ValueError."""
    assert one(DECIMAL, value) == Decimal(value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [("float", 10**400), ("double", 10**400), ("float", 1e39), ("float", -1e39)],
    ids=["float 10**400", "double 10**400", "float 1e39", "float -1e39"],
)
def test_number_too_large_for_its_float_type_is_refused(kind: str, value: Any) -> None:
    message = one_refused(kind, value)
    assert message.startswith("event 4: f: ") and message.endswith(f"does not fit an Avro {kind}")
    assert len(message) < 200  # the digits are not all repeated back


def test_float_and_double_edges_are_accepted() -> None:
    assert one("float", 3.4e38) == pytest.approx(3.4e38, rel=1e-6)
    assert one("double", 1e308) == 1e308
    assert one("double", float("inf")) == float("inf")  # JSON "Infinity": Avro holds it


@pytest.mark.parametrize(
    ("avro_type", "value", "unit"),
    [
        (TS_MILLIS, 2**62, "millis"),
        (TS_MILLIS, -(2**62), "millis"),
        (TS_MILLIS, epoch(LAST, MS) + 1, "millis"),
        (TS_MILLIS, epoch(FIRST, MS) - 1, "millis"),
        (TS_MICROS, 2**62, "micros"),
        (TS_MICROS, epoch(FIRST, US) - 1, "micros"),
        (LOCAL_MILLIS, 2**62, "millis"),
        (LOCAL_MICROS, epoch(LAST, US) + 1, "micros"),
        (DATE, 2**31 - 1, "days"),
        (DATE, -(2**31), "days"),
        (DATE, (LAST - EPOCH).days + 1, "days"),
    ],
)
def test_timestamp_or_date_outside_the_years_1_to_9999_is_refused(
    avro_type: Any, value: int, unit: str
) -> None:
    assert one_refused(avro_type, value) == (
        f"event 4: f: {value} {unit} is outside the years 1 to 9999"
    )


@pytest.mark.parametrize(
    ("avro_type", "value", "expected"),
    [
        (TS_MILLIS, epoch(FIRST, MS), FIRST),
        (TS_MILLIS, epoch(LAST, MS), LAST.replace(microsecond=999_000)),
        (TS_MICROS, epoch(FIRST, US), FIRST),
        (TS_MICROS, epoch(LAST, US), LAST),
        (LOCAL_MICROS, epoch(LAST, US), LAST.replace(tzinfo=None)),
        (DATE, (FIRST - EPOCH).days, dt.date(1, 1, 1)),
        (DATE, (LAST - EPOCH).days, dt.date(9999, 12, 31)),
        (TS_MILLIS, "0001-01-01T00:00:00Z", FIRST),
        (TS_MICROS, "9999-12-31T23:59:59.999999+00:00", LAST),
        (LOCAL_MILLIS, "0001-01-01T00:00:00+01:00", dt.datetime(1, 1, 1)),  # wall clock
    ],
)
def test_timestamp_and_date_edges_round_trip(avro_type: Any, value: Any, expected: Any) -> None:
    assert one(avro_type, value) == expected


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01"])
def test_timestamp_string_outside_the_years_1_to_9999_in_utc_is_refused(text: str) -> None:
    assert one_refused(TS_MILLIS, text) == (
        f"event 4: f: {text!r} is outside the years 1 to 9999 in UTC"
    )


@pytest.mark.parametrize(
    ("avro_type", "value", "message"),
    [
        (TIME_MILLIS, -1, "event 4: f: -1 millis is outside one day"),
        (TIME_MILLIS, 86_400_000, "event 4: f: 86400000 millis is outside one day"),
        (TIME_MICROS, 2**62, f"event 4: f: {2**62} micros is outside one day"),
    ],
)
def test_time_outside_one_day_is_refused(avro_type: Any, value: int, message: str) -> None:
    assert one_refused(avro_type, value) == message


def test_time_edges_round_trip() -> None:
    assert one(TIME_MILLIS, 0) == dt.time(0)
    assert one(TIME_MICROS, 86_399_999_999) == dt.time(23, 59, 59, 999_999)


def test_out_of_range_timestamp_nested_in_an_array_names_the_item() -> None:
    schema = schema_of(field("hits", {"type": "array", "items": TS_MILLIS}))
    assert refused({"hits": [0, 2**62]}, schema) == (
        f"event 4: hits[1]: {2**62} millis is outside the years 1 to 9999"
    )


def test_text_with_a_lone_surrogate_is_refused() -> None:
    """JSON may escape a lone surrogate (\\ud800); it has no UTF-8 encoding."""
    assert one_refused("string", "a\ud800") == (
        "event 4: f: text is not valid Unicode (surrogates not allowed)"
    )
    assert one_refused({"type": "map", "values": "int"}, {"\udfff": 1}) == (
        "event 4: f: text is not valid Unicode (surrogates not allowed)"
    )


def test_a_huge_value_is_not_repeated_whole_in_the_message() -> None:
    message = one_refused("int", "x" * 1_000_000)
    assert message.startswith("event 4: f: expected int, got str 'xxx") and len(message) < 200
