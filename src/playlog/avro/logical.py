"""Invalid logical types are ignored, as the Avro spec says: the underlying type is used.

    valid_logical({"type": "bytes", "logicalType": "decimal"})  # False: no precision
    without_invalid_logical(schema)  # the schema with such annotations removed

"Language implementations must ignore unknown logical types when reading, and should
use the underlying Avro type. If a logical type is invalid, for example a decimal with
scale greater than its precision, then implementations should ignore the logical type
and use the underlying Avro type." Decoders disagree on invalid ones (fastavro fails
on a decimal without precision), so playlog removes them before any decoder sees a
schema; the fingerprint does not change (it ignores logical types).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

# logicalType -> the Avro types it may annotate
_BASES: dict[str, frozenset[str]] = {
    "decimal": frozenset({"bytes", "fixed"}),
    "uuid": frozenset({"string", "fixed"}),
    "date": frozenset({"int"}),
    "time-millis": frozenset({"int"}),
    "time-micros": frozenset({"long"}),
    "timestamp-millis": frozenset({"long"}),
    "timestamp-micros": frozenset({"long"}),
    "timestamp-nanos": frozenset({"long"}),
    "local-timestamp-millis": frozenset({"long"}),
    "local-timestamp-micros": frozenset({"long"}),
    "local-timestamp-nanos": frozenset({"long"}),
    "duration": frozenset({"fixed"}),
}
_FIXED_SIZE = {"uuid": 16, "duration": 12}


def valid_logical(node: dict[str, Any]) -> bool:
    """Whether ``node``'s logicalType is one playlog knows, on a type it may annotate,
    with valid attributes (decimal: 1 <= precision, 0 <= scale <= precision, and the
    precision fits a fixed's size)."""
    logical, base = node.get("logicalType"), node.get("type")
    if logical not in _BASES or base not in _BASES[logical]:
        return False
    if base == "fixed" and logical in _FIXED_SIZE:
        return node.get("size") == _FIXED_SIZE[logical]
    if logical == "decimal":
        return _valid_decimal(node)
    return True


def _valid_decimal(node: dict[str, Any]) -> bool:
    precision, scale, size = node.get("precision"), node.get("scale", 0), node.get("size")
    if not isinstance(precision, int) or not isinstance(scale, int):
        return False
    if not _whole(precision) or not _whole(scale) or not 0 <= scale <= precision >= 1:
        return False
    if node["type"] != "fixed":
        return True
    # the most digits ``size`` two's-complement bytes hold: floor(log10(2**(8n-1)-1))
    return isinstance(size, int) and precision <= len(str(2 ** (8 * size - 1) - 1)) - 1


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def without_invalid_logical(node: Any) -> Any:
    """``node`` (schema JSON) with every invalid or unknown logicalType removed."""
    if isinstance(node, list):
        return [without_invalid_logical(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: without_invalid_logical(value) for key, value in node.items()}
    if "logicalType" in out and not valid_logical(out):
        del out["logicalType"]
    return out


@lru_cache(maxsize=4096)
def decodable_json(schema_json: str) -> str:
    """The schema text as decoders get it: invalid logical types removed."""
    return json.dumps(without_invalid_logical(json.loads(schema_json)))
