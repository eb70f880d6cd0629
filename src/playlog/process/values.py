"""Values as fastavro decodes them -> a batch file's column of one kind (the row path).

    column_array([UUID("..."), None], Column("id", "id", "uuid"))  # a string array

fastavro hands back Python objects per logical type (``uuid.UUID``, ``Decimal``,
``datetime``...); most convert to their Arrow type as they are, these do not:
uuids become their canonical text (on a string or a fixed), a duration its JSON
object, a decimal wider than Arrow's decimal128 its exact text, and nested values
(records, arrays, maps, unions) JSON text.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa

from playlog.avro.types import DECIMAL128_DIGITS, Column


def column_array(values: list[Any], column: Column) -> pa.Array:
    convert = _converter(column)
    if convert is not None:
        values = [None if v is None else convert(v) for v in values]
    return pa.array(values, type=column.arrow_type)


def _converter(column: Column) -> Callable[[Any], Any] | None:
    if column.kind == "decimal" and column.precision > DECIMAL128_DIGITS:
        return decimal_text
    return _CONVERTERS.get(column.kind)


def decimal_text(value: Decimal) -> str:
    """Plain notation, every digit of the scale: ``Decimal("1E-10")`` -> "0.0000000001"."""
    return format(value, "f")


def uuid_text(value: uuid.UUID | bytes | str) -> str:
    """The canonical (lower-case, hyphenated) text of a uuid on a string or a fixed."""
    if isinstance(value, bytes):
        return str(uuid.UUID(bytes=value))
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def duration_json(value: bytes) -> str:
    """Avro's duration (three little-endian unsigned ints) as a JSON object."""
    months, days, millis = (int.from_bytes(value[i : i + 4], "little") for i in (0, 4, 8))
    return json.dumps({"months": months, "days": days, "milliseconds": millis})


def nested_json(value: Any) -> str:
    return json.dumps(value, default=json_default)


def json_default(value: Any) -> Any:
    """What ``json.dumps`` cannot write by itself (the row path's and the columnar's)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "uuid": uuid_text,
    "duration": duration_json,
    "json": nested_json,
}
