"""The whole embedded pipeline through its public interface: HTTP in, SQL out."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from decimal import Decimal
from typing import Any

import pytest

from tests.support.avro import ocf
from tests.support.events import (
    KILL,
    MAKERS,
    SCHEMAS,
    TS,
    as_json,
    fresh_game,
    kill,
    setup_game,
    single_objects,
)
from tests.support.server import Server

pytestmark = pytest.mark.e2e


def test_every_format_lands_exactly_once_with_its_values(shared_server: Server) -> None:
    server, g1 = shared_server, fresh_game()
    check_every_format(server, g1)


def check_every_format(server: Server, game: str) -> None:
    """Each format, 4,000 events per table: exact counts, no duplicates, exact values."""
    key, fingerprints = setup_game(server, game)
    expected: dict[str, list[int]] = {t: [] for t in SCHEMAS}
    seq = 0

    def take(event_type: str, n: int) -> list[dict[str, Any]]:
        nonlocal seq
        events = [MAKERS[event_type](seq + i) for i in range(n)]
        expected[event_type] += [e["seq"] for e in events]
        seq += n
        return events

    for round_ in range(4):
        # OCF: three containers (one per type) back to back in one body, two codecs.
        body = b"".join(
            ocf(SCHEMAS[t], take(t, 500), "deflate" if round_ % 2 else "null") for t in SCHEMAS
        )
        response = server.send(game, key, body, "application/avro")
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 1500}
        # Single-object encoding, gzip on the wire.
        body = b"".join(single_objects(fingerprints[t], SCHEMAS[t], take(t, 300)) for t in SCHEMAS)
        response = server.send(
            game,
            key,
            gzip.compress(body),
            "application/vnd.apache.avro+binary",
            **{"Content-Encoding": "gzip"},
        )
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 900}
        # JSON.
        events = [as_json(t, e) for t in SCHEMAS for e in take(t, 200)]
        response = server.send(game, key, json.dumps(events).encode(), "application/json")
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 600}

    for event_type, seqs in expected.items():
        table = f"{game}.{event_type}"
        assert server.wait_for_rows(table, len(seqs)) == len(seqs) == 4000
        rows = server.query(f"select seq, count(*) from {table} group by seq having count(*) > 1")
        assert rows == []
        assert sorted(server.seqs(table)) == sorted(seqs)

    # Values survive every format exactly (spot checks across the three).
    for s in (0, 1555, 2470, 9999):
        event_type = next(t for t, seqs in expected.items() if s in seqs)
        want = MAKERS[event_type](s)
        cols = ", ".join(want)
        got = dict(
            zip(
                want,
                server.query(f"select {cols} from {game}.{event_type} where seq = {s}")[0],
                strict=True,
            )
        )
        if event_type == "login":
            moment = dt.datetime.fromtimestamp(want["ts"] / 1000, dt.UTC)
            want["ts"] = moment.isoformat()
        if event_type == "purchase":
            want["receipt"] = base64.b64encode(want["receipt"]).decode()
            want["tags"] = json.dumps(want["tags"], separators=(",", ":"))
        assert got == want
    meta = server.query(
        "select count(distinct _event_id), count(*), min(_schema_hash), "
        f"max(_schema_hash), min(_received_at) is not null from {game}.kill"
    )
    assert meta == [[4000, 4000, fingerprints["kill"], fingerprints["kill"], True]]


def test_schema_evolution_through_http(shared_server: Server) -> None:
    server, g1 = shared_server, fresh_game()
    key, _ = setup_game(server, g1)
    body = ocf(KILL, [kill(i) for i in range(100)])
    assert server.send(g1, key, body, "application/avro").status_code == 202
    assert server.wait_for_rows(f"{g1}.kill", 100) == 100

    v2 = json.loads(json.dumps(KILL))
    v2["fields"].append({"name": "assist", "type": "string", "default": "none"})
    response = server.register(g1, "kill", v2)
    assert response.status_code == 201 and response.json()["version"] == 2
    # Events written with v1 after v2 exists still load (resolved to v2's layout).
    assert (
        server.send(
            g1, key, ocf(KILL, [kill(i) for i in range(100, 150)]), "application/avro"
        ).status_code
        == 202
    )
    events = [as_json("kill", {**kill(i), "assist": "p7"}) for i in range(150, 160)]
    assert server.send(g1, key, json.dumps(events).encode(), "application/json").status_code == 202
    assert server.wait_for_rows(f"{g1}.kill", 160) == 160
    assert server.query(f"select assist, count(*) from {g1}.kill group by assist order by 1") == [
        ["none", 150],
        ["p7", 10],
    ]

    bad = json.loads(json.dumps(v2))
    bad["fields"].append({"name": "team", "type": "string"})  # no default
    response = server.register(g1, "kill", bad)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "incompatible_schema"
    assert error["field"] == "team" and error["rule"] == "new_field_without_default"
    versions = server.admin.get(f"/v1/games/{g1}/schemas/kill").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    columns = server.query(
        "select column_name from information_schema.columns "
        f"where table_schema = '{g1}' and table_name = 'kill'"
    )
    assert ["team"] not in columns


def _priced(precision: int, price_type: str = "bytes") -> dict[str, Any]:
    price = {"type": price_type, "logicalType": "decimal", "precision": precision, "scale": 2}
    fields = [{"name": "player", "type": "string"}, {"name": "price", "type": price}]
    return {"type": "record", "name": "priced", "fields": fields}


def test_a_decimal_widened_through_http_loads_both_versions(shared_server: Server) -> None:
    """A decimal's precision widening at the same scale is a new version under the same
    hash; containers of either version load (before: the wide values were dead-lettered
    for not fitting DECIMAL(9,2))."""
    server, g1 = shared_server, fresh_game()
    key, _ = setup_game(server, g1)
    assert server.register(g1, "priced", _priced(9)).status_code == 201
    narrow = {"player": "ann", "price": Decimal("-9999999.99")}
    assert server.send(g1, key, ocf(_priced(9), [narrow]), "application/avro").status_code == 202

    response = server.register(g1, "priced", _priced(12))

    assert response.status_code == 201 and response.json()["version"] == 2
    wide = {"player": "bob", "price": Decimal("1234567890.12")}
    assert server.send(g1, key, ocf(_priced(12), [wide]), "application/avro").status_code == 202
    late = {"player": "cy", "price": Decimal("0.05")}  # a writer still on version 1
    assert server.send(g1, key, ocf(_priced(9), [late]), "application/avro").status_code == 202
    assert server.wait_for_rows(f"{g1}.priced", 3) == 3
    assert server.query(
        f"select player, cast(price as varchar) from {g1}.priced order by _event_id"
    ) == [["ann", "-9999999.99"], ["bob", "1234567890.12"], ["cy", "0.05"]]

    text_to_binary = {**_priced(12), "fields": [{"name": "player", "type": "bytes"}]}
    refused = server.register(g1, "priced", text_to_binary)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["field"], error["rule"]) == ("player", "string_bytes_change")
    assert "no warehouse column changes between text and binary" in error["message"]


def test_keys_and_bad_input_change_nothing(shared_server: Server) -> None:
    server, g1 = shared_server, fresh_game()
    g2 = fresh_game()
    key, fingerprints = setup_game(server, g1)
    other = server.game(g2)
    body = ocf(KILL, [kill(i) for i in range(10)])
    assert server.send(g1, "pl_nope_nope", body, "application/avro").status_code == 401
    assert server.send(g1, other, body, "application/avro").status_code == 403
    assert server.admin.post("/v1/games", json={"game": "Bad-Name"}).status_code == 400
    assert server.send(g1, key, body[:-5], "application/avro").status_code == 422
    assert server.send(g1, key, b"[1,2]", "application/json").status_code == 422
    assert server.send(g1, key, body, "text/plain").status_code == 415
    unknown = ocf({**KILL, "name": "other"}, [kill(1)])
    response = server.send(g1, key, unknown, "application/avro")
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_schema"
    wrong = [{"event_type": "kill", "data": {**kill(1), "distance": "far"}}]
    response = server.send(g1, key, json.dumps(wrong).encode(), "application/json")
    assert response.status_code == 422
    assert "distance" in response.json()["error"]["message"]
    too_big = ocf(KILL, [kill(i) for i in range(1000)]) * 1000
    assert server.send(g1, key, too_big, "application/avro").status_code == 413
    # A game key cannot administrate; queries are read-only.
    game_client = {"Authorization": f"Bearer {key}"}
    import httpx

    assert (
        httpx.post(
            f"{server.url}/v1/games", json={"game": fresh_game()}, headers=game_client
        ).status_code
        == 403
    )
    assert server.admin.post("/v1/query", json={"sql": f"drop table {g1}.kill"}).status_code == 400
    assert server.admin.post("/v1/query", json={"sql": "select 1; select 2"}).status_code == 400
    # Revoked keys stop working.
    added = server.admin.post(f"/v1/games/{g1}/keys").json()
    assert server.send(g1, added["api_key"], body, "application/avro").status_code == 202
    assert server.admin.delete(f"/v1/games/{g1}/keys/{added['key_id']}").status_code == 200
    assert server.send(g1, added["api_key"], body, "application/avro").status_code == 401
    assert server.wait_for_rows(f"{g1}.kill", 10) == 10  # only the one accepted batch
    # Schemas are readable by the game's key, by hash too.
    response = httpx.get(f"{server.url}/v1/schemas/{fingerprints['kill']}", headers=game_client)
    assert response.status_code == 200 and response.json()["event_type"] == "kill"
    assert server.admin.get("/healthz").json() == {"status": "ok"}
    assert server.admin.get("/readyz").status_code == 200
    assert "playlog_ingest_events_total" in server.admin.get("/metrics").text


STATS: dict[str, Any] = {
    "type": "record",
    "name": "stats",
    "fields": [
        {"name": "seq", "type": "long"},
        {"name": "at", "type": TS},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
        },
        {"name": "ratio", "type": "float"},
    ],
}


def test_bad_input_gets_a_clear_4xx_in_the_error_shape_and_changes_nothing(
    shared_server: Server,
) -> None:
    server, g1 = shared_server, fresh_game()
    g2 = fresh_game()
    import httpx

    key, fingerprints = setup_game(server, g1)
    other = server.game(g2)
    response = server.register(g1, "stats", STATS)
    assert response.status_code == 201, response.text
    stats_fp = response.json()["fingerprint"]

    def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
        return dict(error)

    # JSON nested far beyond what the parser takes: events, admin bodies, schemas.
    deep = b"[" * 100_000 + b"]" * 100_000
    error = error_of(server.send(g1, key, deep, "application/json"), 400)
    assert "too deeply nested" in error["message"]
    error = error_of(server.admin.post("/v1/games", content=deep), 400)
    assert "too deeply nested" in error["message"]
    items = '"int"'
    for _ in range(5_000):  # as text: json.dumps cannot nest this deep either
        items = f'{{"type": "array", "items": {items}}}'
    deep_schema = (
        f'{{"type": "record", "name": "deep", "fields": [{{"name": "a", "type": {items}}}]}}'
    )
    response = server.admin.post(f"/v1/games/{g1}/schemas/deep", content=deep_schema)
    error = error_of(response, 400)
    assert "nested too deeply" in error["message"]
    assert server.admin.get(f"/v1/games/{g1}/schemas/deep").status_code == 404

    # JSON values fastavro could not encode or decode: 422 naming the event and field.
    good = {"seq": 0, "at": 0, "day": 0, "price": "1.50", "ratio": 0.5}
    for field, value in [
        ("price", "1E+999999999"),
        ("price", "1E-999999999"),
        ("ratio", 10**400),
        ("at", 2**62),
        ("at", "0001-01-01T00:00:00+01:00"),
        ("day", 2**31 - 1),
    ]:
        events = [
            {"event_type": "stats", "data": good},
            {"event_type": "stats", "data": {**good, field: value}},
        ]
        response = server.send(g1, key, json.dumps(events).encode(), "application/json")
        error = error_of(response, 422)
        assert error["code"] == "invalid_payload"
        assert error["message"].startswith(f"event 1: {field}: "), error

    # Single-object events whose timestamp or date Python cannot hold.
    fields: list[dict[str, Any]] = [{"name": f["name"], "type": f["type"]} for f in STATS["fields"]]
    plain = {**STATS, "fields": fields}
    fields[1] = {"name": "at", "type": "long"}
    fields[2] = {"name": "day", "type": "int"}
    raw_good = {**good, "price": b"\x00\x96"}
    for bad in ({"at": 2**62}, {"day": 2**31 - 1}):
        body = single_objects(stats_fp, plain, [raw_good, {**raw_good, **bad}])
        response = server.send(g1, key, body, "application/vnd.apache.avro+binary")
        assert error_of(response, 422)["message"].startswith("event 1 at byte")

    # Routes and methods that do not exist answer in the same shape.
    assert error_of(server.admin.get("/v1/nowhere"), 404)["code"] == "not_found"
    response = server.admin.put("/v1/games")
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"

    # A schema by hash: who asks first, then whether it exists.
    fingerprint, unknown = fingerprints["kill"], "0123456789abcdef"
    for path in (f"/v1/schemas/{fingerprint}", f"/v1/schemas/{unknown}"):
        assert error_of(httpx.get(server.url + path), 401)["code"] == "unauthorized"
        nobody = {"Authorization": "Bearer pl_no_such_key"}
        assert error_of(httpx.get(server.url + path, headers=nobody), 401)
    as_other = {"Authorization": f"Bearer {other}"}
    response = httpx.get(f"{server.url}/v1/schemas/{fingerprint}", headers=as_other)
    assert error_of(response, 403)["code"] == "forbidden"
    as_g1 = {"Authorization": f"Bearer {key}"}
    response = httpx.get(f"{server.url}/v1/schemas/{unknown}", headers=as_g1)
    assert error_of(response, 404)["code"] == "not_found"

    # Nothing of the above reached the warehouse; a good batch still does.
    response = server.send(
        g1, key, json.dumps([as_json("stats", good)]).encode(), "application/json"
    )
    assert response.status_code == 202, response.text
    assert server.wait_for_rows(f"{g1}.stats", 1) == 1
    assert server.query(f"select seq, price, ratio from {g1}.stats") == [[0, "1.50", 0.5]]
    ready = server.admin.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["checks"]["log"] == "ok"


PING = {"type": "record", "name": "ping", "fields": [{"name": "seq", "type": "long"}]}


def test_a_batch_retried_with_its_key_lands_once(shared_server: Server) -> None:
    """A batch sent twice with one Idempotency-Key lands once (issue 9, finding 10)."""
    server, g1 = shared_server, fresh_game()
    key = server.game(g1)
    assert server.register(g1, "ping", PING).status_code == 201
    batch = json.dumps([{"event_type": "ping", "data": {"seq": i}} for i in range(50)])

    first = server.send(g1, key, batch.encode(), "application/json", **{"Idempotency-Key": "b1"})
    retry = server.send(g1, key, batch.encode(), "application/json", **{"Idempotency-Key": "b1"})
    assert first.status_code == retry.status_code == 202, retry.text
    assert first.json() == retry.json() == {"accepted": 50}
    assert retry.headers["idempotent-replayed"] == "true"
    # Another key, another batch: it lands, so the count below is final, not early.
    other = json.dumps([{"event_type": "ping", "data": {"seq": 50}}])
    assert server.send(g1, key, other.encode(), "application/json",
                       **{"Idempotency-Key": "b2"}).status_code == 202  # fmt: skip

    assert server.wait_for_rows(f"{g1}.ping", 51) == 51
    assert server.query(f"select count(distinct seq) from {g1}.ping") == [[51]]
