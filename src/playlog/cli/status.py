"""``playlog status``: the running server's readiness (``GET /readyz``) and what its
status page shows (``GET /v1/status``: stages, lag, tables with freshness and failed
events), as tables or as JSON. Nothing is computed here that the server knows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from playlog.client import ApiError

if TYPE_CHECKING:
    from rich.console import Console

    from playlog.client import Client

# The status document's parts worth a terminal (the charts' history is not).
SHOWN = ("stages", "loader", "warehouse_up", "canary", "lag", "tables", "freshness_slo_s")
SILENT_AFTER_BEATS = 3  # a stage whose heartbeat is older than 3 intervals is silent


def gather(client: Client) -> dict[str, Any]:
    """``{"url", "ready", "checks", ...}``: the status document's parts, or
    ``status_error`` when it cannot be read (e.g. no admin key here)."""
    report: dict[str, Any] = {"url": client.url, **client.readiness()}
    try:
        document = client.request("GET", "/v1/status")
    except ApiError as exc:
        needs_key = " (the admin key: PLAYLOG_ADMIN_KEY or <data-dir>/admin_key)"
        report["status_error"] = exc.message + (needs_key if exc.status in (401, 403) else "")
        return report
    report["heartbeat_interval_s"] = document.get("heartbeat_interval_s")
    return report | {key: document[key] for key in SHOWN if key in document}


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def _stage_state(report: dict[str, Any], stage: str, age: float | None) -> str:
    interval = report.get("heartbeat_interval_s") or 5.0
    if age is None or age > SILENT_AFTER_BEATS * interval:
        return "[red]silent[/red]"
    loader = report.get("loader") or {}
    if stage == "load" and loader.get("state"):
        reason = f": {loader['reason']}" if loader.get("reason") else ""
        colour = "green" if loader["state"] == "consuming" else "red"
        return f"[{colour}]{loader['state']}{reason}[/{colour}]"
    if stage == "canary":
        ok = (report.get("canary") or {}).get("ok")
        return "waiting" if ok is None else "[green]arriving[/]" if ok else "[red]failing[/]"
    return "[green]alive[/green]"


def stages_table(report: dict[str, Any]) -> Table:
    table = Table("stage", "last heartbeat", "state", title="stages")
    for stage, age in sorted((report.get("stages") or {}).items()):
        table.add_row(stage, f"{_seconds(age)} ago", _stage_state(report, stage, age))
    return table


def lag_table(report: dict[str, Any]) -> Table:
    table = Table("consumer", "records behind", "oldest unread", title="lag")
    for lag in report.get("lag") or []:
        table.add_row(lag["consumer"], f"{lag['records']:,.0f}", _seconds(lag["oldest_unread_s"]))
    return table


def tables_table(report: dict[str, Any]) -> Table:
    slo = report.get("freshness_slo_s")
    title = f"tables (stale: nothing newer loaded for {_seconds(slo)})"
    table = Table("table", "rows loaded", "rows/min", "freshness", "failed", title=title)
    for row in report.get("tables") or []:
        freshness = _seconds(row["freshness_s"])
        failed = "?" if row.get("failed") is None else f"{row['failed']:,}"
        table.add_row(
            row["table"],
            f"{row['rows']:,.0f}",
            f"{row['rows_per_min'] or 0:,.1f}",
            f"[red]{freshness} stale[/red]" if row["stale"] else freshness,
            f"[red]{failed}[/red]" if failed not in ("0", "?") else failed,
        )
    return table


def render(report: dict[str, Any], console: Console) -> None:
    ready = "[green]ready[/green]" if report.get("ready") else "[red]NOT ready[/red]"
    console.print(f"playlog at {report['url']}: {ready}", highlight=False)
    for check, state in sorted((report.get("checks") or {}).items()):
        colour = "green" if state == "ok" else "red"
        console.print(f"  {check}: [{colour}]{state}[/{colour}]", highlight=False)
    if "status_error" in report:
        console.print(f"[yellow]no stages, lag or tables: {report['status_error']}[/yellow]")
        return
    for table in (stages_table(report), lag_table(report), tables_table(report)):
        console.print(table)
