"""Through the real app on the embedded setup: who may read the status data (the
admin key, or anyone with server.public_status; the page itself holds no data and is
open), and how refusals are counted by reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from playlog.errors import LogUnavailable
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
