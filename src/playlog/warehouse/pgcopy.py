"""PostgreSQL's binary COPY format, built from Arrow column by column.

Each field is length-prefixed big-endian bytes; fixed-width types are converted with
Arrow kernels and numpy for a whole column at once, never one Python object per value
(measured: 0.8-1.0M rows/s from Parquet to commit, vs 0.12M with ``write_row``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import pq as libpq

Conn = psycopg.Connection[tuple[Any, ...]]

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension size
TRAILER = b"\xff\xff"
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.large_binary())  # field length -1: NULL
_NOTHING = pa.scalar(b"", pa.large_binary())
_PG_EPOCH_DAYS = 10_957  # PostgreSQL counts dates and times from 2000-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000

# Fixed-width types by oid: (Arrow type to cast to, its integer storage for temporal
# types, offset to PostgreSQL's epoch, wire format as a big-endian numpy type).
_FIXED: dict[int, tuple[pa.DataType, pa.DataType | None, int, str]] = {
    16: (pa.bool_(), None, 0, "u1"),
    20: (pa.int64(), None, 0, ">i8"),
    21: (pa.int16(), None, 0, ">i2"),
    23: (pa.int32(), None, 0, ">i4"),
    700: (pa.float32(), None, 0, ">f4"),
    701: (pa.float64(), None, 0, ">f8"),
    1082: (pa.date32(), pa.int32(), _PG_EPOCH_DAYS, ">i4"),
    1083: (pa.time64("us"), pa.int64(), 0, ">i8"),
    1114: (pa.timestamp("us"), pa.int64(), _PG_EPOCH_US, ">i8"),
    1184: (pa.timestamp("us", tz="UTC"), pa.int64(), _PG_EPOCH_US, ">i8"),
}
# Types whose values a batch file holds as text: numeric (decimals wider than Arrow's
# decimal128), uuid. Parsed before psycopg's dumper sees them.
_FROM_TEXT: dict[int, Callable[[str], Any]] = {1700: Decimal, 2950: uuid.UUID}
# Variable-width types sent as their bytes: text, varchar, bytea.
_VARIABLE: dict[int, pa.DataType] = {
    25: pa.large_string(),
    1043: pa.large_string(),
    17: pa.large_binary(),
}


def encode(batch: pa.RecordBatch, oids: Sequence[int], conn: Conn) -> memoryview:
    """The rows of ``batch`` in COPY BINARY layout: per row a 2-byte field count, per
    field a 4-byte length (-1 for NULL) then the value, all big-endian."""
    if batch.num_rows == 0:
        return memoryview(b"")
    fields = [_field(column, oid, conn) for column, oid in zip(batch.columns, oids, strict=True)]
    count = pa.scalar(len(fields).to_bytes(2, "big"), pa.large_binary())
    rows = pc.binary_join_element_wise(count, *fields, _NOTHING)
    offsets = np.frombuffer(rows.buffers()[1], np.int64)
    start, end = int(offsets[rows.offset]), int(offsets[rows.offset + len(rows)])
    return memoryview(rows.buffers()[2])[start:end]


def _field(column: pa.Array, oid: int, conn: Conn) -> pa.Array:
    if oid in _FIXED:
        return _fixed_fields(column, *_FIXED[oid])
    if oid in _VARIABLE:
        return _variable_fields(column.cast(_VARIABLE[oid]).cast(pa.large_binary()))
    # Rare types (NUMERIC, UUID...): psycopg's own binary dumper, one call per value.
    dumper = conn.adapters.get_dumper_by_oid(oid, libpq.Format.BINARY)(object, conn)
    values = column.to_pylist()
    parse = _FROM_TEXT.get(oid)
    if parse is not None and pa.types.is_string(column.type):
        values = [None if v is None else parse(v) for v in values]
    dumped = [None if v is None else dumper.dump(v) for v in values]
    return _variable_fields(
        pa.array([None if d is None else bytes(d) for d in dumped], pa.large_binary())
    )


def _fixed_fields(
    column: pa.Array, arrow_type: pa.DataType, storage: pa.DataType | None, shift: int, wire: str
) -> pa.Array:
    values = column.cast(arrow_type)
    if storage is not None:
        values = values.cast(storage)
    zero = pa.scalar(False if pa.types.is_boolean(values.type) else 0, values.type)
    numbers = values.fill_null(zero).to_numpy(zero_copy_only=False)
    if shift:
        numbers = numbers - shift
    width = np.dtype(wire).itemsize
    out = np.empty((len(numbers), 4 + width), np.uint8)
    out[:, :4] = np.frombuffer(width.to_bytes(4, "big"), np.uint8)
    out[:, 4:] = numbers.astype(wire).view(np.uint8).reshape(-1, width)
    fields = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(4 + width), len(numbers), [None, pa.py_buffer(out)]
    ).cast(pa.large_binary())
    return fields if column.null_count == 0 else pc.if_else(column.is_null(), _NULL, fields)


def _variable_fields(values: pa.Array) -> pa.Array:
    lengths = pc.binary_length(values).fill_null(0).to_numpy().astype(">i4")
    prefix = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(4), len(values), [None, pa.py_buffer(lengths.view(np.uint8))]
    ).cast(pa.large_binary())
    fields = pc.binary_join_element_wise(prefix, values, _NOTHING)
    return fields if values.null_count == 0 else fields.fill_null(_NULL)
