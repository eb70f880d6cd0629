"""Random schemas of every columnar shape, nested up to three deep, with random data:
the columnar path takes them all and writes exactly what the row path writes."""

from __future__ import annotations

import json
import random
import struct
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from tests.support.columnar import assert_same_tables, transformed, watch_groups

from playlog.avro.schema import EventSchema
from playlog.process import columnar

LEAVES = ["boolean", "int", "long", "float", "double", "string", "bytes"]
LOGICAL = [("int", "date"), ("long", "timestamp-millis"), ("long", "timestamp-micros"),
           ("long", "local-timestamp-millis"), ("long", "local-timestamp-micros")]  # fmt: skip
TEXTS = ["", "a", "plain text", 'q"uote', "back\\slash", "é", "✓😀", "\x00\x1f\x7f", "k, v: 1"]


class Schemas:
    """Avro types and values for them (names numbered, so each is defined once)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names = count()

    def avro_type(self, depth: int) -> Any:
        kinds = ["leaf", "logical", "enum", "fixed", "nullable"]
        kinds += ["record", "array", "map"] * (depth < 3)
        kind = self.rng.choice(kinds)
        if kind == "leaf":
            return self.rng.choice(LEAVES)
        if kind == "logical":
            base, logical = self.rng.choice(LOGICAL)
            return {"type": base, "logicalType": logical}
        if kind in ("enum", "fixed", "record"):
            return self.named(kind, depth)
        if kind == "nullable":
            inner = self.avro_type(depth)
            while isinstance(inner, list):
                inner = self.avro_type(depth)
            return self.rng.choice([["null", inner], [inner, "null"]])
        key = "items" if kind == "array" else "values"
        return {"type": kind, key: self.avro_type(depth + 1)}

    def named(self, kind: str, depth: int) -> dict[str, Any]:
        name = f"n{next(self.names)}"
        if kind == "enum":
            return {"type": "enum", "name": name, "symbols": ["A", "B_2", "c"]}
        if kind == "fixed":
            return {"type": "fixed", "name": name, "size": self.rng.randrange(1, 5)}
        fields = [{"name": f"f{i}", "type": self.avro_type(depth + 1)}
                  for i in range(self.rng.randrange(0, 4))]  # fmt: skip
        return {"type": "record", "name": name, "fields": fields}

    def value(self, avro_type: Any) -> Any:
        rng = self.rng
        if isinstance(avro_type, list):
            inner = next(t for t in avro_type if t != "null")
            return None if rng.random() < 0.3 else self.value(inner)
        if isinstance(avro_type, str):
            return self.leaf(avro_type)
        kind = avro_type["type"]
        if "logicalType" in avro_type:
            return self.logical(avro_type["logicalType"])
        if kind == "enum":
            return rng.choice(avro_type["symbols"])
        if kind == "fixed":
            return rng.randbytes(avro_type["size"])
        if kind == "record":
            return {f["name"]: self.value(f["type"]) for f in avro_type["fields"]}
        if kind == "array":
            return [self.value(avro_type["items"]) for _ in range(rng.randrange(4))]
        return {rng.choice(TEXTS): self.value(avro_type["values"]) for _ in range(rng.randrange(4))}

    def leaf(self, kind: str) -> Any:
        rng = self.rng
        makers: dict[str, Any] = {
            "boolean": lambda: rng.random() < 0.5,
            "int": lambda: rng.randrange(-(2**31), 2**31),
            "long": lambda: rng.randrange(-(2**63), 2**63),
            "float": lambda: struct.unpack("<f", rng.randbytes(4))[0],
            "double": lambda: rng.choice([0.0, 1e16, rng.uniform(-1e3, 1e3), _random_double(rng)]),
            "string": lambda: rng.choice(TEXTS),
            "bytes": lambda: rng.randbytes(rng.randrange(5)),
        }
        value = makers[kind]()
        if isinstance(value, float) and value != value:  # NaN: never equal to itself
            return 0.5
        return value

    def logical(self, logical: str) -> int:
        if logical == "date":
            return self.rng.randrange(-719_162, 2_932_896)  # years 1 to 9999
        millis = self.rng.randrange(-62_135_596_800_000, 253_402_300_800_000)
        return millis * 1000 if logical.endswith("micros") else millis


def _random_double(rng: random.Random) -> float:
    value: float = struct.unpack("<d", rng.randbytes(8))[0]
    return value


@pytest.mark.parametrize("seed", range(60))
def test_random_schemas_are_columnar_and_equal_the_row_path(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = Schemas(random.Random(seed))
    fields = [{"name": "id", "type": "long"}]
    fields += [{"name": f"c{i}", "type": schemas.avro_type(1)} for i in range(4)]
    raw = {"type": "record", "name": "shaped", "fields": fields}
    rows = [{f["name"]: schemas.value(f["type"]) for f in fields} for _ in range(30)]
    for i, row in enumerate(rows):
        row["id"] = i
    version = EventSchema("g", "shaped", 1, "0", json.dumps(raw))
    assert columnar.fast_path_fits(version, version)
    outcomes = watch_groups(monkeypatch)
    fast = transformed(tmp_path / "fast", raw, rows, fast=True)
    assert outcomes == ["columnar"]
    assert_same_tables(fast, transformed(tmp_path / "rows", raw, rows, fast=False))
