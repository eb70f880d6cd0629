"""Field defaults checked against their types, before a schema is registered.

A default is used when an event written with an older version lacks the field (Avro
resolution) and as the column's SQL default for rows loaded before the column existed.
One its type cannot hold would be accepted today and fail much later, far from its
cause: an ``int`` default of 2**70 makes every older event undecodable, a timestamp
default beyond year 9999 no column can store. So registration refuses it, naming the
field.

Defaults are JSON (the Avro spec's encoding): bytes and fixed as strings of code
points 0-255, a union's default may match any of its branches (Avro 1.12), logical
types must fit what every warehouse column holds (years 1 to 9999, a time within a
day).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

from playlog.errors import InvalidDefault

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = 3.4028234663852886e38

# Days from 1970-01-01 to 0001-01-01 and to 9999-12-31: every warehouse's date range.
_FIRST_DAY, _LAST_DAY = -719_162, 2_932_896
_SECONDS = (_FIRST_DAY * 86_400, (_LAST_DAY + 1) * 86_400 - 1)

# logicalType -> the range its underlying integer may take.
_LOGICAL_RANGES: dict[str, tuple[int, int]] = {
    "date": (_FIRST_DAY, _LAST_DAY),
    "time-millis": (0, 86_400_000 - 1),
    "time-micros": (0, 86_400_000_000 - 1),
    "timestamp-millis": (_SECONDS[0] * 1000, _SECONDS[1] * 1000 + 999),
    "timestamp-micros": (_SECONDS[0] * 1_000_000, _SECONDS[1] * 1_000_000 + 999_999),
    "local-timestamp-millis": (_SECONDS[0] * 1000, _SECONDS[1] * 1000 + 999),
    "local-timestamp-micros": (_SECONDS[0] * 1_000_000, _SECONDS[1] * 1_000_000 + 999_999),
}


def check_defaults(schema: dict[str, Any]) -> None:
    """Raise ``InvalidDefault`` naming the first field (``outer.inner`` for a nested
    record's) whose default its type cannot hold."""
    _check_record(schema, {}, prefix="")


def _check_record(schema: dict[str, Any], named: dict[str, Any], prefix: str) -> None:
    _remember(schema, named)
    for field in schema.get("fields", []):
        path = prefix + str(field.get("name"))
        field_type = field.get("type")
        _collect(field_type, named)
        if "default" in field and not _holds(field_type, field["default"], named):
            raise InvalidDefault(
                f"the default of field {path!r} ({field['default']!r:.80}) is not a value "
                f"of its type {_describe(field_type)}",
                field=path,
            )
        for record in _records_in(field_type, named):
            _check_record(record, named, prefix=path + ".")


def _holds(avro_type: Any, value: Any, named: dict[str, Any]) -> bool:
    """Whether the JSON ``value`` is a value of ``avro_type``."""
    if isinstance(avro_type, list):  # a union: any branch
        return any(_holds(branch, value, named) for branch in avro_type)
    if isinstance(avro_type, str):
        if avro_type in _PRIMITIVES:
            return _PRIMITIVES[avro_type](value)
        definition = named.get(avro_type) or named.get(avro_type.rsplit(".", 1)[-1])
        return definition is not None and _holds(definition, value, named)
    if not isinstance(avro_type, dict):
        return False
    complex_check = _COMPLEX.get(str(avro_type.get("type")))
    if complex_check is not None:
        return complex_check(avro_type, value, named)
    if not _holds(avro_type.get("type"), value, named):
        return False
    if avro_type.get("logicalType") == "uuid" and avro_type.get("type") == "string":
        return _is_uuid(value)
    bounds = _LOGICAL_RANGES.get(str(avro_type.get("logicalType")))
    return bounds is None or bounds[0] <= value <= bounds[1]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _holds_record(record: dict[str, Any], value: Any, named: dict[str, Any]) -> bool:
    return isinstance(value, dict) and all(
        _holds(f.get("type"), value[f["name"]], named) if f.get("name") in value
        else "default" in f
        for f in record.get("fields", [])
    )  # fmt: skip


def _holds_enum(enum: dict[str, Any], value: Any, named: dict[str, Any]) -> bool:
    return isinstance(value, str) and value in enum.get("symbols", [])


def _holds_fixed(fixed: dict[str, Any], value: Any, named: dict[str, Any]) -> bool:
    return _is_bytes(value) and len(value) == fixed.get("size")


def _holds_array(array: dict[str, Any], value: Any, named: dict[str, Any]) -> bool:
    items = array.get("items")
    return isinstance(value, list) and all(_holds(items, v, named) for v in value)


def _holds_map(map_: dict[str, Any], value: Any, named: dict[str, Any]) -> bool:
    values = map_.get("values")
    return isinstance(value, dict) and all(_holds(values, v, named) for v in value.values())


_COMPLEX: dict[str, Callable[[dict[str, Any], Any, dict[str, Any]], bool]] = {
    "record": _holds_record,
    "enum": _holds_enum,
    "fixed": _holds_fixed,
    "array": _holds_array,
    "map": _holds_map,
}


def _is_int(bounds: tuple[int, int]) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return type(value) is int and bounds[0] <= value <= bounds[1]

    return check


def _is_float(limit: float) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        return type(value) in (int, float) and math.isfinite(value) and abs(value) <= limit

    return check


def _is_bytes(value: Any) -> bool:
    return isinstance(value, str) and all(ord(c) < 256 for c in value)


_PRIMITIVES: dict[str, Callable[[Any], bool]] = {
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "int": _is_int(_INT32),
    "long": _is_int(_INT64),
    "float": _is_float(_FLOAT32_MAX),
    "double": _is_float(math.inf),
    "string": lambda value: isinstance(value, str),
    "bytes": _is_bytes,
}


def _remember(definition: dict[str, Any], named: dict[str, Any]) -> None:
    if "name" in definition:
        name = str(definition["name"])
        named[name] = definition
        named.setdefault(name.rsplit(".", 1)[-1], definition)


def _collect(avro_type: Any, named: dict[str, Any]) -> None:
    """Remember the named types ``avro_type`` defines (later fields may refer to them)."""
    if isinstance(avro_type, list):
        for branch in avro_type:
            _collect(branch, named)
    elif isinstance(avro_type, dict):
        if avro_type.get("type") in ("record", "enum", "fixed"):
            _remember(avro_type, named)
        for field in avro_type.get("fields", []):
            _collect(field.get("type"), named)
        for key in ("items", "values"):
            _collect(avro_type.get(key), named)


def _records_in(avro_type: Any, named: dict[str, Any]) -> list[dict[str, Any]]:
    """The record definitions (not references) directly inside a field's type."""
    if isinstance(avro_type, list):
        return [r for branch in avro_type for r in _records_in(branch, named)]
    if not isinstance(avro_type, dict):
        return []
    if avro_type.get("type") == "record":
        return [avro_type]
    return [r for key in ("items", "values") for r in _records_in(avro_type.get(key), named)]


def _describe(avro_type: Any) -> str:
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        base = avro_type.get("type")
        return f"{base} ({logical})" if logical else str(base)
    return str(avro_type)
