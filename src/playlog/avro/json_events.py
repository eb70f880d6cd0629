"""JSON events -> Avro datums, as strictly as the Avro encoding itself.

JSON has no bytes, timestamps or tagged unions, so the conventions are: a union takes
the bare value (the first branch it fits), bytes and fixed are base64, timestamps are
epoch integers in the schema's unit or RFC 3339 strings, dates are ISO strings or
days since the epoch, times integers in their unit or "HH:MM:SS[.ffffff]", decimals
(on bytes or fixed) numbers or strings, uuids (on string or fixed) their text; a
duration ``{"months", "days", "milliseconds"}`` (``json_logical``). Unknown fields
are refused.

Whatever passes here encodes, and decodes back (fastavro, then Arrow) without error:
timestamps and dates must fall in the years 1 to 9999 (UTC), times within one day,
numbers within their type, text must be encodable as UTF-8. A value that would fail
later is refused now, naming the event and the field.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import struct
import sys
from collections.abc import Callable
from typing import Any, cast

from fastavro import schemaless_writer
from fastavro.validation import ValidationError, validate

from playlog.avro.depth import DEFAULT_DEPTH, Walker, json_depth, plan_for
from playlog.avro.json_logical import Mismatch as _Mismatch
from playlog.avro.json_logical import (
    decimal_datum,
    duration_datum,
    nanos_datum,
    time_datum,
    uuid_datum,
)
from playlog.avro.json_logical import show as _show
from playlog.errors import InvalidPayload

# fullname -> definition of the named types seen so far
Named = dict[str, Any] | None


def to_datum(value: Any, schema: Any, path: str, named: dict[str, Any] | None = None) -> Any:
    """Convert JSON ``value`` to what fastavro expects for (parsed) ``schema``.

    ``named``: fullname -> definition, for references to named types defined earlier
    in the schema (fastavro keeps them as ``__named_schemas`` of the parsed schema).
    """
    if isinstance(schema, list):
        for branch in schema:
            try:
                return to_datum(value, branch, path, named)
            except _Mismatch:
                continue
        raise _Mismatch(f"{path}: {_show(value)} matches no branch of union")
    if isinstance(schema, str):
        if named and schema in named:
            return to_datum(value, named[schema], path, named)
        return _primitive(value, schema, path)
    logical = _LOGICAL_FORMS.get(schema.get("logicalType"))  # on fixed types too
    if logical is not None:
        return logical(value, schema, path)
    convert = _COMPLEX.get(schema["type"])
    if convert is not None:
        return convert(value, schema, path, named)
    return _logical(value, schema, path)


def _array(value: Any, schema: dict[str, Any], path: str, named: Named) -> list[Any]:
    if not isinstance(value, list):
        raise _Mismatch(f"{path}: expected an array")
    return [to_datum(v, schema["items"], f"{path}[{i}]", named) for i, v in enumerate(value)]


def _map(value: Any, schema: dict[str, Any], path: str, named: Named) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Mismatch(f"{path}: expected an object (map)")
    return {
        _text(k, path): to_datum(v, schema["values"], f"{path}.{k}", named)
        for k, v in value.items()
    }


def _enum(value: Any, schema: dict[str, Any], path: str, named: Named) -> Any:
    if value not in schema["symbols"]:
        raise _Mismatch(f"{path}: {_show(value)} is not one of {schema['symbols']}")
    return value


def _fixed(value: Any, schema: dict[str, Any], path: str, named: Named) -> bytes:
    raw = _base64(value, path)
    if len(raw) != schema["size"]:
        raise _Mismatch(f"{path}: fixed needs {schema['size']} bytes, got {len(raw)}")
    return raw


def _logical(value: Any, schema: dict[str, Any], path: str) -> Any:
    """A primitive, or a logical type's documented JSON forms of it."""
    kind, logical = schema["type"], schema.get("logicalType")
    if logical in _EPOCH_RANGE and kind == _EPOCH_RANGE[logical][0]:
        return _epoch(value, logical, path)
    return _primitive(value, kind, path)


def _record(
    value: Any, schema: dict[str, Any], path: str, named: dict[str, Any] | None
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Mismatch(f"{path or 'data'}: expected an object")
    names = {f["name"] for f in schema["fields"]}
    unknown = sorted(set(value) - names)
    if unknown:
        raise _Mismatch(f"{path or 'data'}: unknown field(s) {unknown}")
    out: dict[str, Any] = {}
    for field in schema["fields"]:
        name = field["name"]
        sub = f"{path}.{name}" if path else name
        if name in value:
            out[name] = to_datum(value[name], field["type"], sub, named)
        elif "default" in field:
            out[name] = _default(field["default"], field["type"])
        else:
            raise _Mismatch(f"{sub}: missing (the field has no default)")
    return out


def _default(value: Any, schema: Any) -> Any:
    """An Avro JSON default as a datum (a union's default belongs to its first branch)."""
    if isinstance(schema, list):
        schema = schema[0]
    kind = schema["type"] if isinstance(schema, dict) else schema
    if kind in ("bytes", "fixed") and isinstance(value, str):
        return value.encode("latin-1")  # Avro JSON writes bytes as code points 0-255
    return value


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "int": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
}


def _primitive(value: Any, kind: str, path: str) -> Any:
    if kind == "bytes":
        return _base64(value, path)
    expected = _PYTHON_TYPES.get(kind)
    if expected is None:
        raise _Mismatch(f"{path}: unsupported type {kind}")
    if isinstance(value, bool) and kind != "boolean":
        raise _Mismatch(f"{path}: expected {kind}, got a boolean")
    if not isinstance(value, expected):
        raise _Mismatch(f"{path}: expected {kind}, got {type(value).__name__} {_show(value)}")
    if kind == "string":
        return _text(cast(str, value), path)
    return _number(cast(int, value), kind, path)


def _number(number: int | float, kind: str, path: str) -> Any:
    """Refuse numbers the Avro type cannot hold."""
    value = number
    if kind == "int" and not -(2**31) <= number < 2**31:
        raise _Mismatch(f"{path}: {_show(value)} does not fit an Avro int")
    if kind == "long" and not -(2**63) <= number < 2**63:
        raise _Mismatch(f"{path}: {_show(value)} does not fit an Avro long")
    if kind in ("float", "double"):
        try:  # where fastavro would raise, or silently write a finite float as infinity
            as_float = float(number)
            if kind == "float":
                struct.pack("<f", as_float)
        except OverflowError as exc:
            raise _Mismatch(f"{path}: {_show(value)} does not fit an Avro {kind}") from exc
    return value


def _text(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate such as "\\ud800"
        raise _Mismatch(f"{path}: text is not valid Unicode ({exc.reason})") from exc
    return value


def _base64(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise _Mismatch(f"{path}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Mismatch(f"{path}: not valid base64") from exc


# logicalType -> (Avro base type, kind, units per second; dates: 1, they count days).
# Timestamps and dates must decode to the years 1..9999 (UTC): Python's and so
# fastavro's range, within Arrow's (which the processor converts them to); times to
# a time of day.
_EPOCH_RANGE: dict[str, tuple[str, str, int]] = {
    "timestamp-millis": ("long", "timestamp", 1_000),
    "timestamp-micros": ("long", "timestamp", 1_000_000),
    "local-timestamp-millis": ("long", "local", 1_000),
    "local-timestamp-micros": ("long", "local", 1_000_000),
    "date": ("int", "date", 1),
    "time-millis": ("int", "time", 1_000),
    "time-micros": ("long", "time", 1_000_000),
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIRST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
_LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)
_SECONDS_FIRST = (_FIRST - _EPOCH) // dt.timedelta(seconds=1)
_SECONDS_AFTER_LAST = (_LAST - _EPOCH) // dt.timedelta(seconds=1) + 1
_DAYS_FIRST = (_FIRST - _EPOCH).days
_DAYS_LAST = (_LAST - _EPOCH).days


def _epoch(value: Any, logical: str, path: str) -> Any:
    """A timestamp, date or time: an integer in the schema's unit, or text."""
    base, kind, per = _EPOCH_RANGE[logical]
    if isinstance(value, str):
        if kind == "timestamp" or kind == "local":
            return _timestamp(value, path, local=kind == "local")
        if kind == "date":
            try:
                return dt.date.fromisoformat(value)
            except ValueError as exc:
                raise _Mismatch(f"{path}: {_show(value)} is not an ISO date") from exc
        if kind == "time":
            return time_datum(value, path)
    number = _primitive(value, base, path)
    if kind == "date":
        low, high = _DAYS_FIRST, _DAYS_LAST + 1
        unit = "days"
    elif kind == "time":
        low, high = 0, 86_400 * per
        unit = "millis" if per == 1_000 else "micros"
    else:
        low, high = _SECONDS_FIRST * per, _SECONDS_AFTER_LAST * per
        unit = "millis" if per == 1_000 else "micros"
    if not low <= number < high:
        within = "one day" if kind == "time" else "the years 1 to 9999"
        raise _Mismatch(f"{path}: {number} {unit} is outside {within}")
    return number


def _timestamp(value: str, path: str, local: bool) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Mismatch(f"{path}: {_show(value)} is not an RFC 3339 timestamp") from exc
    if local:
        return moment.replace(tzinfo=None)
    if moment.tzinfo is None:
        raise _Mismatch(f"{path}: timestamp {_show(value)} needs a UTC offset (e.g. Z)")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is in the year 0 in UTC
        raise _Mismatch(f"{path}: {_show(value)} is outside the years 1 to 9999 in UTC") from exc


def encode(data: Any, parsed_schema: Any, where: str, max_depth: int = DEFAULT_DEPTH) -> bytes:
    """The Avro binary datum of JSON ``data``; InvalidPayload naming ``where`` and the
    field, TooDeep when it nests past ``max_depth`` levels."""
    # The items are in memory already, as JSON: no claimed count to bound.
    walker = Walker(max_depth, empty_items=sys.maxsize)
    if json_depth(data, max_depth) > max_depth:  # before any recursion over it
        raise _at(walker.too_deep(), where)
    try:
        named = parsed_schema.get("__named_schemas") if isinstance(parsed_schema, dict) else None
        datum = to_datum(data, parsed_schema, "", named)
        validate(datum, parsed_schema, raise_errors=True)
    except (_Mismatch, ValidationError) as exc:
        raise InvalidPayload(f"{where}: {exc}") from exc
    except RecursionError as exc:
        raise InvalidPayload(f"{where}: data nested too deeply") from exc
    out = io.BytesIO()
    try:
        schemaless_writer(out, parsed_schema, datum)
    except (ValueError, ArithmeticError, TypeError, RecursionError) as exc:
        # The checks above should leave nothing for fastavro to refuse; if they
        # missed a case, it is still the client's data and still a 422.
        raise InvalidPayload(f"{where}: {str(exc) or type(exc).__name__}") from exc
    datum = out.getvalue()
    plan = plan_for(parsed_schema)
    if plan.needs_walk(max_depth):  # unions nest without nesting the JSON
        try:
            walker.skip(datum, 0, plan)
        except InvalidPayload as exc:
            raise _at(exc, where) from None
    return datum


def _at(exc: InvalidPayload, where: str) -> InvalidPayload:
    return type(exc)(f"{where}: {exc.message}", **exc.details)


_COMPLEX: dict[str, Callable[[Any, dict[str, Any], str, Named], Any]] = {
    "record": _record,
    "array": _array,
    "map": _map,
    "enum": _enum,
    "fixed": _fixed,
}

# logical types whose JSON form differs from their base type's (fixed ones included)
_LOGICAL_FORMS: dict[Any, Callable[[Any, dict[str, Any], str], Any]] = {
    "decimal": decimal_datum,
    "uuid": uuid_datum,
    "duration": lambda value, schema, path: duration_datum(value, path),
    "timestamp-nanos": lambda value, schema, path: nanos_datum(value, path, local=False),
    "local-timestamp-nanos": lambda value, schema, path: nanos_datum(value, path, local=True),
}
