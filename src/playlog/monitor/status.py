"""The status page: what runs, where data is, and how far each stage got."""

from __future__ import annotations

import html

from prometheus_client import REGISTRY

from playlog.settings import Settings

_SHOWN = (
    "playlog_ingest_events_total",
    "playlog_process_events_total",
    "playlog_load_rows_total",
    "playlog_process_lag_records",
    "playlog_load_in_flight_tasks",
    "playlog_dead_letters_total",
    "playlog_canary_latency_seconds",
)


def metric_totals() -> dict[str, float]:
    """Each shown metric summed over its labels."""
    totals: dict[str, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            name = sample.name
            if name in _SHOWN:
                totals[name] = totals.get(name, 0.0) + sample.value
    state = [
        s.labels["state"]
        for f in REGISTRY.collect()
        if f.name == "playlog_loader_state"
        for s in f.samples
        if s.value == 1
    ]
    totals["loader_state:" + (state[0] if state else "n/a")] = 1
    return totals


def render_status(settings: Settings, event_types: dict[str, list[str]]) -> str:
    """The page; ``event_types`` maps each game to its event types."""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:g}</td></tr>" for k, v in metric_totals().items()
    )
    games = "".join(
        f"<li>{html.escape(game)}: {html.escape(', '.join(types))}</li>"
        for game, types in event_types.items()
    )
    adapters = (
        f"log={settings.log.kind} engine={settings.process.engine} "
        f"object_store={settings.storage.kind} warehouse={settings.warehouse.kind}"
    )
    return (
        "<!doctype html><html><head><title>playlog</title></head><body>"
        "<h1>playlog</h1>"
        f"<p>{html.escape(adapters)}; data in {html.escape(str(settings.data_dir))}</p>"
        f"<h2>Progress</h2><table>{rows}</table>"
        f"<h2>Games</h2><ul>{games or '<li>none yet</li>'}</ul>"
        '<p><a href="/metrics">metrics</a> · <a href="/readyz">readiness</a></p>'
        "</body></html>"
    )
