"""A batch file in an object store, as the processor writes it, and its COPY task."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq

from playlog.contracts import CopyTask, OffsetRange, task_id_for
from playlog.process.transform import file_key
from playlog.storage.base import ObjectStore

NOW = dt.datetime.now(dt.UTC)  # every row's _received_at


def stored_task(store: ObjectStore, first: int, rows: int = 2) -> CopyTask:
    key = file_key(OffsetRange("playlog.events", 0, first, first), "g1", "login", "2026-12-01")
    table = pa.table(
        {
            "player": pa.array([f"p{first}"] * rows),
            "_event_id": pa.array(range(first * 100, first * 100 + rows), pa.int64()),
            "_received_at": pa.array([NOW] * rows, pa.timestamp("us", tz="UTC")),
            "_schema_hash": pa.array(["0123456789abcdef"] * rows),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    store.put(key, out.getvalue())
    return CopyTask(
        task_id_for(key), "g1", "login", key, store.uri(key), tuple(table.column_names),
        rows, len(out.getvalue()), 0, 0, "playlog.events", 0, first, first,
    )  # fmt: skip
