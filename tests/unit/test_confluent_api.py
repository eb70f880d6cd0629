"""The Confluent API's path values in the app in this process: a version or a schema
id is ASCII digits in range, else Confluent's "invalid version" or "not found" (``²``
and a 5,000-digit version were 500s, ``+1`` was version 1). Confluent's clients
against a live server: tests/e2e/test_confluent.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.support.app import ADMIN, TestClient, app_client

ARABIC_ONE = "\u0661"  # a digit to str.isdigit() and int(), not to Confluent
LEVELUP = {"type": "record", "name": "levelup", "fields": [{"name": "level", "type": "int"}]}
ADMIN_AUTH = ("tooling", ADMIN)


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
    ["²", ARABIC_ONE, "9" * 5000, "0", "-2", "+1", " 1", "1.0", "first", str(2**31)],
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
    "schema_id", ["²", ARABIC_ONE, " 1", "+1", "-1", "0", "9" * 5000, "9" * 30]
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
