"""``playlog reconcile``'s core: which batch files were never loaded, which ledger rows
lost their file, and the COPY task a lost file gets back (the one the processor made)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console
from tests.support.batch_files import NOW, stored_task

from playlog.cli.reconcile import column_values, wait_loaded
from playlog.contracts import OffsetRange, task_id_for
from playlog.load.reconcile import Findings, classify, pending_keys, queue, task_for_file
from playlog.log.embedded import EmbeddedLog
from playlog.process.transform import file_key
from playlog.storage.local import LocalStore

DATA = "playlog.events"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def key(first: int, incarnation: str = "", topic: str = DATA) -> str:
    span = OffsetRange(topic, 3, first, first + 9, incarnation)
    return file_key(span, "g1", "login", "2026-12-01")


def test_files_are_sorted_by_what_happened_to_them() -> None:
    stored = [key(0), key(10), key(20), key(30), "_manifests/x.json", key(40, topic="other")]
    found = classify(
        stored,
        loaded=[key(0), key(50)],
        pending=[key(10)],
        failed=[key(20)],
        data_topic=DATA,
    )
    assert found == Findings(
        unloaded=[key(30)],
        pending=[key(10)],
        failed=[key(20)],
        missing=[key(50)],
        foreign=["_manifests/x.json", key(40, topic="other")],
    )


def test_a_replay_file_whose_load_failed_counts_as_failed() -> None:
    # A replay's load failure is named after the failed event it replays, not its key.
    replayed = file_key(OffsetRange(DATA, 3, 41, 41, "replay"), "g1", "login", "2026-12-01")
    found = classify([replayed], loaded=[], pending=[], failed=[f"{DATA}/3/41"], data_topic=DATA)
    assert (found.failed, found.unloaded) == ([replayed], [])


def test_nothing_to_do_when_every_file_is_loaded() -> None:
    found = classify([key(0)], loaded=[key(0)], pending=[], failed=[], data_topic=DATA)
    assert found == Findings([], [], [], [], [])
    assert found.clean


@pytest.mark.parametrize("incarnation", ["", "0a1b2c3d", "12345678"])
def test_a_lost_file_gets_back_the_task_the_processor_made(
    tmp_path: Path, incarnation: str
) -> None:
    store = LocalStore(tmp_path)
    made = stored_task(store, 7)
    moved = key(7, incarnation)
    store.put(moved, store.get(made.key))
    received_ms = (NOW - EPOCH) // dt.timedelta(milliseconds=1)
    assert task_for_file(store, moved, DATA) == dataclasses.replace(
        made,
        task_id=task_id_for(moved),  # what makes it exactly once: the id of its key
        key=moved,
        uri=store.uri(moved),
        received_min_ms=received_ms,
        received_max_ms=received_ms,
        source_partition=3,
        source_first=7,
        source_last=16,
    )


@pytest.mark.parametrize(
    ("incarnation", "source"),
    [("replay", f"{DATA}/3/41"), ("replay-0a1b2c3dr4e5f6a", f"{DATA}/3/41@0a1b2c3dr4e5f6a")],
)
def test_a_lost_replay_file_still_marks_its_failed_event(
    tmp_path: Path, incarnation: str, source: str
) -> None:
    store = LocalStore(tmp_path)
    made = stored_task(store, 7)
    replayed = file_key(OffsetRange(DATA, 3, 41, 41, incarnation), "g1", "login", "2026-12-01")
    store.put(replayed, store.get(made.key))
    task = task_for_file(store, replayed, DATA)
    assert (task.replay_of, task.task_id, task.source_first) == (source, task_id_for(replayed), 41)


def test_pending_tasks_are_those_the_loader_has_not_committed(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.sqlite")
    log.ensure_topic("playlog.copy", 2)
    store = LocalStore(tmp_path / "objects")
    tasks = [stored_task(store, first) for first in range(3)]
    queue(log, "playlog.copy", tasks)
    assert pending_keys(log, "playlog.copy", "playlog-load") == {t.key for t in tasks}
    ends = log.end_offsets("playlog.copy")
    log.commit("playlog-load", "playlog.copy", ends)
    assert pending_keys(log, "playlog.copy", "playlog-load") == set()
    log.close()


def test_reconcile_of_a_data_dir_without_a_pipeline_is_a_one_line_error(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    done = subprocess.run(
        [sys.executable, "-m", "playlog", "reconcile", "--data-dir", str(empty)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PLAYLOG_")},
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: no playlog data in {empty} (run `playlog up` first, or pass --data-dir)"
    ]
    assert not empty.exists()  # reconcile created nothing


def ledger_query(keys: list[str], max_rows: int) -> Callable[[str], list[list[Any]]]:
    """A ledger to query, answering at most ``max_rows`` rows (query.max_rows)."""
    db = duckdb.connect()
    db.execute("CREATE SCHEMA playlog; CREATE TABLE playlog.load_ledger (file_key VARCHAR)")
    db.executemany("INSERT INTO playlog.load_ledger VALUES (?)", [[k] for k in keys])
    return lambda sql: [list(row) for row in db.execute(sql).fetchmany(max_rows)]


def test_the_whole_ledger_is_read_even_when_answers_are_cut_short() -> None:
    keys = [key(i * 10) for i in range(2_500)] + ["g1/it's/quoted.parquet"]
    query = ledger_query(keys, max_rows=700)
    seen: list[int] = []
    assert column_values(query, "playlog.load_ledger", "file_key", seen=seen.append) == set(keys)
    assert seen[-1] == len(keys) and len(seen) == 4  # pages of 700


def test_waiting_for_loads_counts_the_queued_files_in_the_ledger() -> None:
    loaded = [key(i * 10) for i in range(1_500)] + ["g1/it's/quoted.parquet"]
    query = ledger_query(loaded, max_rows=10_000)
    quiet = Console(file=io.StringIO())
    assert wait_loaded(query, loaded, 5.0, quiet) == len(loaded)
    started = time.monotonic()
    assert wait_loaded(query, [*loaded, key(99_999)], 0.3, quiet) == len(loaded)
    assert 0.3 <= time.monotonic() - started < 5  # gave up at --wait, not before
