"""playlog_log_lag_records and the age of the oldest unconsumed record, per group."""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import REGISTRY
from tests.support.deadline import wait_until

from playlog.log.base import Message
from playlog.log.embedded import EmbeddedLog
from playlog.monitor import metrics
from playlog.runtime import lag_observer
from playlog.settings import Settings
from playlog.wiring import Services


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


def test_the_lag_stage_watches_the_groups_of_the_stages_a_process_runs(tmp_path: Path) -> None:
    settings = Settings.read(data_dir=tmp_path, monitor={"heartbeat_interval_s": 0.01})
    services = Services.open(settings)
    try:
        services.log.append(settings.log.copy_topic, [Message(b"t", b"task")] * 3)
        stop = threading.Event()
        observe = threading.Thread(target=lag_observer(services, ("load",)), args=(stop,))
        observe.start()
        copy = {"topic": settings.log.copy_topic, "group": settings.load.group}
        partitions = services.log.end_offsets(settings.log.copy_topic)

        def copy_lag() -> float:
            values = [
                sample("playlog_log_lag_records", partition=str(p), **copy) for p in partitions
            ]
            return sum(v or 0 for v in values)

        try:
            wait_until(lambda: copy_lag() == 3, 30, "the loader group's lag observed")
        finally:
            stop.set()
            observe.join()
        data = {"topic": settings.log.data_topic, "group": settings.process.group}
        assert sample("playlog_log_lag_records", partition="0", **data) is None  # not run here
    finally:
        services.close()
