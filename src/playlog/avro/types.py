"""Avro field types -> neutral table columns (kind, precision, scale, default, Arrow type).

SQL types and default literals are the warehouse adapters' (``playlog.warehouse.types``).
One table has one column per top-level field. Nested records, arrays, maps and
unions other than ``[null, T]`` become a JSON text column: every warehouse can
store and query JSON, and the layout stays flat and identical across warehouses.
The Arrow type is the batch file's: decimals wider than 38 digits travel as their
text, nanosecond timestamps as the Avro long, a duration as JSON text. Invalid
logical types are ignored (``playlog.avro.logical``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from playlog.avro.logical import valid_logical, without_invalid_logical
from playlog.errors import BadRequest
from playlog.names import column_name

# The widest decimal an Arrow decimal128 (and DuckDB's and Redshift's DECIMAL) holds.
DECIMAL128_DIGITS = 38

# kind -> Arrow type. "decimal" is built from precision/scale.
_ARROW: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "bytes": pa.binary(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "local_timestamp": pa.timestamp("us"),
    "timestamp_ns": pa.int64(),  # nanoseconds since the epoch, as Avro has them
    "local_timestamp_ns": pa.int64(),
    "uuid": pa.string(),  # the canonical text; warehouses cast it to their UUID type
    "duration": pa.string(),  # {"months": m, "days": d, "milliseconds": ms}
    "json": pa.string(),
}

# Avro promotions that widen a column (writer kind -> reader kinds).
PROMOTIONS: dict[str, set[str]] = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Column:
    name: str  # warehouse column (field name, lower case)
    field: str  # Avro field name as written in the schema
    kind: str  # a key of _ARROW, or "decimal"
    precision: int = 0
    scale: int = 0
    default: Any = _NO_DEFAULT  # the Avro default, as JSON (absent: no default)

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    @property
    def arrow_type(self) -> pa.DataType:
        if self.kind == "decimal":
            if self.precision > DECIMAL128_DIGITS:
                return pa.string()  # the exact decimal text, e.g. "-12.50"
            return pa.decimal128(self.precision, self.scale)
        return _ARROW[self.kind]


def columns_of(schema: dict[str, Any]) -> list[Column]:
    """The table columns of a (parsed or raw JSON) Avro record schema, in field order."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise BadRequest("an event type's schema must be an Avro record")
    schema = without_invalid_logical(schema)
    columns: list[Column] = []
    seen: set[str] = set()
    named: dict[str, Any] = {}
    for field in schema.get("fields", []):
        name = column_name(field["name"])
        if name in seen:
            raise BadRequest(f"fields {field['name']!r} collide in lower case", field=name)
        seen.add(name)
        # Avro defines a named type once and later fields refer to it by name: keep
        # the definitions so a reference maps to the same column kind.
        _collect_named(field["type"], named)
        kind, precision, scale = _kind(field["type"], named)
        default = field.get("default", _NO_DEFAULT)
        columns.append(Column(name, field["name"], kind, precision, scale, default))
    return columns


def _collect_named(avro_type: Any, named: dict[str, Any]) -> None:
    """Add the named types defined in ``avro_type`` to ``named``, by unqualified name."""
    if isinstance(avro_type, list):
        for branch in avro_type:
            _collect_named(branch, named)
    elif isinstance(avro_type, dict):
        if avro_type.get("type") in ("record", "enum", "fixed") and "name" in avro_type:
            named.setdefault(str(avro_type["name"]).rsplit(".", 1)[-1], avro_type)
        for field in avro_type.get("fields", []):
            _collect_named(field.get("type"), named)
        for key in ("items", "values"):
            if key in avro_type:
                _collect_named(avro_type[key], named)


def _kind(avro_type: Any, named: dict[str, Any]) -> tuple[str, int, int]:
    """(kind, precision, scale) of a field type; nullable unions unwrap to T."""
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        if len(branches) == 1:
            return _kind(branches[0], named)
        return ("json", 0, 0)
    if isinstance(avro_type, str):
        # A reference (short or full name) to a named type defined earlier.
        definition = named.get(avro_type.rsplit(".", 1)[-1])
        if avro_type not in _PRIMITIVE and definition is not None:
            return _kind(definition, named)
        return (_PRIMITIVE.get(avro_type, "json"), 0, 0)
    if isinstance(avro_type, dict):
        return _kind_of_definition(avro_type)
    return ("json", 0, 0)


def _kind_of_definition(avro_type: dict[str, Any]) -> tuple[str, int, int]:
    """(kind, precision, scale) of a type written as an object: logical, named or plain."""
    logical = avro_type.get("logicalType")
    base = avro_type.get("type")
    if logical is not None and valid_logical(avro_type):
        if logical == "decimal":
            return ("decimal", avro_type["precision"], avro_type.get("scale", 0))
        return (_LOGICAL[logical], 0, 0)
    if base in _NAMED_KINDS:
        return (_NAMED_KINDS[base], 0, 0)
    if isinstance(base, str) and base in _PRIMITIVE:
        return (_PRIMITIVE[base], 0, 0)
    return ("json", 0, 0)


_NAMED_KINDS = {"enum": "string", "fixed": "bytes"}  # records are JSON text


_PRIMITIVE = {
    "boolean": "boolean",
    "int": "int",
    "long": "long",
    "float": "float",
    "double": "double",
    "string": "string",
    "bytes": "bytes",
    "null": "json",
}

# logicalType -> kind (``playlog.avro.logical`` says which base types are valid)
_LOGICAL = {
    "date": "date",
    "time-millis": "time",
    "time-micros": "time",
    "timestamp-millis": "timestamp",
    "timestamp-micros": "timestamp",
    "timestamp-nanos": "timestamp_ns",
    "local-timestamp-millis": "local_timestamp",
    "local-timestamp-micros": "local_timestamp",
    "local-timestamp-nanos": "local_timestamp_ns",
    "uuid": "uuid",
    "duration": "duration",
}
