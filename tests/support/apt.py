"""Debian packages a test needs (chromium, Avro Java...), installed by the test setup
where it can: as root with apt-get. One install at a time across pytest-xdist
workers (dpkg holds a lock a second apt-get would fail on)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

INSTALL_S = 900
LOCK = Path("/tmp/playlog-tests-apt.lock")


def install(packages: Sequence[str]) -> str | None:
    """Install ``packages``; the reason it could not, or None."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{' '.join(packages)} missing and not root with apt-get to install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for args in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
            done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=INSTALL_S)
            if done.returncode != 0:
                return f"{' '.join(args)} failed: {done.stderr[-300:]}"
    return None
