"""playlog_log_lag_records and the age of the oldest unconsumed record, per group."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from playlog.log.base import Message
from playlog.log.embedded import EmbeddedLog
from playlog.monitor import metrics


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_lag_and_oldest_unconsumed_age_per_partition(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.sqlite")
    log.ensure_topic("copy", 1)
    log.append("copy", [Message(b"k", b"v") for _ in range(5)])
    log.commit("load", "copy", {0: 2})

    metrics.observe_lag(log, "load", "copy", retention_s=7 * 3600)

    labels = {"topic": "copy", "partition": "0", "group": "load"}
    assert sample("playlog_log_lag_records", **labels) == 3
    age = sample("playlog_log_oldest_unconsumed_age_seconds", **labels)
    assert age is not None and 0 <= age < 60
    assert sample("playlog_log_retention_seconds", topic="copy") == 7 * 3600

    log.commit("load", "copy", {0: 5})
    metrics.observe_lag(log, "load", "copy", retention_s=7 * 3600)
    assert sample("playlog_log_lag_records", **labels) == 0
    assert sample("playlog_log_oldest_unconsumed_age_seconds", **labels) == 0
    log.close()
