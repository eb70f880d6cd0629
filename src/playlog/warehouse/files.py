"""Reading a COPY task's batch file, with the errors a loader can act on.

    read_batch_file(store, task, columns, {"n": pa.int64()})  # an int file, widened

A file written before an Avro promotion (int -> long, float -> double, ...) keeps its
old Parquet type; it is cast to the table's current type so that files of both
versions combine in one load. Nothing is ever narrowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from playlog.contracts import CopyTask
from playlog.errors import ObjectMissing, TransientError, WarehouseError, WarehouseUnavailable

# information_schema type names (lower case) of the columns a promotion widens, and
# the Arrow type a file's column is cast to for them.
SQL_TO_ARROW: dict[str, pa.DataType] = {
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "float": pa.float32(),
    "double": pa.float64(),
    "double precision": pa.float64(),
    "timestamp_ns": pa.timestamp("ns"),  # DuckDB's; the file holds the Avro long
}
_MAX_DECIMAL128 = 38
# Avro's promotions between the Arrow types above: what may be cast, and to what; and
# the Avro long of a nanosecond timestamp to DuckDB's TIMESTAMP_NS.
_WIDENS = {
    pa.int32(): {pa.int64(), pa.float32(), pa.float64()},
    pa.int64(): {pa.float32(), pa.float64(), pa.timestamp("ns")},
    pa.float32(): {pa.float64()},
}


class BatchFiles(Protocol):
    """Where a load reads its batch files: the store, or its files fetched ahead."""

    def get(self, key: str) -> bytes: ...


def read_batch_file(
    store: BatchFiles,
    task: CopyTask,
    columns: tuple[str, ...],
    types: Mapping[str, pa.DataType] | None = None,
) -> pa.Table:
    """The file's ``columns``, each widened to its type in ``types`` when the file
    holds an older, narrower one. A missing file or a store outage is
    ``WarehouseUnavailable`` (the loader pauses and retries: a file goes missing by an
    operator's or a lifecycle rule's doing, never by its data's); an unreadable file
    is a ``WarehouseError`` (that task is dead-lettered, the others load)."""
    try:
        data = store.get(task.key)
    except ObjectMissing as exc:
        raise WarehouseUnavailable(f"batch file {task.key} is missing: {exc}") from exc
    except TransientError as exc:
        raise WarehouseUnavailable(f"object store: {exc}") from exc
    try:
        # ParquetFile, not read_table: no dataset discovery for one buffer (measured:
        # 1.3-1.4 vs 1.9-2.6 ms of CPU per 3000-row file).
        table = pq.ParquetFile(pa.BufferReader(data)).read(columns=list(columns))
        table = table.select(list(columns))
        return widen(table, types or {})
    except (pa.ArrowException, KeyError, ValueError) as exc:
        raise WarehouseError(f"{task.key}: not a loadable Parquet file: {exc}") from exc


def arrow_of_sql(sql_type: str) -> pa.DataType | None:
    """The Arrow type a file's column is cast to for a table column of ``sql_type``
    (information_schema's name, decimals as ``decimal(p,s)``), if a version can widen it."""
    name = sql_type.lower()
    digits = re.fullmatch(r"decimal\((\d+),(\d+)\)", name)
    if digits is not None and int(digits[1]) <= _MAX_DECIMAL128:
        return pa.decimal128(int(digits[1]), int(digits[2]))
    return SQL_TO_ARROW.get(name)


def _widens(source: pa.DataType, target: pa.DataType) -> bool:
    if pa.types.is_decimal(source) and pa.types.is_decimal(target):
        # A decimal version with more digits of the same scale (see compat).
        return bool(source.scale == target.scale and source.precision < target.precision)
    return target in _WIDENS.get(source, set())


def widen(table: pa.Table, types: Mapping[str, pa.DataType]) -> pa.Table:
    """``table`` with each column whose type an Avro promotion widens to ``types[name]``
    cast to it; every other column as it is. Unsafe casts on purpose: long -> float
    rounds, exactly as Avro's resolution of the same promotion does (no overflow:
    a float's range holds every long)."""
    for index, field in enumerate(table.schema):
        target = types.get(field.name)
        if target is not None and _widens(field.type, target):
            table = table.set_column(
                index, field.name, table.column(index).cast(target, safe=False)
            )
    return table


def narrower_than(table: pa.Table, types: Mapping[str, pa.DataType]) -> bool:
    """Does ``types`` (what we believe the table is) hold a column narrower than the
    file's? Then the belief is out of date: the table was widened since."""
    for field in table.schema:
        target = types.get(field.name)
        if target is not None and _widens(target, field.type):
            return True
    return False
