"""Every schema shape through the columnar path and the row path gives identical
tables, and the shapes the README calls columnar really take the columnar path."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support.avro import ocf_of, zigzag
from tests.support.columnar import assert_same_tables, transformed, watch_groups

from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import OffsetRange
from playlog.log.base import Record
from playlog.process import columnar
from playlog.process.transform import _transform
from playlog.storage.local import LocalStore

TS = {"type": "long", "logicalType": "timestamp-millis"}
POS = {
    "type": "record",
    "name": "pos",
    "fields": [
        {"name": "x", "type": "double"},
        {"name": "y", "type": ["null", "float"], "default": None},
        {"name": "at", "type": TS},
        {"name": "tier", "type": {"type": "enum", "name": "tier", "symbols": ["lo", "hi"]}},
        {"name": "raw", "type": "bytes"},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    ],
}
TEXTS = ["", "plain", 'quote " and \\ slash', "é✓ 😀", "line\nbreak\t\x01", ", : []{}"]
# field name -> (Avro type, value maker); each is one shape of the README's table.
SHAPES: dict[str, tuple[Any, Any]] = {
    "string_default": ("string", lambda r: r.choice(TEXTS)),
    "nullable_string": (["null", "string"], lambda r: r.choice([None, *TEXTS])),
    "string_or_null": (["string", "null"], lambda r: r.choice([None, "x"])),
    "nullable_long": (["null", "long"], lambda r: r.choice([None, r.randrange(-(2**62), 2**62)])),
    "nullable_ts": (["null", TS], lambda r: r.choice([None, r.randrange(2**41)])),
    "record": (POS, lambda r: _pos(r)),
    "nullable_record": (["null", "pos"], lambda r: r.choice([None, _pos(r)])),
    "ints": ({"type": "array", "items": "int"}, lambda r: [r.randrange(-9, 9)] * r.randrange(3)),
    "texts": ({"type": "array", "items": "string"}, lambda r: r.sample(TEXTS, r.randrange(3))),
    "matrix": (
        {"type": "array", "items": {"type": "array", "items": ["null", "double"]}},
        lambda r: [[r.choice([None, 0.0, -1.5, 1e16, 1e-7, 3.0])] * 2] * r.randrange(3),
    ),
    "positions": ({"type": "array", "items": "pos"}, lambda r: [_pos(r)] * r.randrange(3)),
    "counts": (
        {"type": "map", "values": "long"},
        lambda r: {t: r.randrange(99) for t in r.sample(TEXTS, r.randrange(4))},
    ),
    "nested_map": (
        ["null", {"type": "map", "values": {"type": "map", "values": ["null", "boolean"]}}],
        lambda r: r.choice([None, {"a": {"b": r.choice([None, True, False])}, "c": {}}]),
    ),
    "floats": ({"type": "array", "items": "float"}, lambda r: [r.uniform(-1, 1), 0.1, 2.0]),
    "nullable_enum": (
        ["null", {"type": "enum", "name": "mode", "symbols": ["solo", "duo"]}],
        lambda r: r.choice([None, "solo", "duo"]),
    ),
}


def _pos(rng: random.Random) -> dict[str, Any]:
    return {
        "x": rng.choice([0.0, -0.0, 1.0, 1e16, 123.456, 1e-5, float("inf")]),
        "y": rng.choice([None, 0.1, 1e20]),
        "at": rng.randrange(2**41),
        "tier": rng.choice(["lo", "hi"]),
        "raw": rng.randbytes(rng.randrange(4)),
        "day": rng.randrange(-700_000, 2_900_000),
    }


def _schema(names: list[str]) -> dict[str, Any]:
    """``id``, ``record`` (which defines ``pos``; later shapes refer to it by name),
    then the shapes."""
    fields: list[dict[str, Any]] = [{"name": "id", "type": "long"}, {"name": "record", "type": POS}]
    for name in names:
        if name != "record":
            fields.append({"name": name, "type": SHAPES[name][0]})
        if name == "string_default":  # polars refused these
            fields[-1]["default"] = "EUR"
    return {"type": "record", "name": "shaped", "fields": fields}


def _rows(names: list[str], rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "record": _pos(rng), **{n: SHAPES[n][1](rng) for n in names}}
        for i in range(count)
    ]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_is_columnar_and_equals_the_row_path(
    tmp_path: Path, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _schema([shape])
    rows = _rows([shape], random.Random(shape), 60)
    outcomes = watch_groups(monkeypatch)
    fast = transformed(tmp_path / "fast", raw, rows, fast=True)
    assert outcomes == ["columnar"]
    assert_same_tables(fast, transformed(tmp_path / "rows", raw, rows, fast=False))


def test_all_shapes_in_one_schema_equal_the_row_path(tmp_path: Path) -> None:
    raw = _schema(sorted(SHAPES))
    rows = _rows(sorted(SHAPES), random.Random(7), 300)
    assert columnar.fast_path_fits(*[EventSchema("g", "s", 1, "0", json.dumps(raw))] * 2)
    fast = transformed(tmp_path / "fast", raw, rows, fast=True)
    assert fast.equals(transformed(tmp_path / "rows", raw, rows, fast=False))


@pytest.mark.parametrize(
    "avro_type",
    [
        ["int", "string"],  # a union of two types: no column-wise decoder
        {"type": "string", "logicalType": "uuid"},
        {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2},
        {"type": "array", "items": {"type": "int", "logicalType": "time-millis"}},
        {"type": "array", "items": ["null", "int", "string"]},
    ],
)
def test_shapes_without_an_exact_columnar_decoder_take_the_row_path(avro_type: Any) -> None:
    raw = {"type": "record", "name": "r", "fields": [{"name": "f", "type": avro_type}]}
    version = EventSchema("g", "r", 1, "0", json.dumps(raw))
    assert not columnar.fast_path_fits(version, version)


def test_a_recursive_type_takes_the_row_path() -> None:
    node = {
        "type": "record",
        "name": "node",
        "fields": [{"name": "v", "type": "int"}, {"name": "next", "type": ["null", "node"]}],
    }
    raw = {"type": "record", "name": "r", "fields": [{"name": "head", "type": node}]}
    version = EventSchema("g", "r", 1, "0", json.dumps(raw))
    assert not columnar.fast_path_fits(version, version)


def test_a_map_repeating_a_key_keeps_the_last_value_as_the_row_path(tmp_path: Path) -> None:
    """Avro maps may repeat a key (no writer built from a dict does): the row path's
    dict keeps the last value, so the columnar path must not write both."""
    raw = {"type": "record", "name": "m", "fields": [
        {"name": "id", "type": "long"}, {"name": "stats", "type": {"type": "map", "values": "long"}}
    ]}  # fmt: skip
    entry = zigzag(1) + b"a"
    datums = [zigzag(i) + zigzag(2) + entry + zigzag(i) + entry + zigzag(7) + zigzag(0)
              for i in range(3)]  # fmt: skip
    text = json.dumps(raw)
    version = EventSchema("g", "m", 1, fingerprint_of(text), text)
    headers = {"game": "g", "format": "ocf", "received_at_ms": "1700000000000"}
    batch = [Record("events", 0, 5, b"g", ocf_of(raw, datums), headers, 0)]
    tables = []
    for fast in (True, False):
        store = LocalStore(tmp_path / str(fast))
        result = _transform(OffsetRange("events", 0, 5, 5), batch, lambda g, f: version,
                            lambda g, e: version, store, fast=fast)  # fmt: skip
        (task,) = result.tasks
        tables.append(pq.read_table(io.BytesIO(store.get(task.key))))
    assert tables[0].column("stats").to_pylist() == ['{"a": 7}'] * 3
    assert tables[0].equals(tables[1])
