"""The JSON text forms of Avro's logical types, as datums fastavro writes.

- decimal (on bytes or fixed): a JSON number or a string of one, within the
  precision and scale (never rounded);
- uuid (on a string or a 16-byte fixed): its text, ``"5f0c...-..."``, any case;
- duration: ``{"months": m, "days": d, "milliseconds": ms}``, each 0 to 2**32-1;
- time-millis/-micros: also ``"HH:MM:SS[.ffffff]"``;
- timestamp-nanos, local-timestamp-nanos: nanoseconds since the epoch, or RFC 3339
  text with up to nine fractional digits (the local one without an offset).
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
import uuid
from decimal import Context, Decimal, InvalidOperation
from typing import Any


class Mismatch(ValueError):
    """The JSON value does not fit the schema (the message names the field)."""


def show(value: Any) -> str:
    """A short repr for messages: a body may hold megabytes in one value."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def uuid_datum(value: Any, schema: dict[str, Any], path: str) -> str | bytes:
    if not isinstance(value, str):
        raise Mismatch(f"{path}: expected a uuid as text, got {show(value)}")
    try:
        parsed = uuid.UUID(value)
    except ValueError as exc:
        raise Mismatch(f"{path}: {show(value)} is not a uuid") from exc
    return parsed.bytes if schema["type"] == "fixed" else str(parsed)


_DURATION_PARTS = ("months", "days", "milliseconds")


def duration_datum(value: Any, path: str) -> bytes:
    if not isinstance(value, dict) or set(value) != set(_DURATION_PARTS):
        raise Mismatch(f"{path}: expected a duration {{'months', 'days', 'milliseconds'}}")
    out = b""
    for part in _DURATION_PARTS:
        number = value[part]
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 2**32:
            raise Mismatch(f"{path}.{part}: {show(number)} is not an integer 0 to 2**32-1")
        out += number.to_bytes(4, "little")
    return out


def time_datum(value: str, path: str) -> dt.time:
    try:
        moment = dt.time.fromisoformat(value)
    except ValueError as exc:
        raise Mismatch(f"{path}: {show(value)} is not a time of day (HH:MM:SS)") from exc
    if moment.tzinfo is not None:
        raise Mismatch(f"{path}: a time of day takes no UTC offset: {show(value)}")
    return moment


_FRACTION = re.compile(r"(\.\d+)(?=[Zz+-]|$)")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def nanos_datum(value: Any, path: str, local: bool) -> int:
    """Nanoseconds since the epoch (UTC, or wall time for local) of an int or text."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Mismatch(f"{path}: expected nanoseconds since the epoch or RFC 3339 text")
    if isinstance(value, int):
        nanos = value
    else:
        # datetime holds microseconds: parse without the fraction, then add it whole
        fraction = _FRACTION.search(value)
        digits = fraction.group(1)[1:] if fraction else ""
        text = _FRACTION.sub("", value, count=1)
        try:
            if len(digits) > 9:
                raise ValueError("more than nine fractional digits")
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise Mismatch(f"{path}: {show(value)} is not an RFC 3339 timestamp") from exc
        if (moment.tzinfo is None) != local:
            need = "no UTC offset" if local else "a UTC offset (e.g. Z)"
            raise Mismatch(f"{path}: timestamp {show(value)} needs {need}")
        seconds = (moment.replace(tzinfo=dt.UTC) if local else moment) - _EPOCH
        whole = seconds.days * 86_400 + seconds.seconds
        nanos = whole * 10**9 + int(digits.ljust(9, "0") or 0)
    if not -(2**63) <= nanos < 2**63:
        raise Mismatch(f"{path}: {show(value)} does not fit nanoseconds in an Avro long")
    return nanos


def decimal_datum(value: Any, schema: dict[str, Any], path: str) -> Decimal:
    """A decimal on bytes or fixed: a JSON number or a string of one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Mismatch(f"{path}: expected a decimal as a number or a string")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise Mismatch(f"{path}: {show(value)} is not a decimal") from exc
    return _check_decimal(number, schema, path)


def _check_decimal(number: Decimal, schema: dict[str, Any], path: str) -> Decimal:
    """Refuse what fastavro would round, reject with a bare ValueError, or write
    beyond the precision (the DECIMAL(p,s) column could not load it). Only
    context-free operations before the checks: ``1E+999999999`` must not overflow
    the decimal context, ``0E+999999999`` must not make fastavro compute 10**999999999."""
    precision, scale = schema["precision"], schema.get("scale", 0)
    if not number.is_finite():
        raise Mismatch(f"{path}: {number} is not a finite decimal")
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return Decimal((0, (0,), -scale))
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if -(exponent + trailing_zeros) > scale:
        raise Mismatch(f"{path}: {number} has more than {scale} decimal places")
    if number.adjusted() >= precision - scale:
        raise Mismatch(f"{path}: {number} does not fit decimal({precision},{scale})")
    # Exactly `scale` places (fastavro refuses fewer digits than the scale needs and
    # more digits than the precision, even when they are only trailing zeros).
    try:
        return number.quantize(Decimal((0, (1,), -scale)), context=Context(prec=precision))
    except ArithmeticError as exc:  # only with a schema whose scale exceeds its precision
        raise Mismatch(f"{path}: {number} does not fit decimal({precision},{scale})") from exc
