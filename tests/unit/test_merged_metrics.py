"""monitor/merged.py: one scrape of a process and its child, each family once, each
series from the process that owns it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from playlog.monitor.merged import MergedRegistry, scraped


def registry_with(batches: float, loaded: float, stage: str) -> CollectorRegistry:
    """A process's registry: every family, its own values set."""
    registry = CollectorRegistry()
    Counter("playlog_process_batches", "batches", registry=registry).inc(batches)
    Counter("playlog_load_tasks", "tasks", registry=registry).inc(loaded)
    heartbeat = Gauge("playlog_heartbeat_timestamp_seconds", "hb", ["stage"], registry=registry)
    heartbeat.labels(stage=stage).set(7)
    Gauge("process_open_fds", "fds", registry=registry).set(3)
    return registry


def values(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), f"a family twice: {sorted(names)}"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_each_series_comes_from_its_owner_and_each_family_once() -> None:
    parent = registry_with(batches=0, loaded=5, stage="load")
    child = registry_with(batches=3, loaded=0, stage="process")
    merged = MergedRegistry(parent)
    merged.attach("process", lambda: child.collect())
    assert values(merged) == {
        ("playlog_process_batches_total", ()): 3,  # the child's: it runs the processor
        ("playlog_load_tasks_total", ()): 5,  # the parent's: it runs the loader
        ("playlog_heartbeat_timestamp_seconds", (("stage", "load"),)): 7,
        ("playlog_heartbeat_timestamp_seconds", (("stage", "process"),)): 7,
        ("process_open_fds", ()): 3,  # the parent's own only
    }
    merged.detach("process")
    assert values(merged)[("playlog_process_batches_total", ())] == 0


def test_a_child_that_does_not_answer_leaves_the_scrape_whole() -> None:
    merged = MergedRegistry(registry_with(batches=0, loaded=5, stage="load"))
    merged.attach("process", scraped("http://127.0.0.1:9/metrics"))  # nothing listens
    assert values(merged)[("playlog_load_tasks_total", ())] == 5
