"""``DELETE /v1/games/{game}`` (admin): the game's tables dropped, its keys revoked, its
schemas gone from the catalog; ``GET /v1/games`` lists the games users made (never the
canary's). Over a real catalog, registry and DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.app import ADMIN, TestClient, app_client

from playlog.names import CANARY_GAME
from playlog.warehouse.duckdb import DuckDBWarehouse

AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
LOGIN = '{"type": "record", "name": "login", "fields": [{"name": "player", "type": "string"}]}'


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    yield warehouse
    warehouse.close()


@pytest.fixture
def client(tmp_path: Path, warehouse: DuckDBWarehouse) -> Iterator[TestClient]:
    with app_client(tmp_path, warehouse) as client:
        yield client


def _game_with_a_table(client: TestClient, game: str) -> str:
    created = client.post("/v1/games", json={"game": game}, headers=AS_ADMIN)
    assert created.status_code == 201
    path = f"/v1/games/{game}/schemas/login"
    assert client.post(path, content=LOGIN, headers=AS_ADMIN).status_code == 201
    return str(created.json()["api_key"])


def _tables(warehouse: DuckDBWarehouse, game: str) -> list[str]:
    sql = f"select table_name from information_schema.tables where table_schema = '{game}'"
    return [str(row[0]) for row in warehouse.query(sql).rows]


def test_delete_drops_tables_revokes_keys_and_forgets_schemas(
    client: TestClient, warehouse: DuckDBWarehouse
) -> None:
    key = _game_with_a_table(client, "doomed")
    _game_with_a_table(client, "kept")
    assert _tables(warehouse, "doomed") == ["login"]

    answer = client.delete("/v1/games/doomed", headers=AS_ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"game": "doomed", "deleted": True, "tables": ["doomed.login"]}

    assert _tables(warehouse, "doomed") == []
    assert _tables(warehouse, "kept") == ["login"]  # nothing else touched
    as_game = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/games/doomed/schemas/login", headers=as_game).status_code == 401
    assert client.get("/v1/games/doomed/schemas/login", headers=AS_ADMIN).status_code == 404
    assert client.get("/v1/games", headers=AS_ADMIN).json() == {"games": ["kept"]}

    # the name is free again: a new game of that name starts from nothing
    _game_with_a_table(client, "doomed")
    versions = client.get("/v1/games/doomed/schemas/login", headers=AS_ADMIN).json()
    assert [v["version"] for v in versions["versions"]] == [1]


def test_delete_refuses_unknown_games_strangers_and_bad_names(client: TestClient) -> None:
    _game_with_a_table(client, "mine")
    missing = client.delete("/v1/games/nosuch", headers=AS_ADMIN)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no game 'nosuch'"
    assert client.delete("/v1/games/Bad-Name", headers=AS_ADMIN).status_code == 400
    assert client.delete("/v1/games/mine").status_code == 401
    assert client.get("/v1/games", headers=AS_ADMIN).json() == {"games": ["mine"]}


def test_the_canary_game_is_not_listed(client: TestClient) -> None:
    services = client.app.state.ingest.services  # type: ignore[attr-defined]
    services.catalog.add_game(CANARY_GAME)  # as the canary does
    _game_with_a_table(client, "mine")
    assert client.get("/v1/games", headers=AS_ADMIN).json() == {"games": ["mine"]}
    assert client.get("/v1/games").status_code == 401
