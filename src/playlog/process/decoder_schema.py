"""The schema the columnar decoder reads a writer's data with, and the shape of each
nested field for turning it into JSON text.

polars decodes records, arrays and nullable unions, but refuses (measured with
polars 2.1) a string field with a default, maps, enums inside records and references
to named types. Each has a binary-identical stand-in, so the header handed to polars
is rewritten instead of the data:

- defaults are dropped: they never change how data written with that schema decodes;
- a map is an array of ``{key: string, value: V}`` records (the same bytes: blocks of
  count, then key and value per entry);
- an enum is its ``int`` index (the same zig-zag varint; polars panics on an enum
  inside a record or a union);
- a reference to a named type is an inlined copy under a fresh name.

Anything without an exact stand-in (unions of two types, recursive types, logical
types whose Python value the row path formats differently) raises ``NotColumnar``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from playlog.avro.logical import decodable_json

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "bytes"})
# Logical types whose Arrow value converts to the Python value fastavro gives.
LOGICAL = {
    "date": "int",
    "timestamp-millis": "long",
    "timestamp-micros": "long",
    "local-timestamp-millis": "long",
    "local-timestamp-micros": "long",
    "timestamp-nanos": "long",
    "local-timestamp-nanos": "long",
}


class NotColumnar(Exception):
    """This schema needs the row path."""


@dataclass(frozen=True)
class Shape:
    """How a nested value is laid out: record, array, map, enum, or a leaf's type."""

    kind: str
    children: tuple[tuple[str, Shape], ...] = ()  # record fields; array items; map values
    symbols: tuple[str, ...] = ()  # enum


@dataclass(frozen=True)
class Decoding:
    schema_json: str  # for the re-framed header
    shapes: dict[str, Shape] = field(default_factory=dict)  # top-level field -> shape


@lru_cache(maxsize=1024)
def decoding_of(schema_json: str) -> Decoding:
    """The decoder's schema for data written with ``schema_json`` (NotColumnar if none)."""
    raw = json.loads(decodable_json(schema_json))  # invalid logical types: the base type
    rewriter = _Rewriter()
    fields, shapes = [], {}
    for top in raw["fields"]:
        try:
            avro_type, shape = rewriter.visit(top["type"])
        except (KeyError, TypeError, AttributeError) as exc:  # a form not foreseen here
            raise NotColumnar(f"field {top['name']!r}: {exc!r}") from exc
        fields.append({"name": top["name"], "type": avro_type})
        shapes[top["name"]] = shape
    schema = {"type": "record", "name": raw["name"], "fields": fields}
    if "namespace" in raw:
        schema["namespace"] = raw["namespace"]
    return Decoding(json.dumps(schema), shapes)


class _Rewriter:
    def __init__(self) -> None:
        self.named: dict[str, dict[str, Any]] = {}  # name as written -> definition
        self.open: set[str] = set()  # records being visited (recursion guard)
        self.copies = 0

    def visit(self, node: Any) -> tuple[Any, Shape]:
        if isinstance(node, list):
            return self._union(node)
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node, Shape(node)
            return self._reference(node)
        if not isinstance(node, dict):
            raise NotColumnar(f"unknown type {node!r}")
        if "logicalType" in node:
            if LOGICAL.get(node["logicalType"]) != node["type"]:
                raise NotColumnar(f"logical type {node['logicalType']!r}")
            return {"type": node["type"], "logicalType": node["logicalType"]}, Shape("python")
        return self._complex(node)

    def _union(self, branches: list[Any]) -> tuple[Any, Shape]:
        others = [b for b in branches if b != "null"]
        if len(others) != 1 or len(branches) > 2:
            raise NotColumnar("a union of two or more types")
        avro_type, shape = self.visit(others[0])
        return [avro_type if b != "null" else "null" for b in branches], shape

    def _reference(self, name: str) -> tuple[Any, Shape]:
        short = name.rsplit(".", 1)[-1]
        definition = self.named.get(name) or self.named.get(short)
        if definition is None or {name, short} & self.open:
            raise NotColumnar(f"reference to {name!r} (undefined or recursive)")
        self.copies += 1
        self.open |= {name, short}
        copy = self.visit({**definition, "name": f"playlog_copy_{self.copies}"})
        self.open -= {name, short}
        return copy

    def _complex(self, node: dict[str, Any]) -> tuple[Any, Shape]:
        kind = node["type"]
        if kind in ("record", "enum", "fixed"):
            self.named.setdefault(node["name"], node)
            self.named.setdefault(str(node["name"]).rsplit(".", 1)[-1], node)
        if kind == "record":
            return self._record(node)
        if kind == "enum":
            # polars panics on an enum inside a record or a union: read the index.
            return "int", Shape("enum", symbols=tuple(node["symbols"]))
        if kind == "fixed":
            if node["size"] < 1:  # polars panics; the row path writes ""
                raise NotColumnar("a fixed of size 0")
            return {"type": "fixed", "name": node["name"], "size": node["size"]}, Shape("python")
        if kind == "array":
            items, shape = self.visit(node["items"])
            return {"type": "array", "items": items}, Shape("array", (("", shape),))
        if kind == "map":
            return self._map(node)
        if kind in PRIMITIVES:
            return kind, Shape(kind)
        raise NotColumnar(f"unknown type {kind!r}")

    def _record(self, node: dict[str, Any]) -> tuple[Any, Shape]:
        names = {node["name"], str(node["name"]).rsplit(".", 1)[-1]}
        self.open |= names
        fields, children = [], []
        for child in node["fields"]:
            avro_type, shape = self.visit(child["type"])
            fields.append({"name": child["name"], "type": avro_type})
            children.append((child["name"], shape))
        self.open -= names
        record = {"type": "record", "name": node["name"], "fields": fields}
        if "namespace" in node:
            record["namespace"] = node["namespace"]
        return record, Shape("record", tuple(children))

    def _map(self, node: dict[str, Any]) -> tuple[Any, Shape]:
        values, shape = self.visit(node["values"])
        self.copies += 1
        entry = {
            "type": "record",
            "name": f"playlog_entry_{self.copies}",
            "fields": [{"name": "key", "type": "string"}, {"name": "value", "type": values}],
        }
        return {"type": "array", "items": entry}, Shape("map", (("", shape),))
