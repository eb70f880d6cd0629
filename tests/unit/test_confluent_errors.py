"""The Confluent API's error answers: each playlog error as Confluent's status, code
and shape, and a bug as 500 with nothing of it shown (issue 13, part 4)."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from playlog.errors import (
    CatalogUnavailable,
    Conflict,
    Forbidden,
    IncompatibleSchema,
    PayloadTooLarge,
    PlaylogError,
    Unauthorized,
)
from playlog.ingest.confluent import (
    MEDIA_TYPE,
    InvalidSchema,
    InvalidVersion,
    SchemaNotFound,
    SubjectNotFound,
    VersionNotFound,
    refusal,
)

REQUEST = Request({"type": "http", "method": "GET", "path": "/subjects", "headers": []})


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (SubjectNotFound("s"), 404, 40401),
        (VersionNotFound("v"), 404, 40402),
        (SchemaNotFound("x"), 404, 40403),
        (InvalidSchema("x"), 422, 42201),
        (InvalidVersion("x"), 422, 42202),
        (IncompatibleSchema("x", field="a", rule="type_change"), 409, 409),
        (Conflict("registered concurrently; retry"), 409, 409),
        (Unauthorized("x"), 401, 401),
        (Forbidden("x"), 403, 40301),
        (PayloadTooLarge("x"), 413, 413),
        (CatalogUnavailable("x"), 503, 50001),
    ],
)
def test_playlog_errors_answer_in_confluent_shape(
    error: PlaylogError, status: int, code: int
) -> None:
    answer = refusal(REQUEST, error)
    assert (answer.status_code, answer.media_type) == (status, MEDIA_TYPE)
    assert json.loads(bytes(answer.body)) == {"error_code": code, "message": error.message}
    assert ("retry-after" in answer.headers) == (status == 503)
    assert ("www-authenticate" in answer.headers) == (status == 401)


def test_a_bug_answers_500_without_its_details() -> None:
    answer = refusal(REQUEST, KeyError("secret internals"))
    assert answer.status_code == 500
    assert json.loads(bytes(answer.body)) == {
        "error_code": 50001,
        "message": "internal error; see the server log",
    }
