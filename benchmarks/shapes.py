"""Processor throughput per schema shape: the columnar path against the row path.

    python benchmarks/shapes.py [--events-per-record 500] [--records 70] [--repeat 3]

Builds data-topic records as ingest writes them (one OCF container of 500 events per
record, like one request) for each shape below, added to the ~190-byte events of
`playlog loadtest`, and runs the batch transform both engines run over them, Parquet
into a temporary folder: as the processor does (each container group column-wise
where its schema allows) and all row by row (the reference the columnar path must
equal). Files go to memory, not disk: this measures decoding and Parquet encoding,
not the disk. Every case runs once per round, in turn, so that a busy machine slows
them alike; prints events/s of each, the best of --repeat rounds after a warm-up one,
as a Markdown table.

The two "70 types" rows are the issue-10 benchmark: 70 event types, of which one in
seven has a `region` string field, once with a default and once without.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playlog.avro.ocf import walk
from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.cli.traffic import synthetic_events, synthetic_schema
from playlog.client.ocf import ocf_body
from playlog.contracts import OffsetRange
from playlog.log.base import Record
from playlog.process.columnar import fast_path_fits
from playlog.process.transform import _pinned, _transform

ROOT = Path(__file__).resolve().parent.parent
POS = {
    "type": "record",
    "name": "pos",
    "fields": [
        {"name": "x", "type": "double"},
        {"name": "y", "type": "double"},
        {"name": "zone", "type": "string"},
    ],
}
# shape -> (extra fields, value maker for them)
Extra = tuple[list[dict[str, Any]], Callable[[random.Random], dict[str, Any]]]
SHAPES: dict[str, Extra] = {
    "flat (loadtest event)": ([], lambda r: {}),
    "string default": (
        [{"name": "region", "type": "string", "default": "eu"}],
        lambda r: {"region": r.choice(["eu", "us"])},
    ),
    "nullable unions": (
        [
            {"name": "coupon", "type": ["null", "string"], "default": None},
            {"name": "combo", "type": ["null", "long"], "default": None},
        ],
        lambda r: {"coupon": r.choice([None, "WINTER"]), "combo": r.choice([None, 3])},
    ),
    "nested record": (
        [{"name": "pos", "type": POS}],
        lambda r: {"pos": {"x": r.random(), "y": r.random(), "zone": "a1"}},
    ),
    "array of strings": (
        [{"name": "tags", "type": {"type": "array", "items": "string"}}],
        lambda r: {"tags": r.sample(["pvp", "ranked", "duo", "night"], r.randrange(4))},
    ),
    "map of longs": (
        [{"name": "stats", "type": {"type": "map", "values": "long"}}],
        lambda r: {"stats": {k: r.randrange(1000) for k in ("hp", "xp", "gold")}},
    ),
    "union of two types": (
        [{"name": "reward", "type": ["long", "string"]}],
        lambda r: {"reward": r.choice([5, "skin"])},
    ),
}


def schema_with(index: int, extra: list[dict[str, Any]]) -> dict[str, Any]:
    raw = synthetic_schema(index)
    raw["fields"] = raw["fields"] + extra
    return raw


def build(
    schemas: list[dict[str, Any]], maker: Callable[[random.Random], dict[str, Any]], per: int
) -> tuple[list[Record], dict[str, EventSchema]]:
    """One record of ``per`` events per schema, and the registered versions by hash."""
    rng = random.Random(1)
    versions, records = {}, []
    for offset, raw in enumerate(schemas):
        text = json.dumps(raw)
        version = EventSchema("bench", raw["name"], 1, fingerprint_of(text), text)
        versions[version.fingerprint] = version
        events = [{**e, **maker(rng)} for e in synthetic_events(per, rng)]
        headers = {"game": "bench", "format": "ocf", "received_at_ms": "1764151200000"}
        records.append(Record("events", 0, offset, b"bench", ocf_body(raw, events), headers, 0))
    return records, versions


def transform_s(records: list[Record], versions: dict[str, EventSchema], fast: bool) -> float:
    """Seconds for one batch transform of ``records``."""
    by_type = {v.event_type: v for v in versions.values()}
    span = OffsetRange("events", 0, 0, len(records) - 1)
    sys.path.insert(0, str(ROOT))
    from tests.support.fakes import MemoryStore

    started = time.perf_counter()
    result = _transform(
        span, records, lambda g, f: versions[f],
        _pinned(lambda g, e: by_type[e]), MemoryStore(), fast=fast,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert not result.dead_letters
    assert result.events == sum(c.count for r in records for c in walk(r.value))
    return elapsed


def cases(records: int) -> dict[str, tuple[list[dict[str, Any]], Extra]]:
    """shape -> (one schema per record, its extra fields and their maker)."""
    out = {
        name: ([schema_with(i % 10, extra[0]) for i in range(records)], extra)
        for name, extra in SHAPES.items()
    }
    region = SHAPES["string default"]  # fastavro ignores the value where no field is
    for label, default in (("no defaults", False), ("1 in 7 with a string default", True)):
        field = {"name": "region", "type": "string", **({"default": "eu"} if default else {})}
        schemas = [schema_with(i, [field] if i % 7 == 0 else []) for i in range(70)]
        out[f"70 types, {label}"] = (schemas, region)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events-per-record", type=int, default=500)
    parser.add_argument("--records", type=int, default=70)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    built = {
        name: build(schemas, maker, args.events_per_record)
        for name, (schemas, (_, maker)) in cases(args.records).items()
    }
    best = {(name, fast): float("inf") for name in built for fast in (True, False)}
    # Round by round, every case in turn: a busy machine slows all of them alike.
    for round_ in range(args.repeat + 1):  # round 0 warms caches (parsed schemas) up
        for name, (records, versions) in built.items():
            for fast in (True, False):
                seconds = transform_s(records, versions, fast)
                if round_:
                    best[(name, fast)] = min(best[(name, fast)], seconds)
    print("| shape | path | processor events/s | row path events/s | ratio |")
    print("|---|---|---|---|---|")
    for name, (records, versions) in built.items():
        events = len(records) * args.events_per_record
        columnar = all(fast_path_fits(v, v) for v in versions.values())
        fast, rows = events / best[(name, True)], events / best[(name, False)]
        path = "columnar" if columnar else "row"
        print(f"| {name} | {path} | {fast:,.0f} | {rows:,.0f} | {fast / rows:.1f}x |")


if __name__ == "__main__":
    main()
