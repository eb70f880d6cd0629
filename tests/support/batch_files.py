"""A batch file in an object store, as the processor writes it, and its COPY task."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq

from playlog.contracts import CopyTask, OffsetRange
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
    return put_batch_file(store, key, table, OffsetRange("playlog.events", 0, first, first))


def put_batch_file(store: ObjectStore, key: str, table: pa.Table, source: OffsetRange) -> CopyTask:
    """``table`` stored at ``key`` as a batch file of the game and event type the key
    names, and its COPY task (receive times 0: no loader reads them)."""
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    store.put(key, out.getvalue())
    game, event_type = key.split("/")[:2]
    return CopyTask.of_file(
        key, store.uri(key), game, event_type, source,
        columns=table.column_names, rows=table.num_rows, size=len(out.getvalue()),
        received_us=(0, 0),
    )  # fmt: skip
