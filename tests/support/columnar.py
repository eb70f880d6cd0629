"""Run a schema's rows through the batch transform the columnar way or the row way,
and watch which way each container group went."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import OffsetRange
from playlog.log.base import Record
from playlog.process import columnar
from playlog.process.transform import _transform
from playlog.storage.local import LocalStore
from tests.support.avro import ocf


def transformed(tmp: Path, raw: dict[str, Any], rows: list[dict[str, Any]], fast: bool) -> pa.Table:
    """``rows`` written with ``raw`` in three deflate containers (one per record), as
    the file the transform writes, in ``_event_id`` order."""
    text = json.dumps(raw)
    version = EventSchema("g", raw["name"], 1, fingerprint_of(text), text)
    headers = {"game": "g", "format": "ocf", "received_at_ms": "1700000000000"}
    batch = [
        Record("events", 0, 10 + i, b"g", ocf(raw, rows[i::3], "deflate"), headers, 0)
        for i in range(3)
    ]
    table, events = batch_file(LocalStore(tmp), batch, version, fast)
    assert events == len(rows)
    return table.sort_by("_event_id")


def batch_file(
    store: LocalStore, records: list[Record], schema: EventSchema, fast: bool
) -> tuple[pa.Table, int]:
    """``records``, every event written with ``schema``, through the batch transform
    (the columnar way where it can when ``fast``): the one batch file it writes, and how
    many events that holds. None may be dead-lettered."""
    span = OffsetRange("events", 0, records[0].offset, records[-1].offset)
    result = _transform(
        span, records, lambda game, fp: schema, lambda game, event_type: schema, store,
        fast=fast,
    )  # fmt: skip
    assert result.dead_letters == []
    (task,) = result.tasks
    return pq.read_table(io.BytesIO(store.get(task.key))), result.events


def watch_groups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each container group's outcome from now on: "columnar" or "failed: <why>"."""
    outcomes: list[str] = []
    original = columnar.SchemaGroup.to_arrow

    def watched(self: columnar.SchemaGroup) -> pa.Table:
        try:
            table = original(self)
        except columnar.FastPathFailed as exc:
            outcomes.append(f"failed: {exc}")
            raise
        outcomes.append("columnar")
        return table

    monkeypatch.setattr(columnar.SchemaGroup, "to_arrow", watched)
    return outcomes


def assert_same_tables(fast: pa.Table, slow: pa.Table) -> None:
    assert fast.schema == slow.schema
    for name in fast.column_names:
        assert fast[name].to_pylist() == slow[name].to_pylist(), name
