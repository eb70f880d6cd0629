"""Column kinds -> SQL types and default literals, one mapper per warehouse.

    PostgresTypes().column_sql(Column("lvl", "lvl", "int", default=1))
    # '"lvl" INTEGER DEFAULT 1'

The Avro core (``playlog.avro.types``) turns a schema into neutral ``Column``s (kind,
precision, scale, default); only the warehouse adapters know SQL. Model: dlt's
``destinations/type_mapping.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import ClassVar

from playlog.avro.types import DECIMAL128_DIGITS, Column
from playlog.names import quote

_COMMON: dict[str, str] = {
    "boolean": "BOOLEAN",
    "int": "INTEGER",
    "long": "BIGINT",
    "float": "REAL",
    "double": "DOUBLE PRECISION",
    "string": "TEXT",
    "bytes": "BYTEA",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "TIMESTAMPTZ",
    "local_timestamp": "TIMESTAMP",
    # No nanosecond timestamps in PostgreSQL or Redshift: the exact Avro long
    "timestamp_ns": "BIGINT",
    "local_timestamp_ns": "BIGINT",
    "uuid": "UUID",
    "duration": "TEXT",  # JSON {"months", "days", "milliseconds"}: exact everywhere
    "json": "TEXT",
}


class TypeMapper:
    """SQL for the column kinds of ``playlog.avro.types``; subclasses change the names."""

    names: ClassVar[Mapping[str, str]] = _COMMON
    # the widest DECIMAL(p,s); wider decimals are stored as their exact text
    max_decimal: ClassVar[int] = 1000
    # _event_id, _received_at, _schema_hash
    metadata: ClassVar[tuple[str, str, str]] = ("BIGINT", "TIMESTAMPTZ", "TEXT")
    text: ClassVar[str] = "TEXT"  # the ledger's text columns

    def sql_type(self, column: Column) -> str:
        if column.kind == "decimal":
            if column.precision > self.max_decimal:
                return self.decimal_text(column)
            return f"DECIMAL({column.precision},{column.scale})"
        return self.names[column.kind]

    def decimal_text(self, column: Column) -> str:
        return self.names["string"]

    def default_sql(self, column: Column) -> str | None:
        """The Avro default as a SQL literal, or None when the column defaults to NULL."""
        if not column.has_default or column.default is None:
            return None
        value = column.default
        if column.kind == "json":
            return string_literal(json.dumps(value, separators=(",", ":")))
        if column.kind == "boolean":
            return "TRUE" if value else "FALSE"
        if column.kind in ("int", "long", "float", "double", "decimal") and isinstance(
            value, int | float
        ):
            return repr(value)
        if column.kind == "string" and isinstance(value, str):
            return string_literal(value)
        if column.kind == "uuid" and isinstance(value, str):  # checked at registration
            return string_literal(str(uuid.UUID(value)))
        # Defaults of bytes/time/date types are rare and dialect-specific: NULL it is.
        return None

    def column_sql(self, column: Column, name: str | None = None) -> str:
        """``"name" TYPE [DEFAULT literal]``; ``name`` overrides the column's."""
        default = self.default_sql(column)
        return f"{quote(name or column.name)} {self.sql_type(column)}" + (
            f" DEFAULT {default}" if default is not None else ""
        )


class PostgresTypes(TypeMapper):
    pass


class DuckDBTypes(TypeMapper):
    names = {
        **_COMMON,
        "double": "DOUBLE",
        "string": "VARCHAR",
        "bytes": "BLOB",
        # DuckDB has no TIMESTAMPTZ in nanoseconds: timestamp-nanos is UTC wall time
        "timestamp_ns": "TIMESTAMP_NS",
        "local_timestamp_ns": "TIMESTAMP_NS",
        "duration": "VARCHAR",
        "json": "VARCHAR",
    }
    metadata = ("BIGINT", "TIMESTAMPTZ", "VARCHAR")
    max_decimal = DECIMAL128_DIGITS


class RedshiftTypes(PostgresTypes):
    names = {
        **_COMMON,
        "string": "VARCHAR(65535)",
        "bytes": "VARBYTE(65535)",
        "uuid": "CHAR(36)",  # no UUID type: the canonical text
        "duration": "VARCHAR(65535)",
        "json": "VARCHAR(65535)",
    }
    metadata = ("BIGINT", "TIMESTAMPTZ", "VARCHAR(16)")
    text = "VARCHAR(512)"
    max_decimal = DECIMAL128_DIGITS

    def decimal_text(self, column: Column) -> str:
        return f"VARCHAR({column.precision + 2})"  # the digits, a sign and a point


def string_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
