"""Single-object encoded events: C3 01 + 8-byte fingerprint + datum, back to back."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from playlog.avro import single_object
from playlog.errors import InvalidPayload, UnknownSchema

LOGIN_V1 = {
    "type": "record",
    "name": "Login",
    "fields": [{"name": "player", "type": "string"}, {"name": "score", "type": "int"}],
}
LOGIN_V2 = {
    "type": "record",
    "name": "Login",
    "fields": [
        {"name": "player", "type": "string"},
        {"name": "score", "type": "long"},  # promoted
        {"name": "level", "type": "int", "default": 1},  # added with a default
    ],
}
QUIT = {
    "type": "record",
    "name": "Quit",
    "fields": [
        {"name": "reason", "type": ["null", {"type": "enum", "name": "R", "symbols": ["A"]}]},
        {"name": "note", "type": "string"},
    ],
}


def fp(schema: dict[str, Any]) -> str:
    return str(fingerprint(to_parsing_canonical_form(fastavro.parse_schema(schema)), "CRC-64-AVRO"))


SCHEMAS = {fp(s): fastavro.parse_schema(s) for s in (LOGIN_V1, LOGIN_V2, QUIT)}


def writer_for(fingerprint_hex: str) -> Any:
    try:
        return SCHEMAS[fingerprint_hex]
    except KeyError:
        raise UnknownSchema(f"schema {fingerprint_hex} is not registered") from None


def datum(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def event(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    # Framed by hand, independently of single_object.frame.
    return b"\xc3\x01" + bytes.fromhex(fp(schema)) + datum(schema, record)


def refused(body: bytes) -> str:
    with pytest.raises(InvalidPayload) as info:
        list(single_object.decode(body, writer_for))
    return info.value.message


def test_frame_matches_the_spec_layout() -> None:
    payload = datum(LOGIN_V1, {"player": "ann", "score": 3})
    assert single_object.frame(fp(LOGIN_V1), payload) == event(
        LOGIN_V1, {"player": "ann", "score": 3}
    )


def test_decode_yields_every_event_with_its_fingerprint_in_order() -> None:
    body = (
        event(LOGIN_V1, {"player": "ann", "score": 3})
        + event(QUIT, {"reason": "A", "note": "bye"})
        + event(LOGIN_V1, {"player": "bob", "score": -7})
    )
    assert list(single_object.decode(body, writer_for)) == [
        (fp(LOGIN_V1), {"player": "ann", "score": 3}),
        (fp(QUIT), {"reason": "A", "note": "bye"}),
        (fp(LOGIN_V1), {"player": "bob", "score": -7}),
    ]


def test_count_per_fingerprint() -> None:
    body = (
        event(LOGIN_V1, {"player": "ann", "score": 3})
        + event(QUIT, {"reason": None, "note": ""})
        + event(LOGIN_V1, {"player": "bob", "score": 4})
    )
    assert single_object.count(body, writer_for) == {fp(LOGIN_V1): 2, fp(QUIT): 1}


def test_empty_body_holds_no_events() -> None:
    assert single_object.count(b"", writer_for) == {}


def test_resolution_to_a_reader_schema_fills_the_added_field() -> None:
    body = event(LOGIN_V1, {"player": "ann", "score": 3}) + event(
        LOGIN_V2, {"player": "bob", "score": 2**40, "level": 9}
    )
    latest = SCHEMAS[fp(LOGIN_V2)]
    records = list(single_object.decode(body, writer_for, lambda _fp: latest))
    assert records == [
        (fp(LOGIN_V1), {"player": "ann", "score": 3, "level": 1}),
        (fp(LOGIN_V2), {"player": "bob", "score": 2**40, "level": 9}),
    ]


def test_reader_lookup_returning_none_reads_as_written() -> None:
    body = event(LOGIN_V1, {"player": "ann", "score": 3})
    records = list(single_object.decode(body, writer_for, lambda _fp: None))
    assert records == [(fp(LOGIN_V1), {"player": "ann", "score": 3})]


def test_unknown_fingerprint_propagates_the_lookup_error() -> None:
    body = event(LOGIN_V1, {"player": "ann", "score": 3}) + b"\xc3\x01" + b"\x11" * 8 + b"\x00"
    with pytest.raises(UnknownSchema, match="schema 1111111111111111 is not registered"):
        single_object.count(body, writer_for)


@pytest.mark.parametrize("cut", [1, 5, 11])
def test_truncated_datum_is_refused(cut: int) -> None:
    first = event(LOGIN_V1, {"player": "ann", "score": 3})
    second = event(QUIT, {"reason": "A", "note": "a longer note"})
    message = refused(first + second[: len(second) - cut])
    assert message.startswith(
        f"event 1 at byte {len(first)}: datum does not match schema {fp(QUIT)}"
    )


@pytest.mark.parametrize("cut", [1, 4, 9])
def test_truncated_header_is_refused(cut: int) -> None:
    first = event(LOGIN_V1, {"player": "ann", "score": 3})
    message = refused(first + event(QUIT, {"reason": None, "note": ""})[:cut])
    assert message.startswith(f"event 1 at byte {len(first)}: not single-object encoded")


@pytest.mark.parametrize("marker", [b"\xc3\x00", b"\x00\x01", b"Ob"])
def test_bad_marker_is_refused(marker: bytes) -> None:
    body = marker + event(LOGIN_V1, {"player": "ann", "score": 3})[2:]
    assert refused(body).startswith("event 0 at byte 0: not single-object encoded")


@pytest.mark.parametrize(
    ("schema", "raw"),
    [
        (QUIT, b"\x08\x00"),  # union branch 4 of 2
        (QUIT, b"\x02\x04\x00"),  # enum symbol 2 of 1
        (LOGIN_V1, b"\x02\xff\x02"),  # player is not UTF-8
    ],
)
def test_datum_not_matching_its_schema_is_refused(schema: dict[str, Any], raw: bytes) -> None:
    body = b"\xc3\x01" + bytes.fromhex(fp(schema)) + raw
    assert refused(body).startswith(f"event 0 at byte 0: datum does not match schema {fp(schema)}")


def test_decode_is_lazy_so_events_before_damage_come_out() -> None:
    good = event(LOGIN_V1, {"player": "ann", "score": 3})
    events = single_object.decode(good + b"\xc3", writer_for)
    assert next(events) == (fp(LOGIN_V1), {"player": "ann", "score": 3})
    with pytest.raises(InvalidPayload):
        next(events)


# --- values fastavro cannot turn into Python: refused, never a 500 ------------------------

STAMPED = {
    "type": "record",
    "name": "Stamped",
    "fields": [
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    ],
}
# The same fields without logical types: writes any long / int as it is.
STAMPED_RAW = {
    "type": "record",
    "name": "Stamped",
    "fields": [{"name": "at", "type": "long"}, {"name": "day", "type": "int"}],
}


@pytest.mark.parametrize(
    ("at", "day"),
    [(2**62, 0), (-(2**62), 0), (0, 2**31 - 1), (0, -(2**31))],
    ids=["timestamp 2**62", "timestamp -2**62", "date 2**31-1", "date -2**31"],
)
def test_datum_whose_timestamp_or_date_python_cannot_hold_is_refused(at: int, day: int) -> None:
    """Logical types are not in the fingerprint: a client may write any long."""
    assert fp(STAMPED) == fp(STAMPED_RAW)
    good = event(STAMPED_RAW, {"at": 0, "day": 0})
    body = good + event(STAMPED_RAW, {"at": at, "day": day})
    with pytest.raises(InvalidPayload) as info:
        list(single_object.decode(body, lambda _fp: fastavro.parse_schema(STAMPED)))
    assert info.value.status == 422
    assert info.value.message.startswith(
        f"event 1 at byte {len(good)}: datum does not match schema {fp(STAMPED)}"
    )
