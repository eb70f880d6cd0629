"""``Idempotency-Key`` on POST /v1/games/{game}/events (issue 9, finding 10): a retried
request is answered, not appended again; the key store is the shared catalog."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # it prefers the httpx2 package; httpx works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from playlog.errors import CatalogUnavailable, LogUnavailable
from playlog.ingest.app import create_app
from playlog.registry.catalog import Catalog
from playlog.registry.registry import Registry
from playlog.settings import Settings

ADMIN = "pl_admin_unit"
LOGIN = {"type": "record", "name": "login", "fields": [{"name": "user", "type": "string"}]}
BODY = json.dumps([{"event_type": "login", "data": {"user": "u1"}}] * 3)


class Log:
    """Appends in memory; ``down`` fails them; ``gate`` holds them until set."""

    def __init__(self) -> None:
        self.appended: list[Any] = []
        self.down = False
        self.gate = threading.Event()
        self.gate.set()

    def append(self, topic: str, messages: Any) -> list[tuple[int, int]]:
        self.gate.wait(30)
        if self.down:
            raise LogUnavailable("log is down")
        self.appended.extend(messages)
        return [(0, len(self.appended) - 1)]


class Api:
    def __init__(self, tmp_path: Path, **server: Any) -> None:
        self.catalog = Catalog(tmp_path / "catalog.sqlite")
        registry = Registry(self.catalog, None)
        self.keys = {}
        for game in ("g1", "g2"):
            self.catalog.add_game(game)
            registry.register(game, "login", json.dumps(LOGIN))
            self.keys[game] = self.catalog.add_key(game)[1]
        self.log = Log()
        services = SimpleNamespace(
            settings=Settings(data_dir=tmp_path, server=server),
            registry=registry, catalog=self.catalog, log=self.log, warehouse=None,
        )  # fmt: skip
        self.client = TestClient(create_app(services, ADMIN), raise_server_exceptions=False)  # type: ignore[arg-type]

    def post(self, game: str = "g1", key: str | None = "batch-1", body: str = BODY) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[game]}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(f"/v1/games/{game}/events", content=body, headers=headers)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    api = Api(tmp_path)
    with api.client:
        yield api
    api.catalog.close()


def test_the_same_key_twice_appends_once_and_answers_the_same(api: Api) -> None:
    first, second = api.post(), api.post()
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json() == {"accepted": 3}
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["x-request-id"] == first.headers["x-request-id"]
    assert len(api.log.appended) == 1


def test_without_a_key_every_request_appends(api: Api) -> None:
    api.post(key=None)
    api.post(key=None)
    assert len(api.log.appended) == 2


def test_the_same_key_for_two_games_is_two_batches(api: Api) -> None:
    assert api.post("g1").status_code == api.post("g2").status_code == 202
    assert len(api.log.appended) == 2


def test_concurrent_requests_with_one_key_append_once(api: Api) -> None:
    api.log.gate.clear()  # the first append waits: the others arrive meanwhile
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(api.post) for _ in range(4)]
        time.sleep(0.3)  # not for correctness: lets the others reach the claim first
        api.log.gate.set()
        answers = [f.result() for f in futures]
    assert len(api.log.appended) == 1
    for answer in answers:  # waited for the first's answer, or told it is in progress
        assert answer.status_code in (202, 409), answer.text
        if answer.status_code == 409:
            assert answer.json()["error"]["code"] == "idempotency_key_in_progress"
    assert sum(a.status_code == 202 for a in answers) >= 1


def test_a_failed_append_releases_the_key_for_the_retry(api: Api) -> None:
    api.log.down = True
    assert api.post().status_code == 503
    api.log.down = False
    retry = api.post()
    assert retry.status_code == 202 and "idempotent-replayed" not in retry.headers
    assert len(api.log.appended) == 1
    assert api.post().headers["idempotent-replayed"] == "true"
    assert len(api.log.appended) == 1


def test_a_key_past_its_window_appends_again(tmp_path: Path) -> None:
    api = Api(tmp_path, idempotency_window_s=0.2)
    with api.client:
        api.post()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and api.catalog.key_state("g1", "batch-1") is not None:
            if api.catalog.purge_keys(time.time()):
                break
        assert api.post().status_code == 202
        assert len(api.log.appended) == 2
    api.catalog.close()


def test_an_expired_key_not_yet_purged_is_claimed_anew(tmp_path: Path) -> None:
    api = Api(tmp_path, idempotency_window_s=0.2)
    with api.client:
        api.post()
        state = api.catalog.key_state("g1", "batch-1")
        assert state is not None
        while time.time() <= state[3]:
            time.sleep(0.05)
        again = api.post()
        assert again.status_code == 202 and "idempotent-replayed" not in again.headers
        assert len(api.log.appended) == 2
    api.catalog.close()


def test_a_claim_left_by_a_crashed_node_is_taken_over(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playlog.ingest import idempotency

    now = time.time()
    assert api.catalog.claim_key("g1", "batch-1", "crashed-node", now - 3600, now + 3600)
    monkeypatch.setattr(idempotency, "STALE_S", 60.0)
    assert api.post().status_code == 202  # the claim is older than any append can take
    assert len(api.log.appended) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_a_malformed_key_is_a_bad_request(api: Api, key: str) -> None:
    answer = api.post(key=key)
    assert answer.status_code == 400
    assert api.log.appended == []


def test_the_key_store_down_never_stops_ingestion(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog's database (often the warehouse's) down: batches are still accepted,
    without the key's protection, instead of a 503 for every client that sends keys."""
    api.post(key=None)  # auth cached while the catalog answers

    def down(*args: Any) -> bool:
        raise CatalogUnavailable("catalog unavailable: connection refused")

    monkeypatch.setattr(api.catalog, "claim_key", down)
    answer = api.post(key="during-outage")
    assert answer.status_code == 202 and answer.json() == {"accepted": 3}
    assert len(api.log.appended) == 2
