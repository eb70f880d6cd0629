"""schemathesis against a live `playlog up`: requests generated from the served
/openapi.json, valid ones and invalid ones, with every kind of key; no answer may be
a 5xx or say anything the description does not (status, content type, body, headers).

Bounded and seeded: ``EXAMPLES`` cases per operation and mode, the same ones on every
run (about a minute in all). ``PLAYLOG_OPENAPI_EXAMPLES=500`` runs longer;
``PLAYLOG_OPENAPI_SEED=<n>`` draws other cases."""

from __future__ import annotations

import json
import os
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
# Invalid requests (NEGATIVE) only where there is something to make invalid.
CASES = sorted(
    (method, path, mode)
    for path, item in document()["paths"].items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or {"parameters", "requestBody"} & set(operation)
)


@schemathesis.serializer("application/avro", "avro/binary", "application/vnd.apache.avro+binary")
def _as_bytes(ctx: schemathesis.SerializationContext, value: Any) -> bytes | None:
    """Binary bodies: the generated string's bytes (deep fuzzing of the formats
    themselves is tests/hostile/test_fuzz.py)."""
    return value if isinstance(value, bytes) else str(value).encode()


def _keys(target: Target) -> dict[str, dict[str, str]]:
    """Who asks: the admin, the game, nobody, a stranger."""
    return {
        "admin": {"Authorization": f"Bearer {ADMIN_KEY}"},
        "game": {"Authorization": f"Bearer {target.key}"},
        "none": {},
        "unknown": {"Authorization": "Bearer pl_00000000_unknown"},
    }


def _settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        derandomize=SEED is None,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_answers_keep_to_the_description(
    target: Target, method: str, path: str, mode: GenerationMode
) -> None:
    url = target.server.url
    operation = schemathesis.openapi.from_url(f"{url}/openapi.json")[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    if "{game}" in path and path != "/v1/games/{game}":  # (deleting it ends the others)
        # Also the game the fixture made (with its schemas): bodies then reach the
        # payload and registry checks, not only the answer for an unknown game.
        mine = operation.as_strategy(generation_mode=mode, path_parameters={"game": GAME})
        strategy = st.one_of(strategy, mine)
    keys = _keys(target)

    @_settings()
    @given(case=strategy, who=st.sampled_from(sorted(keys)))
    def run(case: Case[Any], who: str) -> None:
        case.call_and_validate(base_url=url, headers=keys[who], checks=CHECKS, timeout=30)

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()
    target.assert_healthy()


def test_every_success_answer_keeps_to_the_description(target: Target) -> None:
    """The answers fuzzing rarely reaches (a 2xx needs an existing game, a matching
    key, a valid schema), each requested once and checked against its description."""
    schema = schemathesis.openapi.from_url(f"{target.server.url}/openapi.json")
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    seen: list[tuple[str, str, int]] = []

    def call(method: str, template: str, status: int, **kwargs: Any) -> httpx.Response:
        path = template.format(**kwargs.pop("params", {}))
        kwargs.setdefault("headers", admin)
        response = httpx.request(method, f"{target.server.url}{path}", timeout=30, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        assert str(status) in document()["paths"][template][method.lower()]["responses"]
        schema[template][method].validate_response(response)  # the body, headers, type
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
    assert "tour" in call("GET", "/v1/games", 200).json()["games"]
    call("DELETE", "/v1/games/{game}", 200, params=game)
    call("DELETE", "/v1/games/{game}", 404, params=game)
    call("GET", "/v1/status", 401, headers={})
    for path in ("/v1/status", "/healthz", "/readyz", "/metrics", "/", "/openapi.json", "/docs"):
        call("GET", path, 200)
    succeeded = {(m, p) for m, p, status in seen if status < 300}
    assert succeeded == {(m, p) for m, p, _ in CASES}, "an operation's success is not tried"
