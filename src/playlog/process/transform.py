"""One offset range of the data topic -> one Parquet file per table + its COPY task.

This is the batch transform both engines run (in-process, or inside a Spark
executor): it depends only on the records, a schema lookup and an object store.

Rows are resolved to the table's latest registered schema (Avro resolution), so a
table has one column layout. Every row gets ``_event_id`` (unique: offset, partition
and index packed into 63 bits), ``_received_at`` and ``_schema_hash``.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from playlog.avro import ocf, single_object
from playlog.avro.limits import Limits, check_ocf
from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import (
    FORMAT_SINGLE_OBJECT,
    METADATA_COLUMNS,
    RECEIVED_AT,
    CopyTask,
    OffsetRange,
    RangeResult,
    task_id_for,
)
from playlog.errors import PlaylogError, TransientError
from playlog.log.base import Message, Record, dead_letter
from playlog.process.columnar import FastPathFailed, SchemaGroup, fast_path_fits
from playlog.storage.base import ObjectStore

log = logging.getLogger("playlog.process")

# game, fingerprint -> the registered version with that hash (raises UnknownSchema)
SchemaLookup = Callable[[str, str], EventSchema]
# game, event_type -> the latest version
LatestLookup = Callable[[str, str], EventSchema]


def event_id(offset: int, partition: int, index: int) -> int:
    """Unique per event: offset (36 bits) | partition (10 bits) | index (17 bits)."""
    return (((offset << 10) | partition) << 17) | index


@dataclass
class _Rows:
    latest: EventSchema
    rows: list[dict[str, Any]] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    received_ms: list[int] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)


def decode_record(
    record: Record, lookup: SchemaLookup, latest: LatestLookup
) -> Iterator[tuple[EventSchema, EventSchema, dict[str, Any]]]:
    """Yield (writer schema, latest schema, row resolved to latest) per event."""
    game = record.headers["game"]
    if record.headers.get("format") == FORMAT_SINGLE_OBJECT:
        resolved: dict[str, tuple[EventSchema, EventSchema]] = {}

        def writer_for(fingerprint: str) -> Any:
            if fingerprint not in resolved:
                writer = lookup(game, fingerprint)
                resolved[fingerprint] = (writer, latest(game, writer.event_type))
            return resolved[fingerprint][0].parsed

        def reader_for(fingerprint: str) -> Any:
            return resolved[fingerprint][1].parsed

        for fingerprint, row in single_object.decode(record.value, writer_for, reader_for):
            yield (*resolved[fingerprint], row)
        return
    for container in ocf.walk(record.value):
        writer = lookup(game, fingerprint_of(container.schema_json))
        target = latest(game, writer.event_type)
        stream = io.BytesIO(record.value[container.start : container.end])
        # Data of the latest version is read as written: fastavro resolves a union by
        # its first matching branch, so [string, bytes] would turn bytes into text.
        reader = None if writer.schema_json == target.schema_json else target.parsed
        for resolved_row in fastavro.reader(stream, reader_schema=reader):
            assert isinstance(resolved_row, dict)
            yield writer, target, resolved_row


# What decoding a damaged record raises. Ingest checks OCF framing only, so a block's
# bytes can still be corrupt: fastavro then raises IndexError or (deflate) zlib.error.
# Values the Avro encoding allows but a column cannot hold (a timestamp 2**62 ms)
# fail in the Arrow conversion: that record is dead-lettered too, never the range.
_UNDECODABLE = (
    PlaylogError, ValueError, EOFError, LookupError, TypeError, ArithmeticError,
    zlib.error, pa.ArrowException,
)  # fmt: skip


def transform_range(
    span: OffsetRange,
    records: Iterable[Record],
    lookup: SchemaLookup,
    latest: LatestLookup,
    store: ObjectStore,
) -> RangeResult:
    """Write this range's files (same range -> same keys) and return their COPY tasks.
    A record that cannot be decoded becomes a dead letter with the reason."""
    records = list(records)
    try:
        return _transform(span, records, lookup, _pinned(latest), store, fast=True)
    except FastPathFailed as exc:
        log.warning("range %s: fast path failed (%s); decoding row by row", span, exc)
        return _transform(span, records, lookup, _pinned(latest), store, fast=False)


def _pinned(latest: LatestLookup) -> LatestLookup:
    """One latest version per table for the whole range, even if a registration
    lands while the range is being transformed: one file has one layout."""
    seen: dict[tuple[str, str], EventSchema] = {}

    def pinned(game: str, event_type: str) -> EventSchema:
        if (game, event_type) not in seen:
            seen[(game, event_type)] = latest(game, event_type)
        return seen[(game, event_type)]

    return pinned


def _transform(
    span: OffsetRange,
    records: list[Record],
    lookup: SchemaLookup,
    latest: LatestLookup,
    store: ObjectStore,
    fast: bool,
) -> RangeResult:
    groups: dict[tuple[str, str, str], SchemaGroup] = {}  # game, fingerprint, codec
    tables: dict[tuple[str, str], list[pa.Table]] = {}
    dead: list[Message] = []
    day: str | None = None
    events = 0
    for record in records:
        received_ms = int(record.headers.get("received_at_ms", record.timestamp_ms))
        if day is None:
            day = dt.datetime.fromtimestamp(received_ms / 1000, dt.UTC).strftime("%Y-%m-%d")
        try:
            _check_limits(record, lookup)
            planned = _plan_columnar(record, lookup, latest) if fast else None
            if planned is not None:
                index = 0
                for container, writer, target in planned:
                    group_key = (writer.game, writer.fingerprint, container.codec)
                    group = groups.setdefault(group_key, SchemaGroup(writer, target))
                    first_id = event_id(record.offset, record.partition, index)
                    group.add(record.value, container, first_id, received_ms)
                    index += container.count
                events += index
                continue
            decoded = list(decode_record(record, lookup, latest))
            converted = _record_tables(record, decoded, received_ms)
        except TransientError:
            raise  # e.g. the catalog is down: retry the range, the record is fine
        except _UNDECODABLE as exc:
            dead.append(dead_letter(record, exc))
            continue
        for key, table in converted.items():
            tables.setdefault(key, []).append(table)
        events += len(decoded)
    for group in groups.values():
        tables.setdefault((group.latest.game, group.latest.event_type), []).append(group.to_arrow())
    tasks = [
        _write_file(span, day or "1970-01-01", latest(*key), pa.concat_tables(parts), store)
        for key, parts in sorted(tables.items())
    ]
    return RangeResult(tasks, dead, events)


def _record_tables(
    record: Record,
    decoded: list[tuple[EventSchema, EventSchema, dict[str, Any]]],
    received_ms: int,
) -> dict[tuple[str, str], pa.Table]:
    """One record's rows as Arrow, per table (the row path converts record by record
    so that a value no column can hold costs only its own record)."""
    buckets: dict[tuple[str, str], _Rows] = {}
    for index, (writer, target, row) in enumerate(decoded):
        bucket = buckets.setdefault((target.game, target.event_type), _Rows(target))
        bucket.rows.append(row)
        bucket.event_ids.append(event_id(record.offset, record.partition, index))
        bucket.received_ms.append(received_ms)
        bucket.hashes.append(writer.fingerprint)
    return {key: to_arrow(bucket) for key, bucket in buckets.items()}


def _check_limits(record: Record, lookup: SchemaLookup) -> None:
    """Refuse an OCF record whose data nests or inflates past the limits before a
    native decoder sees it (single-object data is checked as it is decoded)."""
    if record.headers.get("format") != FORMAT_SINGLE_OBJECT:
        game = record.headers["game"]
        writer_of = lambda c: lookup(game, fingerprint_of(c.schema_json)).parsed  # noqa: E731
        check_ocf(record.value, ocf.walk(record.value), writer_of, Limits())


def _plan_columnar(
    record: Record, lookup: SchemaLookup, latest: LatestLookup
) -> list[tuple[ocf.Container, EventSchema, EventSchema]] | None:
    """The record's containers with their writer and latest schemas, if the fast path
    can take all of them; None sends the record the exact (row) way."""
    if record.headers.get("format") == FORMAT_SINGLE_OBJECT:
        return None
    game = record.headers["game"]
    planned = []
    for container in ocf.walk(record.value):
        writer = lookup(game, fingerprint_of(container.schema_json))
        target = latest(game, writer.event_type)
        if not fast_path_fits(writer, target):
            return None
        planned.append((container, writer, target))
    return planned


def to_arrow(rows: _Rows) -> pa.Table:
    columns = rows.latest.columns
    arrays = []
    for column in columns:
        values = [row.get(column.field) for row in rows.rows]
        if column.kind == "json":
            values = [None if v is None else json.dumps(v, default=_json_default) for v in values]
        arrays.append(pa.array(values, type=column.arrow_type))
    received = pa.array(rows.received_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    arrays += [
        pa.array(rows.event_ids, type=pa.int64()),
        received.cast(pa.timestamp("us", tz="UTC")),
        pa.array(rows.hashes, type=pa.string()),
    ]
    names = [c.name for c in columns] + list(METADATA_COLUMNS)
    return pa.Table.from_arrays(arrays, names=names)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def file_key(span: OffsetRange, game: str, event_type: str, day: str) -> str:
    incarnation = f"-{span.incarnation}" if span.incarnation else ""
    return (
        f"{game}/{event_type}/dt={day}/"
        f"{span.topic}-{span.partition}-{span.first}-{span.last}{incarnation}.parquet"
    )


def _write_file(
    span: OffsetRange, day: str, latest: EventSchema, table: pa.Table, store: ObjectStore
) -> CopyTask:
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    data = out.getvalue()
    key = file_key(span, latest.game, latest.event_type, day)
    store.put(key, data)
    received = pc.min_max(table[RECEIVED_AT])
    return CopyTask(
        task_id=task_id_for(key),
        game=latest.game,
        event_type=latest.event_type,
        key=key,
        uri=store.uri(key),
        columns=tuple(table.column_names),
        rows=table.num_rows,
        bytes=len(data),
        received_min_ms=received["min"].value // 1000,  # microseconds in the file
        received_max_ms=received["max"].value // 1000,
        source_topic=span.topic,
        source_partition=span.partition,
        source_first=span.first,
        source_last=span.last,
    )
