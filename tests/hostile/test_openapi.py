"""schemathesis against a live `playlog up`: requests generated from the served
/openapi.json, valid ones and invalid ones, with every kind of key; no answer may be
a 5xx or say anything the description does not (status, content type, body, headers).

Bounded and seeded: ``EXAMPLES`` cases per operation and mode (valid, and invalid
where there is something to make invalid), the same ones on every run (about a minute
in all). ``PLAYLOG_OPENAPI_EXAMPLES=500`` runs longer; ``PLAYLOG_OPENAPI_SEED=<n>``
draws other cases."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from playlog.ingest.openapi import document
from playlog.ingest.openapi_schemas import LEVELUP, LEVELUP_EVENT
from tests.hostile.bodies import GAME
from tests.hostile.conftest import Target
from tests.support.server import ADMIN_KEY

EXAMPLES = int(os.environ.get("PLAYLOG_OPENAPI_EXAMPLES", "20"))
SEED = os.environ.get("PLAYLOG_OPENAPI_SEED")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
OPERATIONS = sorted((method, path) for path, item in document()["paths"].items() for method in item)


@schemathesis.serializer("application/avro", "avro/binary", "application/vnd.apache.avro+binary")
def _as_bytes(ctx: schemathesis.SerializationContext, value: Any) -> bytes | None:
    """Binary bodies: the generated string's bytes (deep fuzzing of the formats
    themselves is tests/hostile/test_fuzz.py)."""
    return value if isinstance(value, bytes) else str(value).encode()


def _basic(key: str) -> dict[str, str]:
    """The key as Confluent's clients send it: the password of HTTP Basic auth."""
    return {"Authorization": "Basic " + base64.b64encode(f"tooling:{key}".encode()).decode()}


def _keys(target: Target) -> dict[str, dict[str, str]]:
    """Who asks: the admin, the game (Bearer, or Basic as Confluent's clients send a
    key), nobody, a stranger."""
    return {
        "admin": {"Authorization": f"Bearer {ADMIN_KEY}"},
        "game": {"Authorization": f"Bearer {target.key}"},
        "admin-basic": _basic(ADMIN_KEY),
        "game-basic": _basic(target.key),
        "none": {},
        "unknown": {"Authorization": "Bearer pl_00000000_unknown"},
    }


# Path values that exist (the fixture's game, its event type as a Confluent subject):
# generated ones are almost never registered, so bodies would stop at "not found".
EXISTING = {"game": GAME, "subject": f"{GAME}.play"}


def _modes(method: str, path: str) -> list[GenerationMode]:
    """Invalid requests (NEGATIVE) too where there is something to make invalid."""
    operation = document()["paths"][path][method]
    invalid = {"parameters", "requestBody"} & set(operation)
    return [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if invalid else [])]


def _settings(modes: int) -> settings:
    return settings(
        max_examples=EXAMPLES * modes,
        derandomize=SEED is None,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def api(target: Target) -> OpenApiSchema:
    """The description as the server serves it, loaded once (0.2 s of CPU a load)."""
    return schemathesis.openapi.from_url(f"{target.server.url}/openapi.json")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_answers_keep_to_the_description(
    target: Target, api: OpenApiSchema, method: str, path: str
) -> None:
    # One test per operation, its modes mixed: the health check after it costs a load.
    url, modes = target.server.url, _modes(method, path)
    existing = {name: value for name, value in EXISTING.items() if f"{{{name}}}" in path}
    if path == "/v1/games/{game}":  # deleting the fixture's game would end the others
        existing = {}
    # Also the game the fixture made (with its schemas): bodies then reach the payload
    # and registry checks, not only the answer for an unknown game.
    strategy = st.one_of(
        *[
            api[path][method].as_strategy(generation_mode=mode, path_parameters=values)
            for mode in modes
            for values in ([None, existing] if existing else [None])
        ]
    )
    keys = _keys(target)

    @_settings(len(modes))
    @given(case=strategy, who=st.sampled_from(sorted(keys)))
    def run(case: Case[Any], who: str) -> None:
        case.call_and_validate(base_url=url, headers=keys[who], checks=CHECKS, timeout=30)

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()
    target.assert_healthy()


def test_every_success_answer_keeps_to_the_description(target: Target, api: OpenApiSchema) -> None:
    """The answers fuzzing rarely reaches (a 2xx needs an existing game, a matching
    key, a valid schema), each requested once and checked against its description."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    seen: list[tuple[str, str, int]] = []

    def call(method: str, template: str, status: int, **kwargs: Any) -> httpx.Response:
        path = template.format(**kwargs.pop("params", {}))
        kwargs["params"] = kwargs.pop("query", None)
        kwargs.setdefault("headers", admin)
        response = httpx.request(method, f"{target.server.url}{path}", timeout=30, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        assert str(status) in document()["paths"][template][method.lower()]["responses"]
        api[template][method].validate_response(response)  # the body, headers, type
        seen.append((method.lower(), template, status))
        return response

    call("POST", "/v1/games", 201, json={"game": "tour"})
    call("POST", "/v1/games", 409, json={"game": "tour"})
    game = {"game": "tour"}
    key = call("POST", "/v1/games/{game}/keys", 201, params=game).json()
    mine = {"Authorization": f"Bearer {key['api_key']}"}
    levelup = {**game, "event_type": "levelup"}
    registered = "/v1/games/{game}/schemas/{event_type}"
    added = call("POST", registered, 201, params=levelup, json=LEVELUP).json()
    call("POST", registered, 200, params=levelup, json=LEVELUP)
    call("GET", registered, 200, params=levelup, headers=mine)
    call("GET", "/v1/schemas/{fingerprint}", 200, params={"fingerprint": added["fingerprint"]})
    events = "/v1/games/{game}/events"
    body = {"content": json.dumps([LEVELUP_EVENT]), "params": game}
    json_body = {**mine, "Content-Type": "application/json", "Idempotency-Key": "tour-1"}
    call("POST", events, 202, headers=json_body, **body)
    replay = call("POST", events, 202, headers=json_body, **body)
    assert replay.headers["Idempotent-Replayed"] == "true"
    call("POST", events, 415, headers={**mine, "Content-Type": "text/plain"}, **body)
    call("POST", "/v1/query", 200, json={"sql": "select 1"})
    call("POST", "/v1/query", 401, json={"sql": "select 1"}, headers={})
    call("DELETE", "/v1/games/{game}/keys/{key_id}", 200, params={**game, "key_id": key["key_id"]})
    call("GET", "/v1/status", 401, headers={})
    for path in ("/v1/status", "/healthz", "/readyz", "/metrics", "/", "/openapi.json", "/docs"):
        call("GET", path, 200)
    _confluent_tour(call, mine)
    assert "tour" in call("GET", "/v1/games", 200).json()["games"]
    call("DELETE", "/v1/games/{game}", 200, params=game)  # last: the tours above use it
    call("DELETE", "/v1/games/{game}", 404, params=game)
    succeeded = {(m, p) for m, p, status in seen if status < 300}
    assert succeeded == set(OPERATIONS), "an operation's success is not tried"


def _confluent_tour(call: Callable[..., httpx.Response], mine: dict[str, str]) -> None:
    """The Confluent API's answers, with keys as its clients send them (the game's key
    in ``mine`` is revoked by now: it answers 401)."""
    admin, subject = _basic(ADMIN_KEY), {"subject": "tour.levelup"}
    schema = {"json": {"schema": json.dumps(LEVELUP)}}
    versions = "/subjects/{subject}/versions"
    registered = call("POST", versions, 200, params=subject, headers=admin, **schema).json()
    call("GET", "/subjects", 200, headers=admin)
    call("GET", "/subjects", 401, headers=mine)
    call("GET", versions, 200, params=subject, headers=admin)
    call("GET", versions, 404, params={"subject": "tour.nothing"}, headers=admin)
    version = "/subjects/{subject}/versions/{version}"
    call("GET", version, 200, params={**subject, "version": "latest"}, headers=admin)
    call("GET", version, 422, params={**subject, "version": "first"}, headers=admin)
    call("POST", "/subjects/{subject}", 200, params=subject, headers=admin, **schema)
    by_id = "/schemas/ids/{id}"
    call("GET", by_id, 200, params={"id": registered["id"]}, headers=admin)
    compatible = "/compatibility/subjects/{subject}/versions/latest"
    call("POST", compatible, 200, params=subject, headers=admin, **schema)
    changed = {**LEVELUP, "fields": [{"name": "level", "type": "string"}]}
    verbose = call(
        "POST", compatible, 200, params=subject, query={"verbose": "true"}, headers=admin,
        json={"schema": json.dumps(changed)},
    )  # fmt: skip
    assert verbose.json()["is_compatible"] is False and verbose.json()["messages"]
    call("POST", versions, 409, params=subject, headers=admin, json={"schema": json.dumps(changed)})
    call("GET", "/config", 200, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
