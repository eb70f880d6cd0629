"""The Confluent API's path values in the app in this process: a version or a schema
id is ASCII digits in range, else Confluent's "invalid version" or "not found" (``²``
and a 5,000-digit version were 500s, ``+1`` was version 1). Confluent's clients
against a live server: tests/e2e/test_confluent.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from tests.support.app import ADMIN, TestClient, app_client

ARABIC_ONE = "\u0661"  # a digit to str.isdigit() and int(), not to Confluent
LEVELUP = {"type": "record", "name": "levelup", "fields": [{"name": "level", "type": "int"}]}
ADMIN_AUTH = ("tooling", ADMIN)
MEDIA = "application/vnd.schemaregistry.v1+json"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with app_client(tmp_path_factory.mktemp("confluent")) as client:
        created = client.post(
            "/v1/games", json={"game": "g1"}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert created.status_code == 201
        registered = client.post(
            "/subjects/g1.levelup/versions", json={"schema": json.dumps(LEVELUP)}, auth=ADMIN_AUTH
        )
        assert registered.json() == {"id": 1}
        yield client


@pytest.mark.parametrize("version", ["1", "latest", "-1", "01"])
def test_a_version_in_digits_or_latest_is_found(client: TestClient, version: str) -> None:
    answer = client.get(f"/subjects/g1.levelup/versions/{version}", auth=ADMIN_AUTH)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["id"], answer.json()["version"]) == (1, 1)


@pytest.mark.parametrize(
    "version",
    [
        *("²", ARABIC_ONE, "9" * 5000, "0" * 5000 + "1", "0" * 20 + "1", "0", "-2", "+1"),
        *(" 1", "1.0", "first", str(2**31)),
    ],
)
def test_any_other_version_is_an_invalid_version(client: TestClient, version: str) -> None:
    answer = client.get(f"/subjects/g1.levelup/versions/{version}", auth=ADMIN_AUTH)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error_code"] == 42202
    assert version[:20] in answer.json()["message"]


def test_a_version_in_range_that_does_not_exist_is_not_found(client: TestClient) -> None:
    answer = client.get(f"/subjects/g1.levelup/versions/{2**31 - 1}", auth=ADMIN_AUTH)
    assert (answer.status_code, answer.json()["error_code"]) == (404, 40402)


@pytest.mark.parametrize(
    "schema_id",
    [
        *("²", ARABIC_ONE, " 1", "+1", "-1", "0", "9" * 5000, "9" * 30, "0" * 5000 + "1"),
        *("0" * 20 + "1", str(2**63), "9" * 19),
    ],
)
def test_a_schema_id_other_than_digits_of_an_id_is_not_found(
    client: TestClient, schema_id: str
) -> None:
    answer = client.get(f"/schemas/ids/{schema_id}", auth=ADMIN_AUTH)
    assert (answer.status_code, answer.json()["error_code"]) == (404, 40403), answer.text


def test_a_schema_id_is_found_by_its_digits(client: TestClient) -> None:
    for schema_id in ("1", "001"):
        answer = client.get(f"/schemas/ids/{schema_id}", auth=ADMIN_AUTH)
        assert answer.status_code == 200
        assert json.loads(answer.json()["schema"]) == LEVELUP


@pytest.mark.parametrize(
    "credentials",
    [
        "Basic " + "é" * 8,  # not ASCII: b64decode's ValueError was a 500
        "Basic " + base64.b64encode(b"tooling:\xff\xfe").decode(),  # not UTF-8
        "Basic " + base64.b64encode(b"no colon").decode(),
        "Basic !!!!",
        "Basic ",
        "Bearer é",
        "Digest x",
    ],
)
def test_garbled_credentials_are_a_401_in_confluent_shape(
    client: TestClient, credentials: str
) -> None:
    for path in ("/subjects", "/schemas/ids/1", "/subjects/g1.levelup/versions/1"):
        answer = client.get(path, headers={b"Authorization": credentials.encode("latin-1")})
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error_code"] == 401


@pytest.mark.parametrize(
    ("declared", "status"),
    [
        *((b"\xb2", 200), (ARABIC_ONE.encode(), 200), (b"0" * 5000 + b"1", 200)),
        *((b"9" * 5000, 413), (b"9" * 20, 413)),
    ],
)
def test_a_garbled_content_length_is_no_500(
    client: TestClient, declared: bytes, status: int
) -> None:
    """Not a number: the body read decides; a number too long to read: too large."""
    body = json.dumps({"schema": json.dumps(LEVELUP)}).encode()
    answer = client.post(
        "/subjects/g1.levelup",
        content=body,
        headers={b"Content-Length": declared, b"Content-Type": MEDIA.encode()},
        auth=ADMIN_AUTH,
    )
    assert answer.status_code == status, answer.text
