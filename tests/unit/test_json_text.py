"""Nested values as JSON text: Arrow kernels must spell every value as json.dumps."""

from __future__ import annotations

import json
import random
import struct

import pyarrow as pa
import pytest

from playlog.process.decoder_schema import Shape
from playlog.process.json_text import to_json_text


def _floats(rng: random.Random) -> list[float | None]:
    edge = [0.0, -0.0, 1.0, -1.0, 0.1, 1e15, 1e16, 1e17, 2.0**53, 1e-4, 1e-5, 9.99e-5,
            9999999999999998.0, 999999999999999.9, 5e-324, 1.7976931348623157e308,
            float("nan"), float("inf"), -float("inf"), None]  # fmt: skip
    spread = [rng.uniform(-1, 1) * 10 ** rng.randrange(-30, 30) for _ in range(20_000)]
    prices = [rng.randrange(-(10**6), 10**6) / 100 for _ in range(5_000)]
    wholes = [float(rng.randrange(-(10**17), 10**17)) for _ in range(5_000)]
    bits = [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(20_000)]
    return edge + spread + prices + wholes + bits


@pytest.mark.parametrize("kind", ["double", "float"])
def test_numbers_are_spelled_as_python_spells_them(kind: str) -> None:
    values = _floats(random.Random(kind))
    if kind == "float":  # what a float field holds: the nearest binary32
        values = [None if v is None else struct.unpack("<f", struct.pack("<f", v))[0]
                  for v in values if v is None or abs(v) < 3e38]  # fmt: skip
    array = pa.array(values, pa.float32() if kind == "float" else pa.float64())
    shape = Shape("array", (("", Shape(kind)),))
    texts = to_json_text(pa.array([values], pa.large_list(array.type)), shape).to_pylist()
    assert texts == [json.dumps(values)]


def test_strings_are_escaped_as_python_escapes_them() -> None:
    chars = ["a", " ", '"', "\\", "\n", "\x00", "\x1f", "\x7f", "é", "✓", "😀", "\u2028", "/"]
    rng = random.Random(2)
    values = ["".join(rng.choices(chars, k=rng.randrange(6))) for _ in range(2_000)]
    shape = Shape("map", (("", Shape("string")),))
    maps = [[{"key": v, "value": v}] for v in values]
    array = pa.array(maps, pa.large_list(pa.struct([("key", pa.string()), ("value", pa.string())])))
    texts = to_json_text(array, shape).to_pylist()
    assert texts == [json.dumps({v: v}) for v in values]
