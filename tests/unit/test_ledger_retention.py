"""Ledger retention on the real DuckDB warehouse: a ledger row goes only once its file
has left the store and every log that could bring its task back has expired it; a
task redelivered after compaction never loads a second time."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.batch_files import NOW, stored_task
from tests.support.deadline import wait_until

from playlog.avro.types import Column
from playlog.errors import ConfigError, WarehouseUnavailable
from playlog.load.ledger import Compaction, compact_ledger, ledger_cutoff, ledger_retention
from playlog.settings import Settings
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse

LATER = NOW + dt.timedelta(hours=1)  # every row loaded in the test is "old" by then


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[DuckDBWarehouse, LocalStore]]:
    store = LocalStore(tmp_path / "objects")
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", store)
    warehouse.ensure_table("g1", "login", [Column("player", "player", "string")])
    yield warehouse, store
    warehouse.close()


def rows(warehouse: DuckDBWarehouse) -> int:
    return int(warehouse.query('select count(*) from g1."login"').rows[0][0])


def ledger_keys(warehouse: DuckDBWarehouse) -> set[str]:
    return {str(r[0]) for r in warehouse.query("select file_key from playlog.load_ledger").rows}


def test_only_old_rows_whose_file_is_gone_are_compacted(
    parts: tuple[DuckDBWarehouse, LocalStore],
) -> None:
    warehouse, store = parts
    tasks = [stored_task(store, first) for first in range(5)]
    assert len(warehouse.load(tasks)) == 5
    for gone in tasks[:3]:
        store.delete(gone.key)
    # A page of one row: compaction walks the whole ledger page by page.
    assert compact_ledger(warehouse, store, LATER, page=1) == Compaction(5, 3)
    assert ledger_keys(warehouse) == {tasks[3].key, tasks[4].key}
    assert compact_ledger(warehouse, store, LATER) == Compaction(2, 0)


def test_rows_younger_than_the_cutoff_stay_even_when_their_file_is_gone(
    parts: tuple[DuckDBWarehouse, LocalStore],
) -> None:
    warehouse, store = parts
    task = stored_task(store, 1)
    warehouse.load([task])
    store.delete(task.key)
    assert compact_ledger(warehouse, store, NOW - dt.timedelta(hours=1)) == Compaction(0, 0)
    assert ledger_keys(warehouse) == {task.key}


def test_a_task_redelivered_after_compaction_never_loads_twice(
    parts: tuple[DuckDBWarehouse, LocalStore],
) -> None:
    warehouse, store = parts
    kept, gone = stored_task(store, 1), stored_task(store, 2)
    assert sorted(warehouse.load([kept, gone])) == sorted([kept.task_id, gone.task_id])
    store.delete(gone.key)
    compact_ledger(warehouse, store, LATER)
    # Its file is still in the store: its row was kept, the ledger skips it.
    assert warehouse.load([kept]) == []
    # Its row is gone with its file: nothing can load it again (the loader pauses on
    # the missing file instead: an operator's matter, never a second copy).
    with pytest.raises(WarehouseUnavailable, match="missing"):
        warehouse.load([gone])
    assert rows(warehouse) == 4


def test_the_stage_compacts_what_its_retention_lets_go(
    parts: tuple[DuckDBWarehouse, LocalStore],
) -> None:
    warehouse, store = parts
    kept, gone = stored_task(store, 1), stored_task(store, 2)
    warehouse.load([kept, gone])
    store.delete(gone.key)
    settings = Settings.read(load={"ledger_retention_hours": 504})
    in_a_month = NOW + dt.timedelta(hours=24 * 30)  # both rows past the 504 h by then
    stage = ledger_retention(settings, warehouse, store, every_s=0.05, now=lambda: in_a_month)
    stop = threading.Event()
    runner = threading.Thread(target=stage, args=(stop,))
    runner.start()
    try:
        wait_until(lambda: ledger_keys(warehouse) == {kept.key}, 10, "compaction")
    finally:
        stop.set()
        runner.join()


def test_the_cutoff_is_the_ledger_retention_and_off_by_default() -> None:
    assert ledger_cutoff(Settings(), NOW) is None
    settings = Settings.read(load={"ledger_retention_hours": 600})
    assert ledger_cutoff(settings, NOW) == NOW - dt.timedelta(hours=600)


@pytest.mark.parametrize(
    ("log", "hours"),
    [
        ({"retention_hours": 72, "copy_retention_hours": 504}, 503),  # the copy topic's
        ({"retention_hours": 100, "copy_retention_hours": 50}, 99),  # the data topic's
    ],
)
def test_a_ledger_retention_shorter_than_a_topic_retention_is_refused(
    log: dict[str, float], hours: float
) -> None:
    # A task still on the copy topic, or a record the processor could still rewrite
    # into the same file, must find its ledger row.
    with pytest.raises(ConfigError, match="ledger_retention_hours"):
        Settings.read(log=log, load={"ledger_retention_hours": hours})
