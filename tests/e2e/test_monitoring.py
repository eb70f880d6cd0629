"""What an on-call engineer sees of a real `playlog up`: the metrics an alert needs on
/metrics (every name the shipped alerts and dashboard use among them), and the live
status page in a real headless browser."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import promql
from tests.support.avro import ocf
from tests.support.browser import chromium
from tests.support.deadline import scaled, wait_until
from tests.support.events import KILL, SCORE, Sender, as_json, login, setup_game
from tests.support.server import ADMIN_KEY, Server

# The README's picture, rewritten only when asked: PLAYLOG_UPDATE_SCREENSHOT=1.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "status-page.png"
FAST = {
    "PLAYLOG_MONITOR__HEARTBEAT_INTERVAL_S": "1",
    "PLAYLOG_MONITOR__CANARY_INTERVAL_S": "2",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("monitoring") / "data", env=FAST)
    try:
        server.start()
        yield server
    finally:
        server.kill()


def samples(server: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = server.admin.get("/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(server: Server, name: str, **labels: str) -> float | None:
    return samples(server).get((name, frozenset(labels.items())))


def test_metrics_an_on_call_engineer_alerts_on(server: Server) -> None:
    key, _ = setup_game(server)
    body = json.dumps([as_json("login", login(seq)) for seq in range(10)]).encode()
    assert server.send("g1", key, body, "application/json").status_code == 202
    assert server.send("g1", key, b"[{not json", "application/json").status_code == 400
    assert server.send("g1", "pl_wrong", body, "application/json").status_code == 401
    wait_until(lambda: server.count("g1.login") == 10, scaled(90), "rows loaded")

    assert value(server, "playlog_ingest_refused_events_total", reason="bad_request") == 1
    assert value(server, "playlog_ingest_refused_events_total", reason="unauthorized") == 1
    route = {"method": "POST", "route": "/v1/games/{game}/events"}
    for code in ("400", "401"):  # exactly ours (the canary's sends answer 202 too)
        assert value(server, "playlog_http_request_duration_seconds_count", **route, code=code) == 1
    assert (
        value(server, "playlog_http_request_duration_seconds_count", **route, code="202") or 0
    ) >= 1
    wait_until(lambda: value(server, "playlog_canary_ok") == 1, scaled(60), "canary arrived")
    assert value(server, "playlog_warehouse_up") == 1

    now = time.time()
    for stage in ("ingest", "process", "load", "canary"):
        beat = value(server, "playlog_heartbeat_timestamp_seconds", stage=stage)
        assert beat is not None and now - beat < scaled(10), stage

    def lag_observed(topic: str, group: str) -> bool:
        labels = {"topic": topic, "partition": "0", "group": group}
        return value(server, "playlog_log_lag_records", **labels) is not None

    for topic, group in (("playlog.events", "playlog-process"), ("playlog.copy", "playlog-load")):
        # Observed every heartbeat (5 s), not per batch: rows may load before it is.
        wait_until(partial(lag_observed, topic, group), scaled(15), f"lag of {group}")

    # Nothing more for g1: its freshness keeps growing between scrapes.
    labels = {"game": "g1", "event_type": "login"}
    first = value(server, "playlog_table_freshness_seconds", **labels)
    time.sleep(2)
    second = value(server, "playlog_table_freshness_seconds", **labels)
    assert first is not None and second is not None and second - first >= 1.9

    scrape = server.admin.get("/metrics").text
    assert 'playlog_canary"' not in scrape  # the canary game is never a label
    assert promql.unknown_uses(scrape, promql.shipped_exprs()) == []


def test_the_status_data_needs_the_admin_key(server: Server) -> None:
    assert httpx.get(f"{server.url}/v1/status").status_code == 401
    assert httpx.get(f"{server.url}/").status_code == 200  # the page itself holds no data
    status = server.admin.get("/v1/status").json()
    assert status["loader"]["state"] == "consuming"
    assert status["freshness_slo_s"] == 600


def test_the_status_page_renders_draws_and_moves_with_traffic(
    server: Server, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    key = server.game("live")
    assert server.register("live", "kill", KILL).status_code == 201
    with chromium() as browser:
        browser.get(server.url)
        wait_until(lambda: browser.find_element(By.ID, "login").is_displayed(), 20, "key form")
        browser.find_element(By.ID, "key").send_keys(ADMIN_KEY)
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        wait_until(lambda: browser.find_element(By.ID, "main").is_displayed(), 20, "the page")

        def read(script: str) -> str:
            # One script per read: the page replaces its elements every poll.
            return str(browser.execute_script(script) or "")

        def text(element_id: str) -> str:
            return read(f"return document.getElementById('{element_id}').textContent")

        def live_row() -> str:
            return read(
                "const rows = [...document.querySelectorAll('#tables tbody tr')];"
                "const row = rows.find(r => r.cells[0].textContent === 'live.kill');"
                "return row ? row.textContent : '';"
            )

        sender = Sender(server, key, game="live")
        sender.start()
        try:
            sender.wait_accepted(4, scaled(60))
            wait_until(lambda: live_row() != "", scaled(60), "live.kill in the tables")
            before = live_row()
            wait_until(lambda: live_row() != before, scaled(30), "rows of live.kill move")
            wait_until(lambda: float(text("ingest-now")) > 0, scaled(30), "an ingest rate")
            for chart in ("chart-ingest", "chart-load", "chart-freshness"):
                points = read(
                    f"return document.querySelector('#{chart} polyline').getAttribute('points')"
                )
                assert len(points.split()) >= 2, chart
            assert "canary:" in text("canary") and "consuming" in text("loader")
            # A failed event (Avro allows the timestamp, no column holds it) is listed.
            assert server.register("live", "score", SCORE).status_code == 201
            bad = ocf(SCORE, [{"player": "ann", "points": 1, "ts": 2**62}])
            assert server.send("live", key, bad, "application/avro").status_code == 202
            wait_until(
                lambda: "live.score" in text("failed"), scaled(60), "the failed event listed"
            )
            assert "process" in text("failed")
            shot = SCREENSHOT if os.environ.get("PLAYLOG_UPDATE_SCREENSHOT") else tmp_path / "s.png"
            assert browser.save_screenshot(str(shot))
        finally:
            sender.stop.set()
            sender.join(30)


def test_after_a_restart_a_table_that_loaded_before_has_its_freshness(server: Server) -> None:
    """Read from the warehouse on start: a table that loads nothing after a restart
    must still age on /metrics (the stalled table an alert is for)."""
    labels = {"game": "g1", "event_type": "login"}
    before = value(server, "playlog_table_freshness_seconds", **labels)
    assert before is not None
    assert server.stop() == 0
    server.start()
    wait_until(
        lambda: value(server, "playlog_table_freshness_seconds", **labels) is not None,
        scaled(30),
        "g1.login's freshness after the restart",
    )
    after = value(server, "playlog_table_freshness_seconds", **labels)
    assert after is not None and after > before
