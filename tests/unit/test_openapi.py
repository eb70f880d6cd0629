"""The OpenAPI description (``playlog.ingest.openapi``): valid OpenAPI 3.1, describing
exactly the routes the app mounts, served at /openapi.json and readable at /docs
without the internet. Its answers against a live server: tests/hostile/test_openapi.py."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route
from tests.support.app import TestClient, app_client

from playlog.ingest import confluent
from playlog.ingest.docs import render_docs
from playlog.ingest.openapi import document

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with app_client(tmp_path) as client:
        yield client


def _described() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method in METHODS
    }


def _mounted(client: TestClient) -> set[tuple[str, str]]:
    found = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if route in confluent.OUTSIDE_SUBSET:
            continue  # catch-alls answering 404/405 for the paths not described
        assert isinstance(route, Route), f"{route!r}: describe what it mounts, then allow it"
        # Starlette adds HEAD to every GET route by itself: not part of the API.
        found |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return found


def test_the_description_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on the first violation of the OpenAPI 3.1 schema


def test_every_mounted_route_is_described_and_every_described_one_is_mounted(
    client: TestClient,
) -> None:
    mounted, described = _mounted(client), _described()
    assert mounted - described == set(), "mounted but not in playlog/ingest/openapi.py"
    assert described - mounted == set(), "described but not mounted"
    assert {("POST", "/v1/games/{game}/events"), ("GET", "/docs")} <= mounted


def _is_confluent(path: str) -> bool:
    return path.startswith(("/subjects", "/schemas/", "/compatibility/", "/config"))


def _error_shape(path: str, status: str) -> tuple[str, str]:
    """(media type, schema) of an error answer: Confluent's on its API, but for 431,
    which the server answers before it routes the request."""
    if _is_confluent(path) and status != "431":
        return confluent.MEDIA_TYPE, "ConfluentError"
    return "application/json", "Error"


def test_every_error_answer_has_the_error_shape_of_its_api() -> None:
    doc = document()
    error_responses = doc["components"]["responses"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) < 400 or path == "/readyz":
                    continue
                name = answer["$ref"].rsplit("/", 1)[-1]
                media_type, shape = _error_shape(path, status)
                assert list(error_responses[name]["content"]) == [media_type], (path, status)
                schema = error_responses[name]["content"][media_type]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{shape}"}, (method, path, status)


def test_the_confluent_operations_take_its_media_types_and_basic_auth() -> None:
    doc = document()
    operations = [
        (path, operation)
        for path, item in doc["paths"].items()
        if _is_confluent(path)
        for operation in item.values()
    ]
    assert len(operations) == 8
    for path, operation in operations:
        if "requestBody" in operation:
            assert set(operation["requestBody"]["content"]) == {
                confluent.MEDIA_TYPE,
                "application/json",
            }, path
        assert {"adminBasic"} in map(set, operation["security"]), path
        assert {"adminKey"} in map(set, operation["security"]), path
        for status, answer in operation["responses"].items():
            if int(status) < 300:
                assert list(answer["content"]) == [confluent.MEDIA_TYPE], (path, status)
    basic = doc["components"]["securitySchemes"]["adminBasic"]
    assert (basic["type"], basic["scheme"]) == ("http", "basic")


def test_openapi_json_is_served_to_anyone(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(json.dumps(document()))


def test_docs_page_shows_every_operation_and_needs_no_internet(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    for method, path in _described():
        assert f"{method} {html.escape(path)}" in page, (method, path)
    for status in ("202", "415", "503"):
        assert f">{status}<" in page
    assert "Idempotency-Key" in page and "application/vnd.apache.avro+binary" in page
    assert "GET /subjects/{subject}/versions/{version}" in page
    assert "application/vnd.schemaregistry.v1+json" in page and "error_code" in page
    # Nothing loaded from elsewhere: no script, stylesheet or image by URL.
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) is None
    assert "<script" not in page


def test_docs_escape_what_the_description_says() -> None:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "t <b>", "version": "1", "description": "a & `<b>`"},
        "paths": {
            "/x/{id}": {
                "get": {
                    "summary": "<script>alert(1)</script>",
                    "responses": {"200": {"description": "ok <i>"}},
                }
            }
        },
    }
    page = render_docs(doc)
    assert "<script>" not in page and "<i>" not in page and "t &lt;b&gt;" in page
    assert "Key: none needed" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "GET /x/{id}" in page and "a &amp; <code>&lt;b&gt;</code>" in page
