"""Disk full on the embedded default: ingestion answers 503, no stage exits, and once
space is freed every accepted event loads exactly once.

Needs a size-limited filesystem: a tmpfs mounted as root. Skipped, with the reason,
where the machine does not allow it."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deadline import wait_until
from tests.support.events import KILL, Sender
from tests.support.server import Server

pytestmark = pytest.mark.e2e

FAILED = re.compile(r"logger=playlog\S* .*(stage \S+ failed|stopped after stage)")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a size-limited filesystem needs root (mount -t tmpfs)")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Write until the filesystem is full; the filler file."""
    filler = disk / "filler"
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * (1 << 20))
            out.flush()
    return filler


def test_disk_full_pauses_and_everything_accepted_loads_once_after(small_disk: Path) -> None:
    server = Server(small_disk / "data")
    try:
        server.start()
        key = server.game("g1")
        assert server.register("g1", "kill", KILL).status_code == 201
        sender = Sender(server, key)
        sender.start()
        sender.wait_accepted(4)

        filler = _fill(small_disk)
        refused = sender.refused
        wait_until(lambda: sender.refused > refused + 3, 120, "503s while the disk is full")
        assert server.process is not None and server.process.poll() is None
        filler.unlink()  # space again

        sender.wait_accepted(4, seconds=240)
        sender.stop.set()
        sender.join()
        server.wait_for_rows("g1.kill", len(sender.accepted), timeout_s=240)
        assert server.query("select seq from g1.kill group by seq having count(*) > 1") == []
        loaded = server.seqs("g1.kill")
        assert sender.accepted <= loaded, f"lost {len(sender.accepted - loaded)} accepted"
        assert loaded - sender.accepted <= sender.uncertain
        assert server.process.poll() is None, "a stage exited because the disk was full"
        failures = [line for line in server.log_tail().splitlines() if FAILED.search(line)]
        assert failures == []
    finally:
        server.kill()
