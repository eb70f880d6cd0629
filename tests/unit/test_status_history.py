"""The status page's numbers: rates between samples, the 15-minute window, rows/min
per table, staleness against the SLO."""

from __future__ import annotations

from pathlib import Path

from playlog.monitor.history import History
from playlog.monitor.snapshot import Snapshot
from playlog.monitor.status import document, page
from playlog.settings import Settings


def snap(
    at: float, events: float = 0, rows: dict[str, float] | None = None, **kw: object
) -> Snapshot:
    rows = rows or {}
    return Snapshot(
        at=at,
        events_accepted=events,
        rows_loaded=sum(rows.values()),
        rows_by_table=rows,
        **kw,  # type: ignore[arg-type]
    )


def test_rates_between_samples_and_a_restart_reads_zero_not_negative() -> None:
    history = History()
    for at, events in [(0, 0), (10, 100), (20, 300), (30, 50)]:
        history.record(snap(at, events, freshness_s={"g.e": at / 10}))
    series = history.series()
    assert series["t"] == [10, 20, 30]
    assert series["ingest_per_s"] == [10.0, 20.0, 0.0]
    assert series["freshness_max_s"] == [1.0, 2.0, 3.0]


def test_the_history_keeps_its_window_only() -> None:
    history = History(window_s=60)
    for at in range(0, 200, 10):
        history.record(snap(at))
    assert [s.at for s in history.samples()] == [130, 140, 150, 160, 170, 180, 190]


def test_rows_per_minute_per_table_over_the_last_minute() -> None:
    history = History()
    history.record(snap(0, rows={"g.a": 0}))
    history.record(snap(100, rows={"g.a": 1000}))
    history.record(snap(130, rows={"g.a": 1300, "g.b": 50}))
    now = snap(160, rows={"g.a": 1900, "g.b": 50})
    assert history.table_rates_per_min(now) == {"g.a": 900.0 / 1.0, "g.b": 50.0}
    assert History().table_rates_per_min(now) == {"g.a": 0.0, "g.b": 0.0}


def test_the_document_flags_stale_tables_against_the_slo(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, monitor={"freshness_slo_s": 60})
    now = snap(
        10,
        events=5,
        rows={"g.fresh": 5, "g.old": 1},
        freshness_s={"g.fresh": 3.0, "g.old": 61.0},
        loader_state="failing",
        loader_reason="permission denied",
    )
    doc = document(settings, now, History(), failed=None)
    assert [(t["table"], t["stale"]) for t in doc["tables"]] == [
        ("g.fresh", False),
        ("g.old", True),
    ]
    assert doc["loader"] == {"state": "failing", "reason": "permission denied"}
    assert doc["freshness_slo_s"] == 60 and doc["failed"] is None
    assert doc["history"] == {"t": [], "ingest_per_s": [], "load_per_s": [], "freshness_max_s": []}


def test_the_page_is_static_and_polls_the_json() -> None:
    html = page()
    assert 'fetch("/v1/status"' in html and "setInterval(poll" in html
    assert "<script src=" not in html  # nothing from elsewhere, no build step


def test_the_document_counts_unreplayed_failed_events_per_table(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, monitor={"heartbeat_interval_s": 7})
    now = snap(10, rows={"g.a": 5}, freshness_s={"g.a": 3.0})
    doc = document(settings, now, History(), failed=[], failed_by_table={"g.b": 2, "g.a": 1})
    # a table whose every event failed is listed too
    assert [(t["table"], t["rows"], t["failed"]) for t in doc["tables"]] == [
        ("g.a", 5, 1),
        ("g.b", 0.0, 2),
    ]
    assert doc["heartbeat_interval_s"] == 7
    # where failed events cannot be counted, no count is shown (not a zero)
    unknown = document(settings, now, History(), failed=None)
    assert [t["failed"] for t in unknown["tables"]] == [None]
