"""The status page: a static page (``status.html``, no build step) that polls
``GET /v1/status``, whose JSON this module makes from a snapshot of the metrics and
their recent history."""

from __future__ import annotations

from importlib import resources
from typing import Any

from playlog.monitor.history import History
from playlog.monitor.snapshot import Snapshot
from playlog.settings import Settings

# The dead letters the page lists, newest first, where playlog.failed_events exists.
RECENT_FAILED_SQL = (
    "select failed_at, stage, game, event_type, reason from playlog.failed_events "
    "order by failed_at desc limit 10"
)
# Failed events not replayed yet, per table (an undecodable block may name no type).
FAILED_BY_TABLE_SQL = (
    "select game || '.' || coalesce(event_type, '?') as tbl, count(*) as n "
    "from playlog.failed_events where replayed_at is null group by 1"
)


def page() -> str:
    return resources.files("playlog.monitor").joinpath("status.html").read_text()


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _tables(
    now: Snapshot, history: History, slo_s: float, failed: dict[str, int] | None
) -> list[dict[str, Any]]:
    rates = history.table_rates_per_min(now)
    names = sorted(set(now.rows_by_table) | set(now.freshness_s) | set(failed or {}))
    return [
        {
            "table": name,
            "rows": now.rows_by_table.get(name, 0.0),
            "rows_per_min": _rounded(rates.get(name, 0.0), 1),
            "freshness_s": _rounded(now.freshness_s.get(name)),
            "stale": now.freshness_s.get(name, 0.0) > slo_s,
            "failed": None if failed is None else failed.get(name, 0),
        }
        for name in names
    ]


def document(
    settings: Settings,
    now: Snapshot,
    history: History,
    failed: list[dict[str, Any]] | None,
    failed_by_table: dict[str, int] | None = None,
) -> dict[str, Any]:
    """``GET /v1/status``: ``failed`` (the newest failed events) and ``failed_by_table``
    (unreplayed ones per table) None when failed events cannot be read here."""
    series = history.series()
    last = {key: values[-1] if values else None for key, values in series.items()}
    return {
        "at": now.at,
        "freshness_slo_s": settings.monitor.freshness_slo_s,
        "totals": {
            "events_accepted": now.events_accepted,
            "rows_loaded": now.rows_loaded,
            "ingest_per_s": _rounded(last["ingest_per_s"], 1),
            "load_per_s": _rounded(last["load_per_s"], 1),
        },
        "tables": _tables(now, history, settings.monitor.freshness_slo_s, failed_by_table),
        "heartbeat_interval_s": settings.monitor.heartbeat_interval_s,
        "stages": {stage: _rounded(age, 1) for stage, age in sorted(now.heartbeat_age_s.items())},
        "lag": [
            {"consumer": name, "records": records, "oldest_unread_s": now.oldest_unread_s.get(name)}
            for name, records in sorted(now.lag_records.items())
        ],
        "loader": {"state": now.loader_state, "reason": now.loader_reason},
        "warehouse_up": now.warehouse_up,
        "canary": {"ok": now.canary_ok, "latency_s": _rounded(now.canary_latency_s)},
        "refused": now.refused_by_reason,
        "dead_letters": now.dead_letters_by_stage,
        "failed": failed,
        "history": series,
    }


def public(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` for anyone (``server.public_status``): without the reasons of
    failed events and of the loader's failure, which may quote event values."""
    failed = document["failed"]
    return {
        **document,
        "loader": {**document["loader"], "reason": None},
        "failed": None if failed is None else [_without_reason(row) for row in failed],
    }


def _without_reason(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "reason"}
