"""Which `playlog` commands run the processor in a process of its own."""

from __future__ import annotations

from pathlib import Path

from playlog.runtime import STAGES
from playlog.runtime_child import in_child_process
from playlog.settings import ProcessSettings, Settings


def settings(**process: object) -> Settings:
    return Settings(data_dir=Path("/nonexistent"), process=ProcessSettings(**process))


def test_only_playlog_up_with_the_in_process_engine_and_when_asked() -> None:
    assert in_child_process(settings(own_process=True), STAGES)
    assert not in_child_process(settings(), STAGES)  # off by default (docs/profiles/gil.md)
    assert not in_child_process(settings(own_process=True), ("process",))  # it is the process
    assert not in_child_process(settings(own_process=True, engine="spark"), STAGES)
