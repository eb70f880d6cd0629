"""One processor per group: a second driver is refused while the first lives; every
lease write is a compare-and-set on a fencing token that grows on every takeover."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from playlog.errors import ConfigError
from playlog.process.lease import Lease, LeaseLost
from playlog.registry.catalog import Catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    made = Catalog(tmp_path / "catalog.db")
    yield made
    made.close()


def _set_holder(catalog: Catalog, holder: dict[str, object], expires_at: float) -> None:
    found = catalog.lease("g")
    assert catalog.take_lease("g", json.dumps(holder), found[1] if found else None, expires_at)


def test_a_second_driver_is_refused_while_the_first_lives(catalog: Catalog) -> None:
    first = Lease(catalog, "g")
    first.acquire()
    with pytest.raises(ConfigError, match="another processor of group 'g' is running"):
        Lease(catalog, "g").acquire()
    first.release()
    Lease(catalog, "g").acquire()  # released: free again


def test_a_holder_that_died_on_this_host_is_taken_over(catalog: Catalog) -> None:
    Lease(catalog, "g").acquire()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    found = catalog.lease("g")
    assert found is not None
    holder = json.loads(found[0])
    _set_holder(catalog, {**holder, "pid": int(dead.stdout)}, found[2])
    Lease(catalog, "g").acquire()


def test_a_stale_heartbeat_is_taken_over(catalog: Catalog) -> None:
    lease = {"host": "elsewhere", "pid": 1, "id": "x"}
    _set_holder(catalog, lease, 0.0)
    Lease(catalog, "g").acquire()
    _set_holder(catalog, lease, 10.0**12)
    with pytest.raises(ConfigError):
        Lease(catalog, "g").acquire()


def test_of_two_drivers_that_both_saw_no_lease_one_wins(catalog: Catalog) -> None:
    assert catalog.take_lease("g", "a", None, 10.0**12)
    assert not catalog.take_lease("g", "b", None, 10.0**12)
    assert catalog.lease("g") == ("a", 1, 10.0**12)
    assert catalog.take_lease("g", "b", 1, 10.0**12)  # a takeover of token 1...
    assert not catalog.take_lease("g", "c", 1, 10.0**12)  # ...happens once
    assert catalog.lease("g") == ("b", 2, 10.0**12)


def test_drivers_racing_for_a_free_lease_get_one_winner(catalog: Catalog) -> None:
    leases = [Lease(catalog, "g") for _ in range(8)]
    start = threading.Barrier(len(leases))
    won: list[bool] = []

    def race(lease: Lease) -> None:
        start.wait(30)
        won.append(lease.try_acquire())

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(won) == [False] * 7 + [True]


def test_a_takeover_fences_the_old_holder(catalog: Catalog) -> None:
    old = Lease(catalog, "g", ttl_s=60)
    assert old.check() == 1
    found = catalog.lease("g")
    assert found is not None
    _set_holder(catalog, {"host": "elsewhere", "pid": 1, "id": "y"}, 10.0**12)  # took over
    with pytest.raises(LeaseLost):
        old.check()  # its renewal is a compare-and-set on token 1: refused
    assert old.token is None
    assert catalog.lease("g") == (json.dumps({"host": "elsewhere", "pid": 1, "id": "y"}), 2, 1e12)
    old.release()  # releasing a lost lease leaves the new holder's alone
    assert catalog.lease("g") is not None and catalog.lease("g")[2] == 10.0**12  # type: ignore[index]


def test_the_renewer_stops_before_its_catalog_closes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A driver whose services close without releasing (a test, a crash path): its renewer
    # used to wake up on the closed database and warn "Cannot operate on a closed database".
    before = set(threading.enumerate())
    catalog = Catalog(tmp_path / "catalog.db")
    lease = Lease(catalog, "g", ttl_s=0.3)  # renews every 0.1 s
    assert lease.check() == 1
    (renewer,) = (t for t in set(threading.enumerate()) - before if t.name == "lease")
    catalog.close()
    assert not renewer.is_alive()  # stopped by close, before the database closed
    time.sleep(0.4)  # a few renewal periods
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
