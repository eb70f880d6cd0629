"""``playlog status`` as a table: what each stage's state says, from the report that
``GET /readyz`` and ``GET /v1/status`` make (states a live server rarely shows)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from playlog.cli.status import render


def rendered(report: dict[str, Any]) -> str:
    console = Console(record=True, width=200, color_system=None)
    render(report, console)
    return console.export_text()


def line_of(text: str, first_cell: str) -> str:
    (line,) = [line for line in text.splitlines() if line.strip("│ ").startswith(first_cell)]
    return line


REPORT: dict[str, Any] = {
    "url": "http://127.0.0.1:8080",
    "ready": False,
    "checks": {"log": "log unavailable: disk full", "warehouse": "ok"},
    "heartbeat_interval_s": 5.0,
    "stages": {"ingest": 1.0, "process": 16.0, "load": 2.0, "canary": 3.0},
    "loader": {"state": "failing", "reason": "permission denied for schema g"},
    "canary": {"ok": False, "latency_s": None},
    "lag": [{"consumer": "playlog-load on copy", "records": 12345, "oldest_unread_s": 61.5}],
    "freshness_slo_s": 600,
    "tables": [
        {"table": "g.a", "rows": 10, "rows_per_min": 2.5, "freshness_s": 700.0, "stale": True,
         "failed": 3},
        {"table": "g.b", "rows": 1, "rows_per_min": None, "freshness_s": None, "stale": False,
         "failed": None},
    ],
}  # fmt: skip


def test_the_table_says_what_is_wrong() -> None:
    text = rendered(REPORT)
    assert "playlog at http://127.0.0.1:8080: NOT ready" in text
    assert "log: log unavailable: disk full" in text
    assert "silent" in line_of(text, "process")  # 16 s: over three 5 s heartbeats
    assert "alive" in line_of(text, "ingest")
    assert "failing: permission denied for schema g" in line_of(text, "load")
    assert "failing" in line_of(text, "canary")
    assert "12,345" in line_of(text, "playlog-load on copy")
    assert "61.5 s" in line_of(text, "playlog-load on copy")
    table_a = line_of(text, "g.a")
    assert "700.0 s stale" in table_a and table_a.rstrip(" │").endswith("3")
    assert line_of(text, "g.b").rstrip(" │").endswith("?")  # failed events unknown there


def test_without_the_status_data_it_shows_readiness_and_why() -> None:
    report = {"url": "u", "ready": True, "checks": {"log": "ok"}, "status_error": "no key"}
    text = rendered(report)
    assert "playlog at u: ready" in text and "no stages, lag or tables: no key" in text
    assert "stages" not in text.replace("no stages", "")
