"""`playlog failed` / `playlog replay`: their filters, their SQL, and the records a
replay appends (pure parts; tests/e2e/test_failed_events.py runs them for real)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.batch_files import stored_task

from playlog.avro.types import Column
from playlog.cli.failed import Replayed, filters, pages, parse_since, replay_all, replay_message
from playlog.contracts import REPLAY_OF, CopyTask, FailedEvent
from playlog.errors import BadRequest
from playlog.log.embedded import EmbeddedLog
from playlog.storage.local import LocalStore
from playlog.warehouse.duckdb import DuckDBWarehouse

NOW = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)
TASK = CopyTask("id", "g1", "score", "g1/score/k.parquet", "file:///k", ("a",), 2, 10, 0, 0,
                "playlog.events", 0, 4, 9)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - dt.timedelta(minutes=90)),
        ("2h", NOW - dt.timedelta(hours=2)),
        ("7d", NOW - dt.timedelta(days=7)),
        ("2026-12-01T10:00", dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)),
        ("2026-12-01T10:00+01:00", dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)),
    ],
)
def test_since_takes_a_duration_or_a_time(text: str, expected: dt.datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_a_bad_since_or_name_is_a_clear_error() -> None:
    with pytest.raises(BadRequest, match="--since 'yesterday'"):
        parse_since("yesterday", NOW)
    with pytest.raises(BadRequest, match="invalid game"):
        filters(game="g1'; drop table x; --")


def test_filters_quote_what_they_are_given() -> None:
    assert filters("g1", NOW, "score", "it's 100%") == [
        "game = 'g1'",
        "event_type = 'score'",
        "failed_at >= CAST('2026-12-02T05:00:00+00:00' AS TIMESTAMPTZ)",
        "reason LIKE 'it''s 100%'",
    ]
    assert filters(reason_like="Conversion") == ["reason LIKE '%Conversion%'"]


def test_a_load_failure_replays_as_its_task_marked_with_the_failed_event() -> None:
    payload = base64.b64encode(TASK.to_json()).decode()  # as the server answers bytes
    topic, message = replay_message([TASK.key, "load", "g1", NOW, payload], "data", "copy")
    assert (topic, message.key) == ("copy", b"g1.score")
    assert CopyTask.from_json(message.value).replay_of == TASK.key
    assert CopyTask.from_json(message.value).task_id == TASK.task_id  # the ledger's key


def test_a_process_failure_replays_as_its_body_at_the_failure_time() -> None:
    row = ["playlog.events/0/41", "process", "g1", NOW.isoformat(), b"\xc3\x01body"]
    topic, message = replay_message(row, "data", "copy")
    assert (topic, message.key, message.value) == ("data", b"g1", b"\xc3\x01body")
    assert message.headers["format"] == "soe"
    assert message.headers[REPLAY_OF] == "playlog.events/0/41"
    assert message.headers["received_at_ms"] == str(int(NOW.timestamp() * 1000))


def test_replay_pages_through_every_failed_event_once(tmp_path: Path) -> None:
    rows = [[f"playlog.events/0/{i:03}", "process", "g1", NOW, b"Obj\x01"] for i in range(250)]
    asked: list[str] = []

    def query(sql: str) -> list[list[object]]:
        asked.append(sql)
        after = sql.split("source > '")[1].split("'")[0]
        return [r for r in rows if str(r[0]) > after][:100]

    log = EmbeddedLog(tmp_path / "log.db")
    log.ensure_topic("data", 2)
    try:
        assert replay_all(query, log, [], "data", "copy") == Replayed({"process": 250}, [])
        assert sum(log.end_offsets("data").values()) == 250
    finally:
        log.close()
    assert len(asked) == 4  # three pages and the empty one
    assert [len(p) for p in pages(query, [])] == [100, 100, 50]


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "playlog", "failed", "--since", "soon", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --since 'soon': give 30m, 2h, 7d or a time like 2026-12-01T10:00"
    ]


def test_failed_events_stored_without_payload_are_skipped_and_reported(tmp_path: Path) -> None:
    # A payload the warehouse refused is not stored: there is nothing to send again.
    rows = [
        ["g1/score/a.parquet", "load", "g1", NOW, ""],  # base64 of nothing, as served
        ["g1/score/b.parquet", "load", "g1", NOW, base64.b64encode(TASK.to_json()).decode()],
        ["playlog.events/0/7", "process", "g1", NOW, b""],
        ["playlog.events/0/8", "process", "g1", NOW, b"Obj\x01"],
    ]

    def query(sql: str) -> list[list[object]]:
        after = sql.split("source > '")[1].split("'")[0]
        return [r for r in rows if str(r[0]) > after]

    log = EmbeddedLog(tmp_path / "log.db")
    log.ensure_topic("data", 2)
    log.ensure_topic("copy", 2)
    try:
        done = replay_all(query, log, [], "data", "copy")
        assert done == Replayed(
            {"load": 1, "process": 1}, ["g1/score/a.parquet", "playlog.events/0/7"]
        )
        assert sum(log.end_offsets("data").values()) == 1
        assert sum(log.end_offsets("copy").values()) == 1
    finally:
        log.close()


def test_a_replay_the_ledger_already_loaded_is_marked_replayed(tmp_path: Path) -> None:
    # e.g. `reconcile --apply` loaded the failed file first: without the mark, every
    # `playlog replay` would send it again.
    store = LocalStore(tmp_path / "objects")
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb", store)
    try:
        warehouse.ensure_table("g1", "login", [Column("player", "player", "string")])
        task = stored_task(store, 7)
        failed = FailedEvent(0, "load", "g1", "login", "", "WarehouseError: x", task.key, b"{}")
        assert warehouse.record_failed([failed]) == [task.key]
        assert warehouse.load([task]) == [task.task_id]  # reconcile's reload
        replay = dataclasses.replace(task, replay_of=task.key)
        assert warehouse.load([replay]) == []  # the ledger skips it...
        marked = "select count(replayed_at) from playlog.failed_events"
        assert warehouse.query(marked).rows == [(1,)]  # ...and it is marked all the same
        assert warehouse.query('select count(*) from g1."login"').rows == [(2,)]
    finally:
        warehouse.close()
