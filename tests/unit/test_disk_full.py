"""Disk full in the processor is a pause, not an exit: ENOSPC from the store is a
transient error; the processor reports it, retries, and after space is freed every
event loads exactly once."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from tests.support.processing import Env, exactly_once, logins, processor, run_in_thread, wait_for

from playlog.errors import LogUnavailable
from playlog.log.embedded import EmbeddedLog
from playlog.process.processor import PROCESS_RETRIES


class Disk:
    """``os.fsync`` of the local store fails with ENOSPC while ``full``."""

    def __init__(self) -> None:
        self.full = True
        self.refused = 0
        self.real = os.fsync

    def fsync(self, fd: int) -> None:
        if self.full:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real(fd)


def test_a_full_disk_pauses_the_processor_and_everything_loads_once_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = Env(tmp_path)
    for i in range(5):
        env.send((logins(2, 2 * i), 2))
    disk = Disk()
    monkeypatch.setattr(os, "fsync", disk.fsync)
    before = PROCESS_RETRIES.labels(reason="store_unavailable")._value.get()
    stop = threading.Event()
    thread, errors = run_in_thread(processor(env), stop)
    try:
        wait_for(lambda: disk.refused >= 3, "three refused writes")
        assert thread.is_alive() and not errors  # paused, not exited
        assert env.committed() == {}
        assert PROCESS_RETRIES.labels(reason="store_unavailable")._value.get() > before
        assert "No space left on device" in caplog.text

        disk.full = False  # space freed
        wait_for(lambda: env.committed().get(env.partition) == 5, "the backlog to load")
        assert not errors
        exactly_once(env, 10)
    finally:
        stop.set()
        thread.join(60)
        env.services.close()


class BrokenDb:
    def execute(self, *_: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")


@pytest.mark.parametrize("read", ["end_offsets", "committed", "read"])
def test_an_io_error_reading_the_embedded_log_is_transient(tmp_path: Path, read: str) -> None:
    log = EmbeddedLog(tmp_path / "log.db")
    log.ensure_topic("t", 1)
    log._local.db = BrokenDb()
    calls = {"end_offsets": ("t",), "committed": ("g", "t"), "read": ("t", 0, 0, 1)}
    with pytest.raises(LogUnavailable, match="disk I/O error"):
        getattr(log, read)(*calls[read])
