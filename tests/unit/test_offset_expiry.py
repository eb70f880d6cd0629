"""Kafka expires the processor's committed offsets (it commits without being a group
member) after offsets.retention.minutes: a quiet partition must be re-committed, and
a partition whose offset is gone restarts from its saved plan, never from offset 0."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.support.clock import Clock
from tests.support.processing import Env, logins

import playlog.process.processor as processor_module
from playlog.log.base import Log


class ExpiringLog:
    """The real log, but ``expire()`` drops every committed offset (as Kafka does
    after the retention), until the partition is committed again."""

    def __init__(self, inner: Log) -> None:
        self.inner = inner
        self.expired: set[int] = set()
        self.commits: list[dict[int, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def expire(self, topic: str) -> None:
        self.expired = set(self.inner.end_offsets(topic))

    def committed(self, group: str, topic: str) -> dict[int, int]:
        found = self.inner.committed(group, topic)
        return {p: o for p, o in found.items() if p not in self.expired}

    def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        self.commits.append(dict(offsets))
        self.expired -= set(offsets)
        self.inner.commit(group, topic, offsets)


def test_an_expired_offset_restarts_from_the_saved_plan_not_zero(tmp_path: Path) -> None:
    env = Env(tmp_path)
    expiring = ExpiringLog(env.log)
    processor, engine = env.processor(expiring)
    env.send((logins(2), 2))
    assert processor.run_once(force=True) == 2
    env.send((logins(3, 2), 3))
    assert processor.run_once(force=True) == 3  # plan 1..1 saved and committed

    expiring.expire(env.topic)  # a week without traffic
    env.send((logins(1, 5), 1))
    while processor.run_once(force=True):
        assert len(engine.calls) < 10
    spans = [s for call in engine.calls for s in call]
    assert spans == [env.span(0, 0), env.span(1, 1), env.span(1, 1), env.span(2, 2)]
    tasks = {t.task_id: t.rows for _, t in env.copy_tasks()}  # what the ledger loads
    assert sum(tasks.values()) == 6
    assert env.committed() == {env.partition: 3}
    env.services.close()


def test_quiet_partitions_are_committed_again_before_they_expire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(processor_module, "time", clock)
    env = Env(tmp_path, recommit_interval_s=3600)
    recording = ExpiringLog(env.log)
    processor, _ = env.processor(recording)
    env.send((logins(2), 2))
    assert processor.run_once(force=True) == 2
    assert recording.commits == [{env.partition: 1}]

    clock.now += 3599
    assert processor.run_once() == 0
    assert recording.commits == [{env.partition: 1}]  # not yet
    clock.now += 1
    assert processor.run_once() == 0
    assert recording.commits[-1] == {env.partition: 1}  # the quiet partition again
    assert len(recording.commits) == 2
    clock.now += 10
    assert processor.run_once() == 0
    assert len(recording.commits) == 2  # once per interval
    env.services.close()
