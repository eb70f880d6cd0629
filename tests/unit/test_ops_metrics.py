"""The metrics an on-call engineer alerts on: freshness that ages at scrape time,
no label series left behind by throwaway games, refusals by reason, HTTP timing."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import httpx
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tests.support.deadline import wait_until

from playlog.ingest.timing import RequestTiming
from playlog.monitor import metrics
from playlog.monitor.collectors import TableFreshness, UnsetGauge
from playlog.monitor.seed import seed_freshness
from playlog.names import CANARY_GAME
from playlog.runtime import label_pruner
from playlog.settings import Settings
from playlog.wiring import Services


def sample(name: str, registry: CollectorRegistry = REGISTRY, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_table_freshness_keeps_growing_while_nothing_loads() -> None:
    clock = Clock(1_000.0)
    registry = CollectorRegistry()
    freshness = TableFreshness(clock)
    registry.register(freshness)
    freshness.loaded("g1.login", received_max_ms=997_000)

    labels = {"game": "g1", "event_type": "login"}
    assert sample("playlog_table_freshness_seconds", registry, **labels) == 3.0
    clock.now += 80  # the stalled table: 80 s later it still read 3.2 s
    assert sample("playlog_table_freshness_seconds", registry, **labels) == 83.0
    assert sample("playlog_load_freshness_seconds", registry, table="g1.login") == 83.0

    freshness.loaded("g1.login", received_max_ms=1_079_000)
    assert sample("playlog_table_freshness_seconds", registry, **labels) == 1.0
    # A redelivered older file does not make the table look staler.
    freshness.loaded("g1.login", received_max_ms=900_000)
    assert sample("playlog_table_freshness_seconds", registry, **labels) == 1.0


def test_the_process_registry_exports_freshness_from_the_loaders_record() -> None:
    metrics.count_loaded("fresh.login", rows=3, received_max_ms=0)
    age = sample("playlog_table_freshness_seconds", game="fresh", event_type="login")
    assert age is not None and age > 1e9  # now minus the epoch
    assert sample("playlog_load_rows_total", table="fresh.login") == 3
    metrics.keep_only_games(set())


def test_the_canary_game_never_becomes_a_label() -> None:
    metrics.count_accepted(CANARY_GAME, 1)
    metrics.count_loaded(f"{CANARY_GAME}.canary", rows=1, received_max_ms=1)
    exported = [
        s.labels for f in REGISTRY.collect() for s in f.samples if CANARY_GAME in str(s.labels)
    ]
    assert exported == []


def test_series_of_games_gone_from_the_catalog_are_dropped() -> None:
    for game in ("kept", "load123"):
        metrics.count_accepted(game, 5)
        metrics.count_loaded(f"{game}.login", rows=5, received_max_ms=1)

    metrics.keep_only_games({"kept"})

    assert sample("playlog_ingest_events_total", game="kept") == 5
    assert sample("playlog_load_rows_total", table="kept.login") == 5
    assert sample("playlog_table_freshness_seconds", game="kept", event_type="login")
    assert sample("playlog_ingest_events_total", game="load123") is None
    assert sample("playlog_load_rows_total", table="load123.login") is None
    assert sample("playlog_table_freshness_seconds", game="load123", event_type="login") is None
    metrics.keep_only_games(set())
    assert sample("playlog_ingest_events_total", game="kept") is None


def _timed_app() -> Starlette:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hi")

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    routes = [Route("/hello/{name}", hello), Route("/broken", broken)]
    return Starlette(routes=routes, middleware=[Middleware(RequestTiming, routes=routes)])


def test_http_requests_are_timed_by_route_template_not_by_path() -> None:
    def count(route: str, code: str, method: str = "GET") -> float:
        labels = {"method": method, "route": route, "code": code}
        return (
            REGISTRY.get_sample_value("playlog_http_request_duration_seconds_count", labels) or 0.0
        )

    before = {
        "hello": count("/hello/{name}", "200"),
        "none": count("unmatched", "404"),
        "bug": count("/broken", "500"),
        "odd": count("unmatched", "404", "other"),
    }

    async def requests() -> list[int]:
        transport = httpx.ASGITransport(_timed_app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            paths = [("GET", f"/hello/{name}") for name in "abc"]
            paths += [("GET", "/nowhere"), ("GET", "/broken"), ("BREW", "/nowhere")]
            return [(await client.request(m, p)).status_code for m, p in paths]

    assert asyncio.run(requests()) == [200, 200, 200, 404, 500, 404]

    assert count("/hello/{name}", "200") == before["hello"] + 3
    assert count("unmatched", "404") == before["none"] + 1
    assert count("/broken", "500") == before["bug"] + 1
    assert count("unmatched", "404", "other") == before["odd"] + 1


def test_warehouse_up_is_absent_until_a_check_ran() -> None:
    registry = CollectorRegistry()
    up = UnsetGauge("playlog_warehouse_up", "doc")
    registry.register(up)
    assert "\nplaylog_warehouse_up " not in generate_latest(registry).decode()
    assert sample("playlog_warehouse_up", registry) is None
    up.set(0)
    assert sample("playlog_warehouse_up", registry) == 0
    up.set(1)
    assert sample("playlog_warehouse_up", registry) == 1


def test_the_label_pruner_follows_the_catalog(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, monitor={"heartbeat_interval_s": 0.05})
    services = Services.open(settings, with_warehouse=False)
    services.catalog.add_game("stays")
    for game in ("stays", "deleted"):
        metrics.count_accepted(game, 1)
    stop = threading.Event()
    pruner = threading.Thread(target=label_pruner(services), args=(stop,))
    pruner.start()
    try:
        wait_until(
            lambda: sample("playlog_ingest_events_total", game="deleted") is None, 10, "pruned"
        )
        assert sample("playlog_ingest_events_total", game="stays") == 1
    finally:
        stop.set()
        pruner.join(5)
        services.close()
        metrics.keep_only_games(set())


def test_seeding_skips_empty_and_unreadable_tables(tmp_path: Path) -> None:
    services = Services.open(Settings(data_dir=tmp_path))
    try:
        services.catalog.add_game("seeded")
        schema = {"type": "record", "name": "e", "fields": [{"name": "n", "type": "long"}]}
        services.registry.register("seeded", "empty", json.dumps(schema))
        assert services.warehouse is not None
        tables = [("seeded", "empty"), ("seeded", "missing")]
        assert seed_freshness(services.warehouse, tables, threading.Event()) == 0
    finally:
        services.close()
    assert sample("playlog_table_freshness_seconds", game="seeded", event_type="empty") is None
