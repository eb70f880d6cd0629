"""The loader on a real warehouse: many files of one table go in one statement, each
loads exactly once, and a bad file among them is dead-lettered alone."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from playlog.contracts import CopyTask
from playlog.load.loader import Loader
from playlog.log.base import Message
from playlog.log.embedded import EmbeddedLog
from playlog.settings import Settings
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse
from playlog.warehouse.postgres import PostgresWarehouse
from playlog.warehouse.sql import TaskGroup
from tests.integration.test_warehouse_contract import V1, Backend, col


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    store = LocalStore(tmp_path / "objects")
    game = f"g_{uuid.uuid4().hex[:10]}"
    if request.param == "duckdb":
        warehouse: DuckDBWarehouse | PostgresWarehouse = DuckDBWarehouse(
            tmp_path / "warehouse.duckdb", store
        )
    else:
        warehouse = PostgresWarehouse(request.getfixturevalue("postgres_dsn"), store)
    made = Backend(request.param, warehouse, store, game)
    try:
        yield made
    finally:
        warehouse.drop_game(game)
        warehouse.close()


def run_loader(backend: Backend, tmp_path: Path, tasks: Sequence[CopyTask]) -> Settings:
    """A loader over ``tasks`` (appended at once) until it committed past every one of
    them (each loaded or dead-lettered), then stopped."""
    settings = Settings.read(data_dir=tmp_path, load={"workers": 1, "max_wait_s": 5.0})
    log = EmbeddedLog(settings.log_path)
    copy, dead = settings.log.copy_topic, settings.log.dead_letter_topic
    log.ensure_topic(copy, settings.log.copy_partitions)
    log.ensure_topic(dead, 1)
    log.append(copy, [Message(t.table.encode(), t.to_json()) for t in tasks])
    ends = {p: o for p, o in log.end_offsets(copy).items() if o}
    stop = threading.Event()
    thread = threading.Thread(target=Loader(settings, log, backend.warehouse).run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while log.committed(settings.load.group, copy) != ends:
            assert time.monotonic() < deadline, "the loader did not finish"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
        log.close()
    return settings


def test_files_of_one_table_load_in_one_statement_once_and_a_bad_one_alone(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = backend.warehouse
    wh.ensure_table(backend.game, "login", V1)
    wh.ensure_table(backend.game, "other", [col("x", "long")])

    def login(first: int, levels: pa.Array) -> CopyTask:
        return backend.task(
            "login", {"player": pa.array(["p"] * len(levels)), "level": levels}, first
        )

    logins = [login(i * 10, pa.array([1, 2, 3, 4, 5], pa.int32())) for i in range(6)]
    bad = login(100, pa.array(["not a number"]))  # the same columns, one bad value
    other = backend.task("other", {"x": pa.array([1, 2], pa.int64())}, 0)
    tasks = [*logins[:3], bad, *logins[3:], other]

    groups: list[tuple[str, int]] = []
    kind: Any = type(wh)
    copy_group = kind.copy_group

    def counted(self: object, conn: object, group: TaskGroup) -> None:
        groups.append((group.event_type, len(group.tasks)))
        copy_group(self, conn, group)

    monkeypatch.setattr(kind, "copy_group", counted)
    settings = run_loader(backend, tmp_path / "first", tasks)

    # The first attempt took the 7 login files in one statement; it failed on the bad
    # one, the halving found it, and every other file loaded exactly once.
    assert groups[0] == ("login", 7)
    assert backend.count("login") == 6 * 5
    assert backend.count("other") == 2
    ledger = wh.query(
        f"select file_key from playlog.load_ledger where table_name like '{backend.game}.%'"
    ).rows
    assert sorted(key for (key,) in ledger) == sorted(t.key for t in [*logins, other])
    log = EmbeddedLog(settings.log_path)
    (letter,) = log.read(settings.log.dead_letter_topic, 0, 0, 100)
    log.close()
    assert letter.headers["source"] == bad.key

    # Delivered again (a restart before the offsets were committed): nothing doubles.
    run_loader(backend, tmp_path / "again", [t for t in tasks if t is not bad])
    assert backend.count("login") == 6 * 5
    assert backend.count("other") == 2
