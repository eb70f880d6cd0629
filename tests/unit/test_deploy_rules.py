"""deploy/prometheus/alerts.yml and deploy/grafana/playlog.json ask only for what
playlog exports (the same check runs on a real `playlog up` scrape in
tests/e2e/test_monitoring.py)."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest
from tests.support import promql

import playlog.runtime  # noqa: F401  (imports every stage: each metric is registered)
from playlog.monitor import metrics

ALERTS = {
    "PlaylogStaleTable",
    "PlaylogCanaryFailing",
    "PlaylogLoaderFailing",
    "PlaylogLoaderPausedTooLong",
    "PlaylogWarehouseDown",
    "PlaylogLagNearingRetention",
    "PlaylogHttp5xxRate",
    "PlaylogFailedEvents",
    "PlaylogStageSilent",
}


def test_every_alert_the_issue_asks_for_is_shipped_well_formed() -> None:
    rules = promql.alert_rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), rule
        assert isinstance(rule["labels"], dict) and rule["labels"]["severity"] in {"page", "ticket"}
        assert isinstance(rule["annotations"], dict) and rule["annotations"]["summary"]


def test_every_expression_is_balanced_and_selects_a_playlog_metric() -> None:
    for where, expr in promql.shipped_exprs().items():
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), where
        assert promql.uses({where: expr}), f"{where} selects no playlog metric"


def test_every_metric_an_expression_names_is_exported_by_the_registry() -> None:
    exposition = generate_latest(REGISTRY).decode()
    assert promql.unknown_uses(exposition, promql.shipped_exprs()) == []


def test_the_check_catches_an_unknown_metric_or_label() -> None:
    metrics.count_accepted("g1", 1)
    exposition = generate_latest(REGISTRY).decode()
    exprs = {
        "typo": "rate(playlog_ingest_event_total[1m])",
        "label": 'rate(playlog_ingest_events_total{gamez="g1"}[1m])',
        "fine": 'histogram_quantile(0.9, rate(playlog_log_append_seconds_bucket{le="1"}[1m]))',
    }
    assert promql.unknown_uses(exposition, exprs) == [
        "typo: no metric playlog_ingest_event_total",
        "label: playlog_ingest_events_total has no label frozenset({'gamez'})",
    ]
    metrics.keep_only_games(set())
