"""The row path: events decoded one by one with fastavro, resolved to the latest
schema by Avro itself. Exact for every schema; the columnar path must equal it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastavro
import pyarrow as pa

from playlog.avro import ocf, single_object
from playlog.avro.codecs import Inflater
from playlog.avro.limits import DEFAULT_LIMITS, Limits
from playlog.avro.schema import EventSchema, fingerprint_of, parse
from playlog.contracts import FORMAT_SINGLE_OBJECT, METADATA_COLUMNS
from playlog.errors import InvalidPayload
from playlog.log.base import Record
from playlog.process.values import column_array

# game, fingerprint -> the registered version with that hash (raises UnknownSchema)
SchemaLookup = Callable[[str, str], EventSchema]
# game, event_type -> the latest version
LatestLookup = Callable[[str, str], EventSchema]
# (index of the event in its record, writer schema, latest schema, row resolved to latest)
Decoded = tuple[int, EventSchema, EventSchema, dict[str, Any]]


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
    record: Record,
    lookup: SchemaLookup,
    latest: LatestLookup,
    skip: frozenset[int] = frozenset(),
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Decoded]:
    """Every event of the record, but those of the OCF containers numbered in ``skip``
    (the columnar path decodes them)."""
    game = record.headers["game"]
    if record.headers.get("format") == FORMAT_SINGLE_OBJECT:
        yield from _single_objects(record, lookup, latest, limits.depth)
        return
    index, inflater = 0, Inflater(limits.inflated_bytes)
    for number, container in enumerate(ocf.walk(record.value)):
        if number in skip:
            index += container.count
            continue
        writer = lookup(game, fingerprint_of(container.schema_json))
        target = latest(game, writer.event_type)
        for resolved_row in _ocf_rows(record.value, container, target, inflater):
            yield index, writer, target, resolved_row
            index += 1


def _ocf_rows(
    value: bytes, container: ocf.Container, target: EventSchema, inflater: Inflater
) -> Iterator[dict[str, Any]]:
    """The container's records resolved to ``target``. Decoded block by block with the
    header's schema as ``parse`` reads it (invalid logical types ignored), which
    fastavro's own container reader would not do."""
    written_with = parse(container.schema_json)
    for count, start, end in ocf.blocks(value, container):
        where = f"container at byte {container.start}, block at byte {start}"
        data = inflater.inflate(container.codec, value[start:end], where)
        stream = io.BytesIO(data)
        for _ in range(count):
            row = fastavro.schemaless_reader(stream, written_with, target.parsed)
            assert isinstance(row, dict)
            yield row
        if stream.tell() != len(data):  # as strict as fastavro's reader: damage
            raise InvalidPayload(f"{where}: block holds more data than its {count} records")


def _single_objects(
    record: Record, lookup: SchemaLookup, latest: LatestLookup, max_depth: int
) -> Iterator[Decoded]:
    game = record.headers["game"]
    resolved: dict[str, tuple[EventSchema, EventSchema]] = {}

    def writer_for(fingerprint: str) -> Any:
        if fingerprint not in resolved:
            writer = lookup(game, fingerprint)
            resolved[fingerprint] = (writer, latest(game, writer.event_type))
        return resolved[fingerprint][0].parsed

    def reader_for(fingerprint: str) -> Any:
        return resolved[fingerprint][1].parsed

    decoded = single_object.decode(record.value, writer_for, reader_for, max_depth)
    for index, (fingerprint, row) in enumerate(decoded):
        yield (index, *resolved[fingerprint], row)


def record_tables(
    record: Record, decoded: list[Decoded], received_ms: int
) -> dict[tuple[str, str], pa.Table]:
    """One record's rows as Arrow, per table (the row path converts record by record
    so that a value no column can hold costs only its own record)."""
    buckets: dict[tuple[str, str], _Rows] = {}
    for index, writer, target, row in decoded:
        bucket = buckets.setdefault((target.game, target.event_type), _Rows(target))
        bucket.rows.append(row)
        bucket.event_ids.append(event_id(record.offset, record.partition, index))
        bucket.received_ms.append(received_ms)
        bucket.hashes.append(writer.fingerprint)
    return {key: to_arrow(bucket) for key, bucket in buckets.items()}


def to_arrow(rows: _Rows) -> pa.Table:
    columns = rows.latest.columns
    arrays = []
    for column in columns:
        arrays.append(column_array([row.get(column.field) for row in rows.rows], column))
    received = pa.array(rows.received_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    arrays += [
        pa.array(rows.event_ids, type=pa.int64()),
        received.cast(pa.timestamp("us", tz="UTC")),
        pa.array(rows.hashes, type=pa.string()),
    ]
    names = [c.name for c in columns] + list(METADATA_COLUMNS)
    return pa.Table.from_arrays(arrays, names=names)
