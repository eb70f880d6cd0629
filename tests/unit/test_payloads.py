"""Event bodies -> one validated data-topic value: gzip, content types, limits, schemas.

The registry is the real one (SQLite catalog in tmp_path); schemas are registered the
way the HTTP API registers them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from playlog.avro import single_object
from playlog.avro.schema import EventSchema
from playlog.errors import (
    BadRequest,
    InvalidPayload,
    PayloadTooLarge,
    PlaylogError,
    UnknownSchema,
    UnsupportedMediaType,
)
from playlog.ingest.payloads import decompress, parse
from playlog.process.transform import FORMAT_OCF, FORMAT_SINGLE_OBJECT
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry

GAME = "g1"
OTHER = "g2"
TS = {"type": "long", "logicalType": "timestamp-millis"}
LOGIN_V1 = {
    "type": "record",
    "name": "login",
    "fields": [{"name": "player", "type": "string"}, {"name": "level", "type": "int"}],
}
LOGIN_V2 = {
    "type": "record",
    "name": "login",
    "fields": [
        *LOGIN_V1["fields"],
        {"name": "ts", "type": ["null", TS], "default": None},
        {"name": "avatar", "type": ["null", "bytes"], "default": None},
    ],
}
KILL = {"type": "record", "name": "kill", "fields": [{"name": "distance", "type": "double"}]}
# registered for OTHER only
QUIT = {"type": "record", "name": "quit", "fields": [{"name": "at", "type": "long"}]}

OCF = "application/avro"
SOE = "application/vnd.apache.avro+binary"
JSON = "application/json"


class Env:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        for game in (GAME, OTHER):
            registry.catalog.add_game(game)
        self.login_v1, _ = registry.register(GAME, "login", json.dumps(LOGIN_V1))
        self.login_v2, _ = registry.register(GAME, "login", json.dumps(LOGIN_V2))
        self.kill, _ = registry.register(GAME, "kill", json.dumps(KILL))
        self.quit, _ = registry.register(OTHER, "quit", json.dumps(QUIT))

    def parse(self, content_type: str, body: bytes, max_events: int = 100) -> Any:
        return parse(self.registry, GAME, content_type, body, max_events)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        yield Env(Registry(catalog, None))
    finally:
        catalog.close()


def container(schema: dict[str, Any], rows: list[dict[str, Any]], codec: str = "null") -> bytes:
    out = io.BytesIO()  # a fresh buffer: fastavro appends to a non-empty one
    fastavro.writer(out, fastavro.parse_schema(schema), rows, codec=codec)
    return out.getvalue()


def soe(schema: EventSchema, datum: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema.parsed, datum)
    return single_object.frame(schema.fingerprint, out.getvalue())


def logins(n: int) -> list[dict[str, Any]]:
    return [{"player": f"p{i}", "level": i} for i in range(n)]


def refused(kind: type[PlaylogError], call: Any, *args: Any) -> PlaylogError:
    with pytest.raises(kind) as caught:
        call(*args)
    return caught.value


# --- decompress ----------------------------------------------------------------------


def test_gzip_body_is_inflated() -> None:
    body = b'[{"event_type": "kill"}]' * 50
    assert decompress(gzip.compress(body), "gzip", len(body)) == body  # exactly the limit
    assert decompress(gzip.compress(body), " GZip ", 10_000) == body
    assert decompress(body, "", 10) == body  # no encoding: as it came, no limit here
    assert decompress(body, "identity", 10) == body


def test_gzip_members_back_to_back_are_all_inflated() -> None:
    """``cat a.gz b.gz`` is valid gzip: dropping the second member would lose events."""
    assert decompress(gzip.compress(b"abc") + gzip.compress(b"def"), "gzip", 6) == b"abcdef"
    error = refused(
        PayloadTooLarge, decompress, gzip.compress(b"abc") + gzip.compress(b"def"), "gzip", 5
    )
    assert error.status == 413


def test_gzip_bomb_is_refused_past_the_limit() -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)
    assert len(bomb) < 10_000
    error = refused(PayloadTooLarge, decompress, bomb, "gzip", 1_000_000)
    assert error.status == 413 and error.details == {"limit": 1_000_000}
    refused(PayloadTooLarge, decompress, gzip.compress(b"x" * 11), "gzip", 10)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (gzip.compress(b"x" * 1000)[:-4], "truncated"),  # the trailer's size is missing
        (gzip.compress(b"x" * 1000)[:12], "truncated"),
        (b"plain text, not gzip", "not valid gzip"),
        (gzip.compress(b"abc") + b"trailing junk", "not valid gzip"),
    ],
    ids=["no trailer", "half", "not gzip", "junk after"],
)
def test_damaged_gzip_is_a_bad_request(body: bytes, message: str) -> None:
    error = refused(BadRequest, decompress, body, "gzip", 1_000_000)
    assert type(error) is BadRequest and error.status == 400
    assert message in error.message


def test_unknown_content_encoding_is_a_bad_request() -> None:
    error = refused(BadRequest, decompress, b"abc", "br", 100)
    assert type(error) is BadRequest and "'br'" in error.message


# --- parse: the three formats ----------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [OCF, "avro/binary", "application/avro; charset=binary", "Application/Avro"],
)
def test_ocf_containers_are_counted_and_kept_as_they_came(env: Env, content_type: str) -> None:
    body = (
        container(LOGIN_V1, logins(3))
        + container(KILL, [{"distance": 1.0}] * 2, "deflate")
        + container(LOGIN_V2, [{"player": "x", "level": 1, "ts": None, "avatar": None}])
    )
    batch = env.parse(content_type, body)
    assert (batch.format, batch.value, batch.count) == (FORMAT_OCF, body, 6)


@pytest.mark.parametrize("content_type", [SOE, f"{SOE}; charset=binary"])
def test_single_object_events_are_counted_and_kept_as_they_came(
    env: Env, content_type: str
) -> None:
    body = soe(env.login_v1, {"player": "a", "level": 1}) + soe(env.kill, {"distance": 2.0})
    batch = env.parse(content_type, body)
    assert (batch.format, batch.value, batch.count) == (FORMAT_SINGLE_OBJECT, body, 2)


@pytest.mark.parametrize("content_type", [JSON, "application/json; charset=utf-8"])
def test_json_becomes_single_object_events_that_decode_to_the_same_data(
    env: Env, content_type: str
) -> None:
    events = [
        {
            "event_type": "login",
            "data": {"player": "ann", "level": 3, "ts": "2026-11-26T10:00:00Z"},
        },
        {"event_type": "kill", "data": {"distance": 7.5}},
        # pinned to the older version
        {
            "event_type": "login",
            "data": {"player": "bo", "level": 4},
            "schema": env.login_v1.fingerprint,
        },
        {"event_type": "login", "data": {"player": "cy", "level": 5, "avatar": "AAH/"}},
    ]
    batch = env.parse(content_type, json.dumps(events).encode())
    assert (batch.format, batch.count) == (FORMAT_SINGLE_OBJECT, 4)

    writers = {s.fingerprint: s for s in (env.login_v1, env.login_v2, env.kill)}
    decoded = list(single_object.decode(batch.value, lambda fp: writers[fp].parsed))
    ts = dt.datetime(2026, 11, 26, 10, tzinfo=dt.UTC)
    assert decoded == [
        (env.login_v2.fingerprint, {"player": "ann", "level": 3, "ts": ts, "avatar": None}),
        (env.kill.fingerprint, {"distance": 7.5}),
        (env.login_v1.fingerprint, {"player": "bo", "level": 4}),
        (
            env.login_v2.fingerprint,
            {"player": "cy", "level": 5, "ts": None, "avatar": b"\0\x01\xff"},
        ),
    ]


# --- parse: refusals -------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/jsonx", "avro"])
def test_unknown_content_type_is_415(env: Env, content_type: str) -> None:
    error = refused(UnsupportedMediaType, env.parse, content_type, b"[]")
    assert error.status == 415


@pytest.mark.parametrize("content_type", [OCF, SOE, JSON])
def test_empty_body_is_invalid(env: Env, content_type: str) -> None:
    error = refused(InvalidPayload, env.parse, content_type, b"")
    assert error.status == 422


def test_zero_events_is_invalid(env: Env) -> None:
    assert refused(InvalidPayload, env.parse, JSON, b"[]").message == "the body holds no events"
    assert refused(InvalidPayload, env.parse, OCF, container(KILL, [])).message == (
        "the body holds no events"
    )


def four_events(env: Env, content_type: str) -> bytes:
    if content_type == OCF:
        return container(LOGIN_V1, logins(2)) + container(LOGIN_V1, logins(2))
    if content_type == SOE:
        return soe(env.kill, {"distance": 1.0}) * 4
    return json.dumps([{"event_type": "kill", "data": {"distance": 1.0}}] * 4).encode()


@pytest.mark.parametrize("content_type", [OCF, SOE, JSON])
def test_more_events_than_the_limit_is_413(env: Env, content_type: str) -> None:
    body = four_events(env, content_type)
    assert env.parse(content_type, body, max_events=4).count == 4
    error = refused(PayloadTooLarge, env.parse, content_type, body, 3)
    assert error.status == 413 and error.details == {"limit": 3}


def test_ocf_schema_registered_for_another_game_is_unknown(env: Env) -> None:
    body = container(LOGIN_V1, logins(1)) + container(QUIT, [{"at": 1}])
    assert parse(env.registry, OTHER, OCF, container(QUIT, [{"at": 1}]), 10).count == 1
    error = refused(UnknownSchema, env.parse, OCF, body)
    assert error.status == 422 and error.details == {"fingerprint": env.quit.fingerprint}


def test_single_object_schema_of_another_game_is_unknown(env: Env) -> None:
    error = refused(UnknownSchema, env.parse, SOE, soe(env.quit, {"at": 1}))
    assert error.details == {"fingerprint": env.quit.fingerprint}


def test_json_pinned_schema_of_another_event_type_is_invalid(env: Env) -> None:
    events = [
        {"event_type": "kill", "data": {"distance": 1.0}},
        {"event_type": "kill", "data": {"distance": 1.0}, "schema": env.login_v1.fingerprint},
    ]
    error = refused(InvalidPayload, env.parse, JSON, json.dumps(events).encode())
    assert type(error) is InvalidPayload
    assert error.message == (
        f"event 1: schema {env.login_v1.fingerprint} belongs to login, not kill"
    )


def test_json_pinned_schema_of_another_game_is_unknown(env: Env) -> None:
    events = [{"event_type": "quit", "data": {"at": 1}, "schema": env.quit.fingerprint}]
    refused(UnknownSchema, env.parse, JSON, json.dumps(events).encode())


@pytest.mark.parametrize("event_type", ["levelup", "quit"])  # quit: of another game
def test_json_unknown_event_type_is_invalid_and_named(env: Env, event_type: str) -> None:
    events = [
        {"event_type": "kill", "data": {"distance": 1.0}},
        {"event_type": event_type, "data": {"at": 1}},
    ]
    error = refused(InvalidPayload, env.parse, JSON, json.dumps(events).encode())
    assert type(error) is InvalidPayload and error.status == 422
    assert error.message == f"event 1: unknown event type {event_type!r} for game 'g1'"


@pytest.mark.parametrize(
    ("body", "kind", "where"),
    [
        (b"{not json", BadRequest, "not JSON"),
        (b'{"event_type": "kill", "data": {}}', BadRequest, "array"),
        (b'[{"event_type": "kill"}]', InvalidPayload, "event 0"),
        (b'[{"event_type": "kill", "data": {"distance": "far"}}]', InvalidPayload, "distance"),
        (b'[{"event_type": "kill", "data": {"distance": 1, "x": 2}}]', InvalidPayload, "'x'"),
    ],
    ids=["not json", "not an array", "no data", "wrong type", "unknown field"],
)
def test_bad_json_events_are_refused_with_the_reason(
    env: Env, body: bytes, kind: type[PlaylogError], where: str
) -> None:
    error = refused(kind, env.parse, JSON, body)
    assert where in error.message
