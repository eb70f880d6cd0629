"""JSON events -> Avro datums, as strictly as the Avro encoding itself.

JSON has no bytes, timestamps or tagged unions, so the conventions are: a union takes
the bare value (the first branch it fits), bytes and fixed are base64, timestamps are
epoch integers in the schema's unit or RFC 3339 strings, dates are ISO strings or
days since the epoch, decimals are numbers or strings. Unknown fields are refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from fastavro import schemaless_writer
from fastavro.validation import ValidationError, validate

from playlog.errors import InvalidPayload


class _Mismatch(ValueError):
    pass


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
        raise _Mismatch(f"{path}: {value!r} matches no branch of union")
    if isinstance(schema, str):
        if named and schema in named:
            return to_datum(value, named[schema], path, named)
        return _primitive(value, schema, path)
    kind = schema["type"]
    logical = schema.get("logicalType")
    if kind == "record":
        return _record(value, schema, path, named)
    if kind == "array":
        if not isinstance(value, list):
            raise _Mismatch(f"{path}: expected an array")
        return [to_datum(v, schema["items"], f"{path}[{i}]", named) for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _Mismatch(f"{path}: expected an object (map)")
        return {k: to_datum(v, schema["values"], f"{path}.{k}", named) for k, v in value.items()}
    if kind == "enum":
        if value not in schema["symbols"]:
            raise _Mismatch(f"{path}: {value!r} is not one of {schema['symbols']}")
        return value
    if kind == "fixed":
        raw = _base64(value, path)
        if len(raw) != schema["size"]:
            raise _Mismatch(f"{path}: fixed needs {schema['size']} bytes, got {len(raw)}")
        return raw
    if (
        logical
        and logical.startswith(("timestamp-", "local-timestamp-"))
        and isinstance(value, str)
    ):
        return _timestamp(value, path, local=logical.startswith("local-"))
    if logical == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise _Mismatch(f"{path}: {value!r} is not an ISO date") from exc
    if (
        logical == "decimal"
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
    ):
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise _Mismatch(f"{path}: {value!r} is not a decimal") from exc
        return _check_decimal(number, schema, path)
    return _primitive(value, kind, path)


def _check_decimal(number: Decimal, schema: dict[str, Any], path: str) -> Decimal:
    """Refuse what fastavro would round, reject with a bare ValueError, or write
    beyond the precision (the DECIMAL(p,s) column could not load it)."""
    precision, scale = schema["precision"], schema.get("scale", 0)
    if not number.is_finite():
        raise _Mismatch(f"{path}: {number} is not a finite decimal")
    exponent = number.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > scale:
        raise _Mismatch(f"{path}: {number} has more than {scale} decimal places")
    if abs(number) >= Decimal(10) ** (precision - scale):
        raise _Mismatch(f"{path}: {number} does not fit decimal({precision},{scale})")
    return number


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
        raise _Mismatch(f"{path}: expected {kind}, got {type(value).__name__} {value!r}")
    number = cast(int, value)
    if kind == "int" and not -(2**31) <= number < 2**31:
        raise _Mismatch(f"{path}: {value} does not fit an Avro int")
    if kind == "long" and not -(2**63) <= number < 2**63:
        raise _Mismatch(f"{path}: {value} does not fit an Avro long")
    return value


def _base64(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise _Mismatch(f"{path}: expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Mismatch(f"{path}: not valid base64") from exc


def _timestamp(value: str, path: str, local: bool) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Mismatch(f"{path}: {value!r} is not an RFC 3339 timestamp") from exc
    if local:
        return moment.replace(tzinfo=None)
    if moment.tzinfo is None:
        raise _Mismatch(f"{path}: timestamp {value!r} needs a UTC offset (e.g. Z)")
    return moment


def encode(data: Any, parsed_schema: Any, where: str) -> bytes:
    """The Avro binary datum of JSON ``data``; InvalidPayload naming ``where`` and the field."""
    try:
        named = parsed_schema.get("__named_schemas") if isinstance(parsed_schema, dict) else None
        datum = to_datum(data, parsed_schema, "", named)
        validate(datum, parsed_schema, raise_errors=True)
    except (_Mismatch, ValidationError) as exc:
        raise InvalidPayload(f"{where}: {exc}") from exc
    out = io.BytesIO()
    schemaless_writer(out, parsed_schema, datum)
    return out.getvalue()
