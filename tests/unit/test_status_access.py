"""Through the real app on the embedded setup: who may read the status data (the
admin key, or anyone with server.public_status; the page itself holds no data and is
open), and how refusals are counted by reason."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from tests.support.app import ADMIN as APP_ADMIN
from tests.support.app import app_client

from playlog.contracts import FailedEvent
from playlog.errors import LogUnavailable
from playlog.ingest import health
from playlog.ingest.app import create_app
from playlog.monitor import status
from playlog.settings import Settings
from playlog.storage.local import LocalStore
from playlog.warehouse.base import DEFAULT_LIMITS, QueryLimits, QueryResult
from playlog.warehouse.duckdb import DuckDBWarehouse
from playlog.wiring import Services

ADMIN = "pl_admin_test"


def statuses(tmp_path: Path, public: bool) -> dict[str, int]:
    settings = Settings(data_dir=tmp_path, server={"public_status": public})
    services = Services.open(settings)

    async def ask() -> dict[str, int]:
        transport = httpx.ASGITransport(create_app(services, ADMIN))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            game_key = (
                await client.post(
                    "/v1/games", json={"game": "g1"}, headers={"Authorization": f"Bearer {ADMIN}"}
                )
            ).json()["api_key"]
            asks = {
                "page": ("/", None),
                "anonymous": ("/v1/status", None),
                "game key": ("/v1/status", game_key),
                "admin": ("/v1/status", ADMIN),
            }
            return {
                who: (
                    await client.get(
                        path, headers={"Authorization": f"Bearer {key}"} if key else {}
                    )
                ).status_code
                for who, (path, key) in asks.items()
            }

    try:
        return asyncio.run(ask())
    finally:
        services.close()


@pytest.mark.parametrize(
    ("public", "expected"),
    [
        (False, {"page": 200, "anonymous": 401, "game key": 403, "admin": 200}),
        (True, {"page": 200, "anonymous": 200, "game key": 200, "admin": 200}),
    ],
)
def test_status_data_access(tmp_path: Path, public: bool, expected: dict[str, int]) -> None:
    assert statuses(tmp_path, public) == expected


def test_a_batch_refused_after_validation_counts_its_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log is down: the whole checked batch is refused (503), each event counted."""
    services = Services.open(Settings(data_dir=tmp_path))
    schema = {"type": "record", "name": "e", "fields": [{"name": "n", "type": "long"}]}
    body = [{"event_type": "e", "data": {"n": n}} for n in range(7)]

    def down(*args: object) -> None:
        raise LogUnavailable("log down")

    async def send() -> list[int]:
        transport = httpx.ASGITransport(create_app(services, ADMIN))
        admin = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            key = (await client.post("/v1/games", json={"game": "g1"}, headers=admin)).json()
            await client.post("/v1/games/g1/schemas/e", json=schema, headers=admin)
            monkeypatch.setattr(services.log, "append", down)
            game = {"Authorization": f"Bearer {key['api_key']}"}
            sent = await client.post("/v1/games/g1/events", json=body, headers=game)
            json_type = {**game, "Content-Type": "application/json"}
            junk = await client.post("/v1/games/g1/events", content=b"[", headers=json_type)
            return [sent.status_code, junk.status_code]

    def refused(reason: str) -> float:
        labels = {"reason": reason}
        return REGISTRY.get_sample_value("playlog_ingest_refused_events_total", labels) or 0.0

    before = {reason: refused(reason) for reason in ("log_unavailable", "bad_request")}
    try:
        assert asyncio.run(send()) == [503, 400]
    finally:
        services.close()
    assert refused("log_unavailable") == before["log_unavailable"] + 7
    assert refused("bad_request") == before["bad_request"] + 1


class CountingWarehouse(DuckDBWarehouse):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path / "w.duckdb", LocalStore(tmp_path / "objects"))
        self.queries = 0

    def query(self, sql: str, limits: QueryLimits = DEFAULT_LIMITS) -> QueryResult:
        self.queries += 1
        return super().query(sql, limits)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[CountingWarehouse]:
    warehouse = CountingWarehouse(tmp_path)
    secret = FailedEvent(1_000, "process", "g1", "e", "h", "bad value 'card 4111'", "s1", b"x")
    assert warehouse.record_failed([secret]) == ["s1"]
    yield warehouse
    warehouse.close()


def test_public_status_leaves_out_reasons_the_admin_key_sees_them(
    tmp_path: Path, warehouse: CountingWarehouse
) -> None:
    with app_client(tmp_path, warehouse, public_status=True) as client:
        anonymous = client.get("/v1/status")
        admin = client.get("/v1/status", headers={"Authorization": f"Bearer {APP_ADMIN}"})
        game = client.get("/v1/status", headers={"Authorization": "Bearer pl_unknown"})
    assert anonymous.status_code == admin.status_code == game.status_code == 200
    assert "4111" not in anonymous.text and "4111" not in game.text
    [public_row] = anonymous.json()["failed"]
    assert public_row["stage"] == "process" and "reason" not in public_row
    assert anonymous.json()["loader"]["reason"] is None
    assert [row["reason"] for row in admin.json()["failed"]] == ["bad value 'card 4111'"]


def test_the_public_view_drops_the_loaders_reason_and_every_failed_reason() -> None:
    document = {
        "loader": {"state": "failing", "reason": "invalid input: 'card 4111'"},
        "failed": [{"stage": "load", "reason": "x"}, {"stage": "process", "reason": "y"}],
        "totals": {"events_accepted": 3.0},
    }
    assert status.public(document) == {
        "loader": {"state": "failing", "reason": None},
        "failed": [{"stage": "load"}, {"stage": "process"}],
        "totals": {"events_accepted": 3.0},
    }
    assert status.public({**document, "failed": None})["failed"] is None


def test_status_data_is_gathered_once_per_cache_period(
    tmp_path: Path, warehouse: CountingWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "STATUS_CACHE_S", 0.5)
    with app_client(tmp_path, warehouse, public_status=True) as client:
        for _ in range(20):
            assert client.get("/v1/status").status_code == 200
        per_gather = warehouse.queries  # recent failed events, and counts per table
        assert per_gather == 2
        time.sleep(0.6)
        client.get("/v1/status", headers={"Authorization": f"Bearer {APP_ADMIN}"})
        assert warehouse.queries == 2 * per_gather
