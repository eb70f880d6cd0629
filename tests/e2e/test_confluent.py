"""The Confluent Schema Registry API subset, driven by confluent-kafka's own registry
client, serializer and deserializer against a real `playlog up` (issue 13, part 4)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    record_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.support.avro import fp, ocf
from tests.support.events import fresh_game
from tests.support.server import ADMIN_KEY, Server

CONFLUENT_JSON = "application/vnd.schemaregistry.v1+json"

# namespace = game, name = event type: record_subject_name_strategy gives the subject
LEVELUP_V1 = {
    "type": "record",
    "name": "levelup",
    "namespace": "g1",
    "fields": [{"name": "player", "type": "string"}, {"name": "level", "type": "int"}],
}
LEVELUP_V2 = {
    **LEVELUP_V1,
    "fields": [*LEVELUP_V1["fields"], {"name": "zone", "type": "string", "default": "start"}],
}
LEVEL_AS_STRING = {  # int -> string is no Avro promotion
    **LEVELUP_V1,
    "fields": [{"name": "player", "type": "string"}, {"name": "level", "type": "string"}],
}


def of(game: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` in ``game``'s namespace: tests on the shared server use games of
    their own (``fresh_game()``)."""
    return {**schema, "namespace": game}


def avro(schema: dict[str, Any]) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


def registry(server: Server, key: str) -> SchemaRegistryClient:
    """A fresh client (no cache) with the key as Confluent clients send it."""
    return SchemaRegistryClient({"url": server.url, "basic.auth.user.info": f"tooling:{key}"})


def refusal(call: Any, *args: Any) -> tuple[int, int]:
    with pytest.raises(SchemaRegistryError) as caught:
        call(*args)
    return caught.value.http_status_code, caught.value.error_code


def test_register_look_up_fetch_and_test_compatibility(shared_server: Server) -> None:
    server, g = shared_server, fresh_game("cf")
    v1, v2, as_string = of(g, LEVELUP_V1), of(g, LEVELUP_V2), of(g, LEVEL_AS_STRING)
    subject = f"{g}.levelup"
    game_key = server.game(g)
    admin = registry(server, ADMIN_KEY)
    first = admin.register_schema(subject, avro(v1))
    # playlog's own registration ran: the version and its table exist
    versions = server.admin.get(f"/v1/games/{g}/schemas/levelup").json()["versions"]
    assert [(v["version"], v["fingerprint"]) for v in versions] == [(1, fp(v1))]
    assert server.count(subject) == 0
    assert registry(server, ADMIN_KEY).register_schema(subject, avro(v1)) == first

    game = registry(server, game_key)
    assert game.get_subjects() == [subject]
    found = game.lookup_schema(subject, avro(v1))
    assert (found.schema_id, found.subject, found.version) == (first, subject, 1)
    by_id = game.get_schema(first)
    assert (json.loads(by_id.schema_str or ""), by_id.schema_type) == (v1, "AVRO")
    assert game.test_compatibility(subject, avro(v2)) is True
    assert game.test_compatibility(subject, avro(as_string)) is False
    verbose = httpx.post(
        f"{server.url}/compatibility/subjects/{subject}/versions/latest?verbose=true",
        json={"schema": json.dumps(as_string)},
        auth=("tooling", game_key),
    )
    assert verbose.json()["is_compatible"] is False
    assert "'level'" in verbose.json()["messages"][0]

    second = admin.register_schema(subject, avro(v2))
    assert second > first  # (the canary of `playlog up` registers a schema too)
    assert game.get_versions(subject) == [1, 2]
    latest = registry(server, game_key).get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (second, 2)
    assert json.loads(latest.schema.schema_str or "") == v2
    assert game.get_version(subject, 1).schema_id == first

    assert refusal(admin.register_schema, subject, avro(as_string)) == (409, 409)
    assert game.get_versions(subject) == [1, 2]


def test_serializer_round_trip_and_events_of_that_schema_load(shared_server: Server) -> None:
    server, g = shared_server, fresh_game("cf")
    v1 = of(g, LEVELUP_V1)
    game_key = server.game(g)
    serializer = AvroSerializer(
        registry(server, ADMIN_KEY),
        json.dumps(v1),
        conf={"subject.name.strategy": record_subject_name_strategy},
    )
    context = SerializationContext("any-topic", MessageField.VALUE)
    message = serializer({"player": "ann", "level": 3}, context)
    assert message is not None and message[0] == 0  # Confluent framing: magic, id, datum
    schema_id = int.from_bytes(message[1:5], "big")
    assert registry(server, game_key).lookup_schema(f"{g}.levelup", avro(v1)).schema_id == (
        schema_id
    )
    deserializer = AvroDeserializer(registry(server, game_key))  # the game reads its own
    assert deserializer(message, context) == {"player": "ann", "level": 3}

    # the schema registered through the Confluent API is playlog's: its events load
    body = ocf(v1, [{"player": "ann", "level": 3}, {"player": "bo", "level": 4}])
    assert server.send(g, game_key, body, "application/avro").status_code == 202
    assert server.wait_for_rows(f"{g}.levelup", 2) == 2
    rows = server.query(f"select player, level, _schema_hash from {g}.levelup order by player")
    assert rows == [["ann", 3, fp(v1)], ["bo", 4, fp(v1)]]


def test_ids_are_stable_across_restarts(server: Server) -> None:
    server.game("g1")
    server.game("g2")
    admin = registry(server, ADMIN_KEY)
    kill = {**LEVELUP_V1, "name": "kill", "namespace": "g2"}
    ids = {
        "g1.levelup": admin.register_schema("g1.levelup", avro(LEVELUP_V1)),
        "g2.kill": admin.register_schema("g2.kill", avro(kill)),
        "g1.levelup/2": admin.register_schema("g1.levelup", avro(LEVELUP_V2)),
    }
    assert ids["g1.levelup"] < ids["g2.kill"] < ids["g1.levelup/2"]
    server.stop()
    server.start()

    again = registry(server, ADMIN_KEY)
    assert json.loads(again.get_schema(ids["g2.kill"]).schema_str or "") == kill
    assert again.get_version("g1.levelup", 2).schema_id == ids["g1.levelup/2"]
    mine = [s for s in again.get_subjects() if not s.startswith("playlog_canary.")]
    assert mine == ["g1.levelup", "g2.kill"]
    other = {**kill, "name": "other"}
    newest = again.register_schema("g2.other", avro(other))
    assert newest > max(ids.values())  # never an id reused


def confluent_get(server: Server, path: str, key: str | None, **headers: str) -> httpx.Response:
    auth = None if key is None else ("tooling", key)
    headers = {"Accept": CONFLUENT_JSON, **headers}
    return httpx.get(f"{server.url}{path}", auth=auth, headers=headers)


def test_errors_in_confluent_shape_change_nothing(shared_server: Server) -> None:
    server, g1, g2, nowhere = shared_server, fresh_game("cf"), fresh_game("cf"), fresh_game("no")
    v1, v2 = of(g1, LEVELUP_V1), of(g1, LEVELUP_V2)
    g1_key, g2_key = server.game(g1), server.game(g2)
    admin = registry(server, ADMIN_KEY)
    schema_id = admin.register_schema(f"{g1}.levelup", avro(v1))
    game = registry(server, g1_key)

    assert refusal(game.get_versions, f"{g1}.nothing") == (404, 40401)
    assert refusal(game.get_versions, "nodot") == (404, 40401)
    assert refusal(game.get_version, f"{g1}.levelup", 7) == (404, 40402)
    assert refusal(game.get_version, f"{g1}.levelup", "first") == (422, 42202)
    assert refusal(game.get_schema, 10**9)  # no such id == (404, 40403)
    assert refusal(game.lookup_schema, f"{g1}.levelup", avro(v2)) == (404, 40403)
    assert refusal(game.test_compatibility, f"{g1}.nothing", avro(v1)) == (404, 40401)
    # keys: unknown, another game's, a game key registering (registration is admin-only)
    assert refusal(registry(server, "pl_x_wrong").get_subjects) == (401, 401)
    assert refusal(registry(server, g2_key).get_versions, f"{g1}.levelup") == (403, 40301)
    assert refusal(registry(server, g2_key).get_schema, schema_id) == (403, 40301)
    assert registry(server, g2_key).get_subjects() == []
    assert refusal(game.register_schema, f"{g1}.levelup", avro(v2)) == (403, 40301)
    # invalid schemas
    assert refusal(admin.register_schema, f"{g1}.levelup", Schema("{not json", "AVRO")) == (
        422,
        42201,
    )
    assert refusal(admin.register_schema, f"{g1}.bad", Schema('{"type": "record"}', "AVRO")) == (
        422,
        42201,
    )
    proto = Schema('syntax = "proto3";', "PROTOBUF")
    assert refusal(admin.register_schema, f"{g1}.proto", proto) == (422, 42201)
    assert refusal(admin.register_schema, f"{nowhere}.levelup", avro(v1)) == (404, 40401)
    assert game.get_versions(f"{g1}.levelup") == [1]
    assert server.admin.get(f"/v1/games/{g1}/schemas/bad").status_code == 404

    no_key = confluent_get(server, "/subjects", None)
    assert (no_key.status_code, no_key.json()["error_code"]) == (401, 401)
    assert no_key.headers["www-authenticate"].startswith("Basic")
    for header in ("Basic !!!", "Basic " + base64.b64encode(g1_key.encode()).decode(), "Basic"):
        garbled = confluent_get(server, "/subjects", None, Authorization=header)
        assert (garbled.status_code, garbled.json()["error_code"]) == (401, 401), header
    bearer = confluent_get(server, "/subjects", None, Authorization=f"Bearer {g1_key}")
    assert bearer.json() == [f"{g1}.levelup"]
    # the rest of Confluent's API answers in its shape too
    delete = httpx.delete(f"{server.url}/subjects/{g1}.levelup", auth=("tooling", ADMIN_KEY))
    assert (delete.status_code, delete.json()["error_code"]) == (405, 405)
    mode = confluent_get(server, "/mode", ADMIN_KEY)
    assert (mode.status_code, mode.json()["error_code"]) == (404, 404)
    not_json = httpx.post(
        f"{server.url}/subjects/{g1}.levelup/versions",
        content=b"{",
        headers={"Content-Type": CONFLUENT_JSON},
        auth=("tooling", ADMIN_KEY),
    )
    assert (not_json.status_code, not_json.json()["error_code"]) == (400, 400)
    missing = confluent_get(server, f"/subjects/{g1}.nothing/versions", g1_key)
    assert missing.headers["content-type"] == CONFLUENT_JSON
    assert set(missing.json()) == {"error_code", "message"}
    config = confluent_get(server, "/config", g1_key)
    assert config.headers["content-type"] == CONFLUENT_JSON
    assert config.json() == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}
