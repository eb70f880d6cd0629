"""The fast path: decode a range's Avro containers a whole schema at a time.

Decoding to Python dicts costs about 4 us per event (fastavro); polars decodes a
container straight to Arrow about 4x faster (measured: 1.1M vs 0.25M events/s on one
core). So the containers of one writer schema (and codec) across a range's records
are re-framed behind a single header, without decoding, and decoded in one call;
the columns are then resolved to the table's latest schema with Arrow casts.

Schema resolution done column-wise must equal Avro's, so the fast path only takes
flat records of plain types (``FAST_KINDS``) with unchanged enums; anything else,
and any error, goes the exact (row) path in ``transform``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import fastavro
import numpy as np
import polars as pl
import pyarrow as pa

from playlog.avro.ocf import SYNC_SIZE, Container, read_long
from playlog.avro.schema import EventSchema
from playlog.contracts import METADATA_COLUMNS

FAST_KINDS = frozenset(
    {"boolean", "int", "long", "float", "double", "string", "bytes", "date", "timestamp",
     "local_timestamp"}
)  # fmt: skip


class FastPathFailed(Exception):
    """This range must take the exact path (nothing was written)."""


def fast_path_fits(writer: EventSchema, latest: EventSchema) -> bool:
    """True when column-wise resolution of ``writer`` data to ``latest`` is exact."""
    if any(c.kind not in FAST_KINDS for c in writer.columns):
        return False
    if writer.fingerprint == latest.fingerprint:
        return True
    latest_types = {f["name"]: f["type"] for f in latest.raw["fields"]}
    written = {f["name"] for f in writer.raw["fields"]}
    # A field renamed with aliases reads another column: not a default to broadcast.
    if any(
        f["name"] not in written and set(f.get("aliases", ())) & written
        for f in latest.raw["fields"]
    ):
        return False
    for writer_field in writer.raw["fields"]:
        kind = writer_field["type"]
        is_enum = isinstance(kind, dict) and kind.get("type") == "enum"
        # Enum resolution maps unknown symbols to the reader's default: not a cast.
        if is_enum and latest_types.get(writer_field["name"]) not in (None, kind):
            return False
    return True


@dataclass
class SchemaGroup:
    """Every container of one writer schema and codec in a range, in range order."""

    writer: EventSchema
    latest: EventSchema
    parts: list[tuple[bytes, Container]] = field(default_factory=list)
    first_ids: list[int] = field(default_factory=list)  # _event_id of each part's event 0
    received_ms: list[int] = field(default_factory=list)

    def add(self, value: bytes, container: Container, first_id: int, received_ms: int) -> None:
        self.parts.append((value, container))
        self.first_ids.append(first_id)
        self.received_ms.append(received_ms)

    def to_arrow(self) -> pa.Table:
        """The group's rows in the latest layout, with the metadata columns."""
        counts = np.array([c.count for _, c in self.parts], dtype=np.int64)
        try:
            decoded = pl.read_avro(io.BytesIO(reframe(self.parts, self.writer))).to_arrow()
            if decoded.num_rows != int(counts.sum()):
                raise FastPathFailed("row count differs from the containers' block counts")
            arrays = _resolve(decoded, self.writer, self.latest)
        except (Exception, pl.exceptions.PanicException) as exc:
            # Ingest checks framing, not contents: a block may hold fewer records than
            # it claims or spoiled bytes, and the native decoder then fails in any way
            # it likes (OSError, a Rust panic). The row path finds the record and
            # dead-letters it alone.
            raise FastPathFailed(f"{type(exc).__name__}: {exc}") from exc
        # Event ids run on within a record: event k of a part is its first id + k.
        starts = np.repeat(np.array(self.first_ids, dtype=np.int64), counts)
        offsets = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(counts) - counts, counts
        )
        received = np.repeat(np.array(self.received_ms, dtype=np.int64), counts)
        arrays += [
            pa.array(starts + offsets, type=pa.int64()),
            pa.array(received, type=pa.int64())
            .cast(pa.timestamp("ms", tz="UTC"))
            .cast(pa.timestamp("us", tz="UTC")),
            pa.array([self.writer.fingerprint] * len(received), type=pa.string()),
        ]
        names = [c.name for c in self.latest.columns] + list(METADATA_COLUMNS)
        return pa.Table.from_arrays(arrays, names=names)


def reframe(parts: list[tuple[bytes, Container]], writer: EventSchema) -> bytes:
    """One container file holding every block of ``parts`` (all written with
    ``writer``, one codec): a header naming ``writer`` without its defaults, then each
    block with that header's sync marker."""
    first_value, first = parts[0]
    sync = first_value[first.header_end - SYNC_SIZE : first.header_end]
    out = [_header(_without_defaults(writer.schema_json), first.codec, sync)]
    for value, container in parts:
        pos = container.header_end
        while pos < container.end:
            _, after_count = read_long(value, pos)
            size, data_start = read_long(value, after_count)
            out += [value[pos : data_start + size], sync]
            pos = data_start + size + SYNC_SIZE
    return b"".join(out)


_MAGIC = b"Obj\x01"


def _header(schema_json: str, codec: str, sync: bytes) -> bytes:
    """An OCF header: magic, the metadata map (schema and codec), the sync marker."""
    meta = [(b"avro.schema", schema_json.encode()), (b"avro.codec", codec.encode())]
    out = [_MAGIC, _long(len(meta))]
    for key, value in meta:
        out += [_long(len(key)), key, _long(len(value)), value]
    return b"".join([*out, _long(0), sync])


def _long(value: int) -> bytes:
    """Avro's zig-zag varint."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@lru_cache(maxsize=1024)
def _without_defaults(schema_json: str) -> str:
    """The schema as the decoder needs it. Defaults never change how data written with
    this very schema decodes, and polars refuses a string field that has one."""

    def strip(node: Any) -> Any:
        if isinstance(node, list):
            return [strip(item) for item in node]
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "default"}
        return node

    return json.dumps(strip(json.loads(schema_json)))


def _resolve(decoded: pa.Table, writer: EventSchema, latest: EventSchema) -> list[pa.Array]:
    """Columns of ``latest`` from data written with ``writer``: cast along promotions,
    defaults where the writer lacks a field (taken from fastavro's own resolution of
    one row, so they match the exact path value for value)."""
    defaults: dict[str, Any] | None = None
    arrays = []
    for column in latest.columns:
        if column.field in decoded.column_names:
            array = decoded[column.field].combine_chunks()
            if pa.types.is_dictionary(array.type):  # enums arrive as categoricals
                array = array.cast(pa.string())
            arrays.append(array.cast(column.arrow_type))
            continue
        if defaults is None:
            defaults = _defaults(decoded, writer, latest)
        value = defaults.get(column.field)
        if column.kind == "json" and value is not None:
            value = json.dumps(value)
        arrays.append(pa.array([value] * decoded.num_rows, type=column.arrow_type))
    return arrays


def _defaults(decoded: pa.Table, writer: EventSchema, latest: EventSchema) -> dict[str, Any]:
    row = decoded.slice(0, 1).to_pylist()[0]
    out = io.BytesIO()
    fastavro.schemaless_writer(out, writer.parsed, row)
    out.seek(0)
    resolved = fastavro.schemaless_reader(out, writer.parsed, latest.parsed)
    assert isinstance(resolved, dict)
    return resolved
