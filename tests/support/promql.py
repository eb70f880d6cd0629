"""What the shipped alert rules and dashboard ask of playlog's /metrics: the metric
names and label names their expressions use, and the names an exposition offers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "playlog.json"

_SELECTOR = re.compile(r"\b(playlog_[a-z0-9_]+)\b(\{[^}]*\})?")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
# The series names a family of each type exposes (counter "x" -> "x_total", ...).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


@dataclass(frozen=True)
class Use:
    """One metric an expression selects, with the label names it matches on."""

    where: str
    metric: str
    labels: frozenset[str]


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_exprs() -> dict[str, str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return {
        f"panel {panel['title']!r} {target['refId']}": target["expr"]
        for panel in panels
        for target in panel["targets"]
    }


def shipped_exprs() -> dict[str, str]:
    exprs = {f"alert {rule['alert']}": str(rule["expr"]) for rule in alert_rules()}
    return {**exprs, **dashboard_exprs()}


def uses(exprs: dict[str, str]) -> list[Use]:
    return [
        Use(where, match[1], frozenset(_MATCHER.findall(match[2] or "")))
        for where, expr in exprs.items()
        for match in _SELECTOR.finditer(expr)
    ]


def exported(exposition: str) -> dict[str, set[str]]:
    """Every series name an exposition offers, with the label names seen on it (none
    yet for a labelled metric without series)."""
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def unknown_uses(exposition: str, exprs: dict[str, str]) -> list[str]:
    """Each metric or label ``exprs`` use that the exposition does not offer."""
    offered = exported(exposition)
    problems = []
    for use in uses(exprs):
        if use.metric not in offered:
            problems.append(f"{use.where}: no metric {use.metric}")
        elif offered[use.metric] and not use.labels <= offered[use.metric] | {"le"}:
            problems.append(f"{use.where}: {use.metric} has no label {use.labels}")
    return problems
