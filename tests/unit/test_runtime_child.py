"""Which `playlog` commands run the processor in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from playlog.runtime import STAGES
from playlog.runtime_child import ProcessorProcess, in_child_process
from playlog.settings import ProcessSettings, Settings
from playlog.supervisor import StageEnded


def settings(**process: object) -> Settings:
    return Settings(data_dir=Path("/nonexistent"), process=ProcessSettings(**process))


def test_only_playlog_up_with_the_in_process_engine_and_when_asked() -> None:
    assert in_child_process(settings(own_process=True), STAGES)
    assert not in_child_process(settings(), STAGES)  # off by default (docs/profiles/gil.md)
    assert not in_child_process(settings(own_process=True), ("process",))  # it is the process
    assert not in_child_process(settings(own_process=True, engine="spark"), STAGES)


def _exiting_child(code: int) -> tuple[subprocess.Popen[bytes], IO[str]]:
    """A stand-in for the processor's process that exits with ``code`` at once (and
    announces no metrics port)."""
    child = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    read_end, write_end = os.pipe()
    os.close(write_end)
    return child, os.fdopen(read_end)


@pytest.mark.parametrize("code", [1, -9])
def test_a_child_that_fails_while_stopping_still_fails_the_stage(code: int) -> None:
    """A stop was asked for, yet the child's last micro-batch failed: the stage fails
    (``playlog up`` exits 1), as the processor's thread did."""
    stage = ProcessorProcess(settings())
    stage._spawn = lambda: _exiting_child(code)  # type: ignore[method-assign]
    stop = threading.Event()
    stop.set()
    with pytest.raises(StageEnded):
        stage.run(stop)


def test_a_child_that_stops_cleanly_when_asked_ends_the_stage_quietly() -> None:
    stage = ProcessorProcess(settings())
    stage._spawn = lambda: _exiting_child(0)  # type: ignore[method-assign]
    stop = threading.Event()
    stop.set()
    stage.run(stop)
