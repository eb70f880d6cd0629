"""Nested values (records, arrays, maps, unions) as JSON text columns.

The row path writes ``json.dumps(value, default=json_default)`` of the value fastavro
decoded. The columnar path must write the same text from the Arrow arrays polars
decoded, and fast: converting them to Python first (``to_pylist``) was measured
slower than the whole row path. So the text is assembled with Arrow kernels (records
and maps by element-wise concatenation, arrays by joining their items), and only
leaves whose text Arrow spells differently from Python are formatted by Python,
a whole column in one call where it can (floats: ``1.0`` not ``1``, ``1e-05`` not
``0.00001``; strings: ``\\u00e9`` escapes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from playlog.process.decoder_schema import Shape
from playlog.process.values import json_default

TEXT = pa.large_string()


class DuplicateKeys(Exception):
    """A map repeats a key: Python keeps the last value at the first key's place."""


def to_json_text(array: pa.Array, shape: Shape) -> pa.Array:
    """One JSON text per value, null where the value is null (as the row path)."""
    text = _encode(array, shape)
    return pc.if_else(array.is_null(), pa.scalar(None, TEXT), text).cast(pa.string())


def _encode(array: pa.Array, shape: Shape) -> pa.Array:
    """JSON text of every value, ``null`` for a null one (no nulls in the result)."""
    text = _ENCODERS.get(shape.kind, _python)(array, shape)
    if array.null_count:
        text = pc.if_else(array.is_null(), pa.scalar("null", TEXT), text)
    return text


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, TEXT)


def _python(array: pa.Array, shape: Shape) -> pa.Array:
    dumps = json.dumps
    return pa.array([dumps(v, default=json_default) for v in array.to_pylist()], TEXT)


def _numbers(array: pa.Array, shape: Shape) -> pa.Array:
    # Arrow writes the same shortest digits as Python's repr, spelled alike for plain
    # fixed-point numbers ("12.5") and, but for the ".0", for whole ones below 1e16;
    # Python spells the rest (1e-05, 1e+16, NaN): one json.dumps of their list, split
    # at ", " (which no number's text holds). A float is widened first, as fastavro.
    text = pc.cast(array.cast(pa.float64()), TEXT)
    fixed = _matches(text, r"^-?\d{1,16}\.\d+$")
    fixed = pc.and_(fixed, pc.invert(_matches(text, r"^-?0\.0000")))  # Python: 1e-05
    whole = _matches(text, r"^-?\d{1,16}$")
    text = pc.if_else(whole, pc.binary_join_element_wise(text, _text(".0"), _text("")), text)
    spelled_by_python = pc.and_(pc.invert(pc.or_(fixed, whole)), array.is_valid())
    return _patch(text, spelled_by_python, array, lambda v: json.dumps(v)[1:-1].split(", "))


def _matches(text: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(text, pattern), False)


def _patch(
    text: pa.Array, mask: pa.Array, array: pa.Array, spell: Callable[[list[Any]], list[str]]
) -> pa.Array:
    """``text`` with the values at ``mask`` spelled by Python instead."""
    if not pc.any(mask).as_py():
        return text
    values = pc.filter(array, mask).to_pylist()
    return pc.replace_with_mask(text, mask, pa.array(spell(values), TEXT))


def _integers(array: pa.Array, shape: Shape) -> pa.Array:
    return pc.cast(array, TEXT)


def _booleans(array: pa.Array, shape: Shape) -> pa.Array:
    return pc.if_else(array, pa.scalar("true", TEXT), pa.scalar("false", TEXT))


def _strings(array: pa.Array, shape: Shape) -> pa.Array:
    # Plain ASCII needs only quotes; Python escapes the rest (ensure_ascii=True).
    plain = pc.and_(
        pc.string_is_ascii(array), pc.invert(_matches(array, '[\\x00-\\x1f\\x7f"\\\\]'))
    )
    text = pc.binary_join_element_wise(_text('"'), array.cast(TEXT), _text('"'), _text(""))
    escaped = pc.and_(pc.invert(pc.fill_null(plain, True)), array.is_valid())
    return _patch(text, escaped, array, lambda v: [encode_basestring_ascii(s) for s in v])


def _enum(array: pa.Array, shape: Shape) -> pa.Array:
    symbols = pa.array([json.dumps(s) for s in shape.symbols], TEXT)
    return pc.take(symbols, array)


def _record(array: pa.Array, shape: Shape) -> pa.Array:
    pieces: list[Any] = []
    children = zip(array.flatten(), shape.children, strict=True)
    for index, (child, (name, child_shape)) in enumerate(children):
        pieces += [_text(("{" if index == 0 else ", ") + json.dumps(name) + ": ")]
        pieces += [_encode(child, child_shape)]
    if not pieces:
        return pa.array(["{}"] * len(array), TEXT)
    return pc.binary_join_element_wise(*pieces, _text("}"), _text(""))


def _items(array: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(the list array's items, offsets into them from 0)."""
    offsets = array.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return array.values.slice(start, end - start), pc.subtract(offsets, start)


def _joined(offsets: pa.Array, items: pa.Array, opening: str, closing: str) -> pa.Array:
    lists = pa.LargeListArray.from_arrays(offsets.cast(pa.int64()), items)
    joined = pc.binary_join(lists, _text(", "))
    return pc.binary_join_element_wise(_text(opening), joined, _text(closing), _text(""))


def _array(array: pa.Array, shape: Shape) -> pa.Array:
    items, offsets = _items(array)
    return _joined(offsets, _encode(items, shape.children[0][1]), "[", "]")


def _map(array: pa.Array, shape: Shape) -> pa.Array:
    entries, offsets = _items(array)
    keys, entry_values = entries.flatten()
    # "<row>\0<key>" is distinct per entry unless a map repeats a key (one hash
    # kernel; a group_by took a fifth of a map's decoding).
    rows = pa.array(np.repeat(np.arange(len(array)), np.diff(offsets.to_numpy())))
    entry = pc.binary_join_element_wise(pc.cast(rows, TEXT), keys.cast(TEXT), _text("\0"))
    if pc.count_distinct(entry).as_py() != len(keys):
        raise DuplicateKeys("a map repeats a key")
    values = _encode(entry_values, shape.children[0][1])
    pairs_text = pc.binary_join_element_wise(_strings(keys, shape), _text(": "), values, _text(""))
    return _joined(offsets, pairs_text, "{", "}")


_ENCODERS: dict[str, Callable[[pa.Array, Shape], pa.Array]] = {
    "record": _record,
    "array": _array,
    "map": _map,
    "enum": _enum,
    "boolean": _booleans,
    "int": _integers,
    "long": _integers,
    "float": _numbers,
    "double": _numbers,
    "string": _strings,
}
