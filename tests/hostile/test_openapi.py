"""schemathesis against a live `playlog up`: requests generated from the served
/openapi.json, valid ones and invalid ones, with every kind of key; no answer may be
a 5xx or say anything the description does not (status, content type, body, headers).

Bounded and seeded: ``EXAMPLES`` cases per operation and mode, the same ones on every
run (about a minute in all). ``PLAYLOG_OPENAPI_EXAMPLES=500`` runs longer;
``PLAYLOG_OPENAPI_SEED=<n>`` draws other cases."""

from __future__ import annotations

import os
from typing import Any

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
    # Events of the game the fixture made (with its schemas): generated bodies reach
    # the payload checks, not just the 404 of an unknown game.
    fixed = {"game": GAME} if path.endswith("/events") else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
    keys = _keys(target)

    @_settings()
    @given(case=strategy, who=st.sampled_from(sorted(keys)))
    def run(case: Case[Any], who: str) -> None:
        case.call_and_validate(base_url=url, headers=keys[who], checks=CHECKS, timeout=30)

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()
    target.assert_healthy()
