"""Who may read the status data: the admin key, or anyone with server.public_status;
the page itself holds no data and is open (ARCHITECTURE.md: GET / is for anyone)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from playlog.ingest.app import create_app
from playlog.settings import Settings
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
