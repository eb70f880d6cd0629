"""One processor per group: a second driver is refused while the first lives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from playlog.errors import ConfigError
from playlog.process.lease import Lease
from playlog.storage.local import LocalStore


def test_a_second_driver_is_refused_while_the_first_lives(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = Lease(store, "g")
    first.acquire()
    with pytest.raises(ConfigError, match="another processor of group 'g' is running"):
        Lease(store, "g").acquire()
    first.release()
    Lease(store, "g").acquire()  # released: free again


def test_a_holder_that_died_on_this_host_is_taken_over(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    Lease(store, "g").acquire()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lease = json.loads(store.get("_plans/g/lease.json"))
    store.put("_plans/g/lease.json", json.dumps({**lease, "pid": int(dead.stdout)}).encode())
    Lease(store, "g").acquire()


def test_a_stale_heartbeat_is_taken_over(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    lease = {"host": "elsewhere", "pid": 1, "id": "x", "heartbeat": 0}
    store.put("_plans/g/lease.json", json.dumps(lease).encode())
    Lease(store, "g").acquire()
    fresh = {**lease, "heartbeat": 10**12}
    store.put("_plans/g/lease.json", json.dumps(fresh).encode())
    with pytest.raises(ConfigError):
        Lease(store, "g").acquire()
