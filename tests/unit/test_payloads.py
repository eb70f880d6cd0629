"""Event bodies -> one validated data-topic value: gzip, content types, limits, schemas.

The registry is the real one (SQLite catalog in tmp_path); schemas are registered the
way the HTTP API registers them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import io
import json
import logging
import threading
import time
import warnings
import zlib
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # it prefers the httpx2 package; httpx works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from tests.support.avro import NODE, linked_list, ocf_block, ocf_of, zigzag
from tests.support.avro import ocf as container

from playlog.avro import single_object
from playlog.avro.schema import EventSchema
from playlog.contracts import FORMAT_OCF, FORMAT_SINGLE_OBJECT
from playlog.errors import (
    BadRequest,
    InvalidPayload,
    LogUnavailable,
    PayloadTooLarge,
    PlaylogError,
    Unauthorized,
    UnknownSchema,
    UnsupportedMediaType,
    WarehouseUnavailable,
)
from playlog.ingest import events as events_module
from playlog.ingest import payloads as payloads_module
from playlog.ingest.app import create_app
from playlog.ingest.auth import KEY_TTL_S, Auth
from playlog.ingest.payloads import decompress, parse
from playlog.monitor import metrics
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from playlog.settings import Settings

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


# --- bad input gets a 4xx, never a 500 -----------------------------------------------

STATS = {
    "type": "record",
    "name": "stats",
    "fields": [
        {"name": "at", "type": TS},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
        },
        {"name": "ratio", "type": "float"},
    ],
}
GOOD_STATS = {"at": 0, "day": 0, "price": "1.50", "ratio": 0.5}


def test_json_nested_beyond_the_parser_is_a_bad_request(env: Env) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    error = refused(BadRequest, env.parse, JSON, body)
    assert type(error) is BadRequest and error.status == 400
    assert "too deeply nested" in error.message


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("price", "1E+999999999", "does not fit decimal(9,2)"),
        ("price", "1E-999999999", "has more than 2 decimal places"),
        ("ratio", 10**400, "does not fit an Avro float"),
        ("at", 2**62, "is outside the years 1 to 9999"),
        ("at", "0001-01-01T00:00:00+01:00", "is outside the years 1 to 9999 in UTC"),
        ("day", 2**31 - 1, "is outside the years 1 to 9999"),
    ],
    ids=["decimal overflow", "decimal underflow", "float", "timestamp", "rfc3339", "date"],
)
def test_json_value_out_of_range_is_invalid_and_names_event_and_field(
    env: Env, field: str, value: Any, reason: str
) -> None:
    env.registry.register(GAME, "stats", json.dumps(STATS))
    events = [
        {"event_type": "stats", "data": GOOD_STATS},
        {"event_type": "stats", "data": {**GOOD_STATS, field: value}},
    ]
    error = refused(InvalidPayload, env.parse, JSON, json.dumps(events).encode())
    assert type(error) is InvalidPayload and error.status == 422
    assert error.message.startswith(f"event 1: {field}: ") and reason in error.message


@pytest.mark.parametrize("raw", [{"at": 2**62, "day": 0}, {"at": 0, "day": 2**31 - 1}])
def test_single_object_timestamp_or_date_out_of_range_is_invalid(
    env: Env, raw: dict[str, Any]
) -> None:
    stats = {
        "type": "record",
        "name": "stamped",
        "fields": [STATS["fields"][0], STATS["fields"][1]],
    }
    schema, _ = env.registry.register(GAME, "stamped", json.dumps(stats))
    out = io.BytesIO()  # as a client may write it: logical types are not in the hash
    plain = {**stats, "fields": [{"name": "at", "type": "long"}, {"name": "day", "type": "int"}]}
    fastavro.schemaless_writer(out, fastavro.parse_schema(plain), raw)
    body = soe(schema, {"at": 0, "day": 0}) + single_object.frame(
        schema.fingerprint, out.getvalue()
    )
    error = refused(InvalidPayload, env.parse, SOE, body)
    assert error.status == 422 and error.message.startswith("event 1 at byte")


def nested_schema(depth: int) -> str:
    avro_type = '"int"'
    for _ in range(depth):
        avro_type = f'{{"type": "array", "items": {avro_type}}}'
    return f'{{"type": "record", "name": "deep", "fields": [{{"name": "a", "type": {avro_type}}}]}}'


@pytest.mark.parametrize("depth", [5_000, 500, 62])
def test_schema_nested_too_deeply_is_refused_and_changes_nothing(env: Env, depth: int) -> None:
    error = refused(BadRequest, env.registry.register, GAME, "deep", nested_schema(depth))
    assert type(error) is BadRequest and error.status == 400
    assert "nested too deeply" in error.message
    assert "deep" not in env.registry.event_types(GAME)


def test_schema_nested_within_the_limit_is_registered(env: Env) -> None:
    schema, created = env.registry.register(GAME, "deep", nested_schema(60))
    assert created and schema.version == 1


# --- the HTTP app: error shape, schema reads, readiness, auth off the event loop -------


class FakeLog:
    def __init__(self) -> None:
        self.down = False
        self.appended: list[Any] = []

    def end_offsets(self, topic: str) -> dict[int, int]:
        if self.down:
            raise LogUnavailable("fake log is down")
        return {0: len(self.appended)}

    def append(self, topic: str, messages: Any) -> list[tuple[int, int]]:
        self.appended.extend(messages)
        return [(0, len(self.appended) - 1)]


class SlowWarehouse:
    """Answers its check after ``delay_s`` (a blackholed host), or raises when down."""

    def __init__(self) -> None:
        self.down = False
        self.delay_s = 0.0
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        time.sleep(self.delay_s)
        if self.down:
            raise WarehouseUnavailable("fake warehouse is down")


class WatchedCatalog:
    """The real catalog; records whether key look-ups ran on an event loop's thread."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.on_event_loop: list[bool] = []

    def game_of_key(self, key: str) -> str | None:
        try:
            asyncio.get_running_loop()
            self.on_event_loop.append(True)
        except RuntimeError:
            self.on_event_loop.append(False)
        return self._catalog.game_of_key(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)


ADMIN = "pl_admin_unit"


class Api:
    def __init__(self, env: Env, tmp_path: Path) -> None:
        self.log = FakeLog()
        self.warehouse = SlowWarehouse()
        self.catalog = WatchedCatalog(env.registry.catalog)
        services = SimpleNamespace(
            settings=Settings(data_dir=tmp_path),
            registry=env.registry,
            catalog=self.catalog,
            log=self.log,
            warehouse=self.warehouse,
        )
        self.app = create_app(services, ADMIN)  # type: ignore[arg-type]
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.keys = {game: env.registry.catalog.add_key(game)[1] for game in (GAME, OTHER)}

    def get(self, path: str, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.get(path, headers=headers)


@pytest.fixture
def api(env: Env, tmp_path: Path) -> Iterator[Api]:
    api = Api(env, tmp_path)
    with api.client:
        yield api


def test_unknown_route_and_method_answer_in_the_error_shape(api: Api) -> None:
    response = api.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "no such path: /v1/nowhere"}
    }
    response = api.client.put("/v1/games")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


def test_unexpected_error_is_a_500_in_the_error_shape_and_logged(
    api: Api, env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(env.registry, "versions", broken)
    with caplog.at_level(logging.ERROR, logger="playlog.ingest"):
        response = api.get(f"/v1/games/{GAME}/schemas/login", ADMIN)
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": "internal error; see the server log"}
    }
    logged = [r for r in caplog.records if r.name == "playlog.ingest"]
    assert "/v1/games/g1/schemas/login" in logged[0].getMessage()
    assert logged[0].exc_info is not None and "secret internals" in caplog.text


def test_schema_by_hash_authenticates_before_the_lookup(api: Api, env: Env) -> None:
    fingerprint = env.kill.fingerprint
    unknown = "0123456789abcdef"
    for path in (f"/v1/schemas/{fingerprint}", f"/v1/schemas/{unknown}"):
        assert api.get(path).status_code == 401
        assert api.get(path, "pl_no_such_key").status_code == 401
    response = api.get(f"/v1/schemas/{fingerprint}", api.keys[OTHER])
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    response = api.get(f"/v1/schemas/{unknown}", api.keys[GAME])
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    for key in (api.keys[GAME], ADMIN):
        response = api.get(f"/v1/schemas/{fingerprint}", key)
        assert response.status_code == 200 and response.json()["event_type"] == "kill"


def test_readiness_is_the_log_and_only_reports_the_warehouse(api: Api) -> None:
    assert api.get("/readyz").json() == {"ready": True, "checks": {"log": "ok", "warehouse": "ok"}}
    api.warehouse.down = True
    response = api.get("/readyz", ADMIN)
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "checks": {"log": "ok", "warehouse": "fake warehouse is down"},
    }
    api.log.down = True
    response = api.get("/readyz", ADMIN)
    assert response.status_code == 503 and response.json()["ready"] is False
    assert response.json()["checks"]["log"] == "fake log is down"


def test_readiness_says_why_only_to_the_admin_key(api: Api) -> None:
    # /readyz is open (load balancers probe it without a key), but a reason may quote
    # a host, a grant or event values: the same rule as GET /v1/status's public view.
    api.warehouse.down = True
    api.log.down = True
    metrics.set_loader_failure("warehouse_error", "column 'secret' of event 'x=1'")
    try:
        for key in (None, "pl_no_such_key", api.keys[GAME]):
            answer = api.get("/readyz", key)
            assert answer.status_code == 503
            assert answer.json() == {
                "ready": False,
                "checks": {"log": "failing", "warehouse": "failing", "loader": "failing"},
            }
        answer = api.get("/readyz", ADMIN)
        assert answer.status_code == 503
        assert answer.json() == {
            "ready": False,
            "checks": {
                "log": "fake log is down",
                "warehouse": "fake warehouse is down",
                "loader": "failing: column 'secret' of event 'x=1'",
            },
        }
    finally:
        metrics.set_loader_failure(None, None)
    api.log.down = api.warehouse.down = False
    assert api.get("/readyz").json() == {"ready": True, "checks": {"log": "ok", "warehouse": "ok"}}


def test_readiness_never_asks_the_catalog_whose_key_a_probe_sent(api: Api) -> None:
    """Only the admin key sees reasons, and it is known without the catalog: a probe
    configured with a game key (or any key) must not wait on a catalog that is down."""
    api.catalog.on_event_loop.clear()
    for key in ("pl_no_such_key", api.keys[GAME], ADMIN):
        assert api.get("/readyz", key).status_code == 200
    assert api.catalog.on_event_loop == []


def test_readiness_does_not_wait_for_a_warehouse_that_does_not_answer(api: Api) -> None:
    api.warehouse.delay_s = 4.0
    started = time.monotonic()
    first, second = api.get("/readyz", ADMIN), api.get("/readyz", ADMIN)
    assert time.monotonic() - started < 3.5
    for response in (first, second):
        assert response.status_code == 200
        assert response.json()["checks"]["warehouse"] == "no answer within 1 s"
    assert api.warehouse.checks == 1  # the hung check is not started again


def test_auth_checks_do_not_run_on_the_event_loop(api: Api) -> None:
    body = json.dumps([{"event_type": "kill", "data": {"distance": 1.0}}])
    headers = {"Authorization": f"Bearer {api.keys[GAME]}", "Content-Type": JSON}
    response = api.client.post(f"/v1/games/{GAME}/events", content=body, headers=headers)
    assert response.status_code == 202
    key = api.keys[OTHER]
    assert (
        api.client.post(
            "/v1/games", json={"game": "g9"}, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 403
    )
    assert api.get(f"/v1/games/{GAME}/schemas/kill", api.keys[GAME]).status_code == 200
    assert api.get("/v1/schemas/0123456789abcdef", api.keys[OTHER]).status_code == 404
    assert api.catalog.on_event_loop and not any(api.catalog.on_event_loop)


def test_healthz_answers_while_a_body_is_being_checked(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    checking, release = threading.Event(), threading.Event()
    real_decompress = payloads_module.decompress

    def slow_decompress(*args: Any) -> Any:  # a big gzip body being inflated
        checking.set()
        release.wait(5)
        return real_decompress(*args)

    monkeypatch.setattr(payloads_module, "decompress", slow_decompress)
    body = json.dumps([{"event_type": "kill", "data": {"distance": 1.0}}])
    headers = {"Authorization": f"Bearer {api.keys[GAME]}", "Content-Type": JSON}
    answers: list[int] = []
    sender = threading.Thread(
        target=lambda: answers.append(
            api.client.post(f"/v1/games/{GAME}/events", content=body, headers=headers).status_code
        )
    )
    sender.start()
    try:
        assert checking.wait(5)
        started = time.monotonic()
        assert api.get("/healthz").status_code == 200
        assert time.monotonic() - started < 2  # not behind the check (it waits 5 s)
    finally:
        release.set()
        sender.join(10)
    assert answers == [202]


# --- auth: a dead catalog is asked once per TTL, not on every request ------------------


class FlakyCatalog:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def game_of_key(self, key: str) -> str | None:
        self.calls += 1
        if self.down:
            raise WarehouseUnavailable("catalog host unreachable")
        return GAME if key == "pl_g1_key" else None


def key_checked_once(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[float], FlakyCatalog, Auth, Any]:
    """An ``Auth`` on a ``FlakyCatalog`` and a clock the test moves (``now[0]``), after
    one request with the game's key: the catalog asked once, the answer cached."""
    now = [1000.0]
    monkeypatch.setattr("playlog.ingest.auth.time.monotonic", lambda: now[0])
    catalog = FlakyCatalog()
    auth = Auth(catalog, ADMIN)  # type: ignore[arg-type]
    request = SimpleNamespace(headers={"authorization": "Bearer pl_g1_key"})
    auth.game(request, GAME)  # type: ignore[arg-type]
    return now, catalog, auth, request


def test_stale_key_used_while_the_catalog_is_down_counts_as_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now, catalog, auth, request = key_checked_once(monkeypatch)
    assert catalog.calls == 1
    catalog.down = True
    now[0] += KEY_TTL_S + 1
    auth.game(request, GAME)  # stale, the catalog fails: cached
    assert catalog.calls == 2
    for _ in range(10):  # within the TTL again: the dead catalog is not asked
        now[0] += 1
        auth.game(request, GAME)
    assert catalog.calls == 2
    now[0] += KEY_TTL_S
    auth.game(request, GAME)
    assert catalog.calls == 3
    # An unknown key with the catalog down cannot be told apart: 503, retry later.
    stranger = SimpleNamespace(headers={"authorization": "Bearer pl_unknown"})
    with pytest.raises(WarehouseUnavailable):
        auth.game(stranger, GAME)  # type: ignore[arg-type]


def test_identify_names_the_game_or_none_for_admin() -> None:
    auth = Auth(FlakyCatalog(), ADMIN)  # type: ignore[arg-type]
    assert auth.identify(SimpleNamespace(headers={"authorization": f"Bearer {ADMIN}"})) is None  # type: ignore[arg-type]
    assert auth.identify(SimpleNamespace(headers={"authorization": "Bearer pl_g1_key"})) == GAME  # type: ignore[arg-type]
    for headers in ({}, {"authorization": "Bearer pl_nope"}):
        with pytest.raises(Unauthorized):
            auth.identify(SimpleNamespace(headers=headers))  # type: ignore[arg-type]


def test_one_request_checks_a_stale_key_while_the_others_use_the_cached_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now, catalog, auth, request = key_checked_once(monkeypatch)
    now[0] += KEY_TTL_S + 1
    entered, release = threading.Event(), threading.Event()

    def hanging(key: str) -> str | None:  # a catalog host that does not answer
        catalog.calls += 1
        entered.set()
        release.wait(3)
        raise WarehouseUnavailable("connect timeout")

    catalog.game_of_key = hanging  # type: ignore[method-assign]
    checker = threading.Thread(target=auth.game, args=(request, GAME))
    checker.start()
    assert entered.wait(5)
    for _ in range(5):
        auth.game(request, GAME)  # not blocked behind the check
    release.set()
    checker.join(5)
    assert catalog.calls == 2 and not checker.is_alive()


# --- hostile input: nesting depth, inflated size, linear gzip (issue 8) -------------


def list_json(nodes: int) -> Any:
    value: Any = None
    for _ in range(nodes):
        value = {"v": 1, "next": value}
    return value


def deep_bodies(env: Env, nodes: int) -> dict[str, bytes]:
    node, _ = env.registry.register(GAME, "node", json.dumps(NODE))
    event = json.dumps([{"event_type": "node", "data": list_json(min(nodes, 400))}])
    return {
        OCF: ocf_of(NODE, [linked_list(nodes)]),
        SOE: single_object.frame(node.fingerprint, linked_list(nodes)),
        JSON: event.encode(),
    }


@pytest.mark.parametrize("content_type", [OCF, SOE, JSON])
def test_data_nested_deeper_than_the_limit_is_422_naming_it(env: Env, content_type: str) -> None:
    """5,000 nodes (10,000 levels) crashed the process (fastavro segfaults); JSON
    is cut at 400 nodes (its parser gives up at 1,000 levels)."""
    body = deep_bodies(env, 5_000)[content_type]
    error = refused(InvalidPayload, env.parse, content_type, body)
    assert error.status == 422 and error.details == {"limit": 64}
    assert "nested deeper than 64 levels" in error.message


@pytest.mark.parametrize("content_type", [OCF, SOE, JSON])
def test_data_nested_exactly_to_the_limit_is_accepted(env: Env, content_type: str) -> None:
    # a record and a union per node: 32 nodes are 64 levels, 33 are 66
    ok = deep_bodies(env, 32)[content_type]
    assert env.parse(content_type, ok).count == 1
    too_deep = deep_bodies(env, 33)[content_type]
    assert refused(InvalidPayload, env.parse, content_type, too_deep).details == {"limit": 64}


def test_a_lower_limit_applies_to_non_recursive_schemas_too(env: Env) -> None:
    nested = json.loads(nested_schema(5))
    schema, _ = env.registry.register(GAME, "deep", json.dumps(nested))
    datum = zigzag(1) * 5 + zigzag(7) + zigzag(0) * 5  # [[[[[7]]]]]: 6 levels with the record
    body = single_object.frame(schema.fingerprint, datum)
    assert parse(env.registry, GAME, SOE, body, 10, payloads_module.Limits(depth=6)).count == 1
    error = refused(
        InvalidPayload, parse, env.registry, GAME, SOE, body, 10, payloads_module.Limits(depth=5)
    )
    assert error.details == {"limit": 5}


def test_an_array_of_empty_items_claiming_billions_is_refused_at_once(env: Env) -> None:
    """Three bytes made fastavro build a list of 2**27 Nones (27 s, 1 GB)."""
    nulls = {
        "type": "record",
        "name": "nulls",
        "fields": [{"name": "xs", "type": {"type": "array", "items": "null"}}],
    }
    schema, _ = env.registry.register(GAME, "nulls", json.dumps(nulls))
    fine = single_object.frame(schema.fingerprint, zigzag(3) + zigzag(0))
    assert env.parse(SOE, fine).count == 1
    for count in (2**27, 2**62):
        body = single_object.frame(schema.fingerprint, zigzag(count) + zigzag(0))
        started = time.monotonic()
        refused(InvalidPayload, env.parse, SOE, body)
        refused(InvalidPayload, env.parse, OCF, ocf_of(nulls, [zigzag(count) + zigzag(0)]))
        assert time.monotonic() - started < 1


def test_deflate_block_inflating_past_the_limit_is_413_naming_it(env: Env) -> None:
    rows = [{"player": "x" * 1000, "level": 1}] * 100  # ~100 KB inflated
    body = container(LOGIN_V1, rows, "deflate")
    assert len(body) < 5_000
    limits = payloads_module.Limits(inflated_bytes=200_000)
    assert parse(env.registry, GAME, OCF, body, 1000, limits).count == 100
    error = refused(PayloadTooLarge, parse, env.registry, GAME, OCF, body * 2, 1000, limits)
    assert error.status == 413 and error.details == {"limit": 200_000}
    assert "200000" in error.message


@pytest.mark.parametrize(
    "data",
    [
        zlib.compress(bytes(range(256)) * 4)[2:-40],  # truncated
        b"\xff" * 40,  # not deflate
    ],
    ids=["truncated", "garbage"],
)
def test_damaged_deflate_block_is_422(env: Env, data: bytes) -> None:
    assert env.parse(OCF, ocf_of(LOGIN_V1, [b"\x02x\x02"] * 50, "deflate")).count == 50
    error = refused(InvalidPayload, env.parse, OCF, ocf_block(LOGIN_V1, 50, data, "deflate"))
    assert "deflate" in error.message


def test_block_holding_fewer_records_than_it_claims_is_422_when_walked(env: Env) -> None:
    env.registry.register(GAME, "node", json.dumps(NODE))
    refused(InvalidPayload, env.parse, OCF, ocf_block(NODE, 2, linked_list(3)))
    refused(InvalidPayload, env.parse, OCF, ocf_block(NODE, 1, linked_list(3) + b"\x02"))


def test_many_tiny_gzip_members_inflate_in_linear_time() -> None:
    """2.3 MB of members took 22 s on the event loop (each member copied the rest)."""
    member = gzip.compress(b"", mtime=0)
    elapsed = []
    for members in (20_000, 100_000):
        started = time.monotonic()
        assert decompress(member * members, "gzip", 10) == b""
        elapsed.append(time.monotonic() - started)
    assert elapsed[1] < 10 * elapsed[0] + 0.5 and elapsed[1] < 5, elapsed  # square: 25x
    body = gzip.compress(b"ab", mtime=0) * 100_000
    assert decompress(body, "gzip", 200_000) == b"ab" * 100_000
    refused(PayloadTooLarge, decompress, body, "gzip", 199_999)


def test_gzip_bodies_inflate_up_to_max_inflated_bytes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, server={"max_body_bytes": 1000})
    assert settings.server.inflated_limit == 8000
    bomb = gzip.compress(b"[" + b" " * 8000 + b"]")
    error = refused(
        PayloadTooLarge,
        events_module.check_batch,
        None,
        settings.server,
        GAME,
        JSON,
        "gzip",
        bomb,
    )
    assert error.details == {"limit": 8000}


def test_client_disconnecting_mid_body_is_a_499_logged_at_info(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a server error: it was a 500 with two tracebacks (false alerts on mobile)."""
    from playlog.monitor import metrics

    def count(status: str) -> float:
        return float(metrics.REQUESTS.labels(status=status)._value.get())

    before = {status: count(status) for status in ("499", "500")}
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": b"[", "more_body": True}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    headers = [
        (b"authorization", f"Bearer {api.keys[GAME]}".encode()),
        (b"content-type", b"application/json"),
    ]
    scope = {
        "type": "http", "method": "POST", "path": f"/v1/games/{GAME}/events", "headers": headers,
        "query_string": b"", "http_version": "1.1", "scheme": "http", "root_path": "",
        "server": ("testserver", 80), "client": ("127.0.0.1", 1),
    }  # fmt: skip
    with caplog.at_level(logging.INFO, logger="playlog.ingest"):
        asyncio.run(api.app(scope, receive, send))
    assert count("499") == before["499"] + 1 and count("500") == before["500"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert any("disconnected" in r.getMessage() for r in caplog.records)


def test_ocf_header_with_the_registered_hash_but_another_unit_is_refused(env: Env) -> None:
    """timestamp-micros where timestamp-millis is registered: the same hash (logical types
    are not in it), and every value would be stored 1000x off."""
    micros = json.loads(json.dumps(LOGIN_V2))
    micros["fields"][2]["type"] = ["null", {"type": "long", "logicalType": "timestamp-micros"}]
    rows = [{"player": "x", "level": 1, "ts": None, "avatar": None}]
    body = container(LOGIN_V1, logins(1)) + container(micros, rows)
    error = refused(InvalidPayload, env.parse, OCF, body)
    assert error.status == 422
    assert "other logical types" in error.message
    assert env.parse(OCF, container(LOGIN_V2, rows)).count == 1


def test_readiness_names_why_the_loader_of_this_process_fails(api: Api) -> None:
    """Still ready (ingestion goes on while loads fail), but the reason is visible."""
    metrics.set_loader_failure("warehouse_unavailable", "postgres: permission denied")
    try:
        answer = api.get("/readyz", ADMIN)
        assert answer.status_code == 200
        assert answer.json()["checks"]["loader"] == "failing: postgres: permission denied"
    finally:
        metrics.set_loader_failure(None, None)
    assert "loader" not in api.get("/readyz", ADMIN).json()["checks"]
