"""The columnar fast path must give exactly what Avro resolution row by row gives."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support.avro import ocf

from playlog.avro.ocf import walk
from playlog.avro.schema import EventSchema, fingerprint_of
from playlog.contracts import OffsetRange
from playlog.log.base import Record
from playlog.process import columnar, transform
from playlog.process.transform import _pinned, _transform
from playlog.storage.local import LocalStore

ENUM = {"type": "enum", "name": "tier", "symbols": ["bronze", "silver", "gold"]}
V1 = {
    "type": "record",
    "name": "match",
    "fields": [
        {"name": "Player", "type": "string"},
        {"name": "ok", "type": "boolean"},
        {"name": "kills", "type": "int"},
        {"name": "xp", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "score", "type": "double"},
        {"name": "blob", "type": "bytes"},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "tier", "type": ENUM},
        {"name": "maybe", "type": ["null", "int"], "default": None},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
# v2: promotions and added fields with defaults of several kinds.
V2 = json.loads(json.dumps(V1))
for f in V2["fields"]:
    if f["name"] == "kills":
        f["type"] = "long"
    if f["name"] == "ratio":
        f["type"] = "double"
V2["fields"] += [
    {"name": "region", "type": "string", "default": "eu"},
    {"name": "level", "type": "int", "default": 7},
    {"name": "flag", "type": "boolean", "default": True},
    {"name": "raw", "type": "bytes", "default": "\u00ffA"},
    {"name": "since", "type": {"type": "long", "logicalType": "timestamp-millis"}, "default": 5},
    {"name": "extra", "type": ["null", "double"], "default": None},
    {"name": "meta", "type": {"type": "map", "values": "int"}, "default": {"a": 1}},
]
OTHER = {
    "type": "record",
    "name": "login",
    "fields": [{"name": "who", "type": "string"}, {"name": "n", "type": "long"}],
}


def schema(raw: dict[str, Any], version: int, event_type: str) -> EventSchema:
    text = json.dumps(raw)
    return EventSchema("g", event_type, version, fingerprint_of(text), text)


SCHEMAS = [schema(V1, 1, "match"), schema(V2, 2, "match"), schema(OTHER, 1, "login")]


def lookup(game: str, fingerprint: str) -> EventSchema:
    return next(s for s in SCHEMAS if s.fingerprint == fingerprint)


def latest(game: str, event_type: str) -> EventSchema:
    return [s for s in SCHEMAS if s.event_type == event_type][-1]


def match_event(rng: random.Random, v2: bool) -> dict[str, Any]:
    event = {
        "Player": f"p{rng.randrange(100)}",
        "ok": rng.random() < 0.5,
        "kills": rng.randrange(-(2**31), 2**31),
        "xp": rng.randrange(-(2**62), 2**62),
        "ratio": rng.uniform(-1, 1),
        "score": rng.uniform(-1e9, 1e9),
        "blob": rng.randbytes(rng.randrange(0, 8)),
        "day": dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(2000)),
        "ts": rng.randrange(0, 2**41),
        "ts_us": rng.randrange(0, 2**50),
        "local": rng.randrange(0, 2**41),
        "tier": rng.choice(ENUM["symbols"]),
        "maybe": rng.choice([None, rng.randrange(100)]),
        "note": rng.choice([None, "", "é✓"]),
    }
    if v2:
        event.update(region="us", level=1, flag=False, raw=b"\x00", since=9, extra=None,
                     meta={"k": 2})  # fmt: skip
    return event


def records(rng: random.Random) -> list[Record]:
    out = []
    for offset in range(12):
        body = b"".join(
            [
                ocf(
                    V1,
                    [match_event(rng, False) for _ in range(rng.randrange(1, 40))],
                    "null",
                    sync_interval=300,
                ),
                ocf(
                    OTHER,
                    [{"who": "x", "n": offset}] * rng.randrange(1, 5),
                    "deflate",
                    sync_interval=300,
                ),
                ocf(V1, [match_event(rng, False) for _ in range(7)], "deflate", sync_interval=300),
            ]
        )
        if offset % 3 == 0:  # the v1 clients and the v2 clients send side by side
            body += ocf(
                V2,
                [match_event(rng, True) for _ in range(rng.randrange(1, 20))],
                "null",
                sync_interval=300,
            )
        headers = {"game": "g", "format": "ocf", "received_at_ms": str(1_700_000_000_000 + offset)}
        out.append(Record("events", 3, 100 + offset, b"g", body, headers, 0))
    return out


def run(tmp: Path, batch: list[Record], fast: bool) -> dict[str, Any]:
    store = LocalStore(tmp)
    span = OffsetRange("events", 3, 100, 111)
    result = _transform(span, batch, lookup, _pinned(latest), store, fast=fast)
    assert result.dead_letters == []
    return {t.key: (t, pq.read_table(io.BytesIO(store.get(t.key)))) for t in result.tasks}


def test_fast_path_equals_row_by_row_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = records(random.Random(3))
    used: list[int] = []
    original = columnar.SchemaGroup.to_arrow

    def counted(self: columnar.SchemaGroup) -> Any:
        table = original(self)  # raises FastPathFailed if it cannot
        used.append(1)
        return table

    monkeypatch.setattr(columnar.SchemaGroup, "to_arrow", counted)
    fast = run(tmp_path / "fast", batch, fast=True)
    # (v1, null) (v1, deflate) (login, deflate) (v2, null): v2's map field and
    # defaults included.
    assert len(used) == 4
    slow = run(tmp_path / "slow", batch, fast=False)
    assert fast.keys() == slow.keys() and len(fast) == 2
    for key, (task, table) in fast.items():
        slow_task, slow_table = slow[key]
        # Row order differs (grouped by writer schema); the contents must not.
        order = [("_event_id", "ascending")]
        assert table.sort_by(order).equals(slow_table.sort_by(order)), key
        assert (task.task_id, task.columns, task.rows) == (
            slow_task.task_id, slow_task.columns, slow_task.rows
        )  # fmt: skip
        assert (task.received_min_ms, task.received_max_ms) == (
            slow_task.received_min_ms, slow_task.received_max_ms
        )  # fmt: skip
    matches = fast["g/match/dt=2023-11-14/events-3-100-111.parquet"][1]
    assert matches.column("region").to_pylist().count("eu") > 0
    assert set(matches.column("meta").to_pylist()) == {'{"a": 1}', '{"k": 2}'}


def test_a_failing_fast_path_falls_back_to_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: columnar.SchemaGroup) -> Any:
        raise columnar.FastPathFailed("simulated")

    monkeypatch.setattr(columnar.SchemaGroup, "to_arrow", broken)
    batch = records(random.Random(4))
    store = LocalStore(tmp_path)
    result = transform.transform_range(OffsetRange("events", 3, 100, 111), batch, lookup,
                                       latest, store)  # fmt: skip
    expected = sum(c for r in batch for c in _counts(r.value))
    assert result.events == expected and sum(t.rows for t in result.tasks) == expected


def test_enum_change_and_nested_type_changes_take_the_exact_path() -> None:
    changed = json.loads(json.dumps(V1))
    changed["fields"][11]["type"] = {**ENUM, "symbols": ["bronze", "gold"], "default": "gold"}
    assert not columnar.fast_path_fits(SCHEMAS[0], schema(changed, 2, "match"))
    assert columnar.fast_path_fits(SCHEMAS[0], SCHEMAS[1])
    assert columnar.fast_path_fits(SCHEMAS[1], SCHEMAS[1])  # a map field: columnar
    # Resolution inside a nested type (a promotion in a record) is not a cast.
    inner = {"type": "record", "name": "in", "fields": [{"name": "a", "type": "int"}]}
    old = {"type": "record", "name": "n", "fields": [{"name": "r", "type": inner}]}
    new = json.loads(json.dumps(old))
    new["fields"][0]["type"]["fields"][0]["type"] = "long"
    assert not columnar.fast_path_fits(schema(old, 1, "n"), schema(new, 2, "n"))
    assert columnar.fast_path_fits(schema(old, 1, "n"), schema(old, 1, "n"))


def _counts(body: bytes) -> list[int]:
    return [c.count for c in walk(body)]


def test_a_value_no_column_can_hold_dead_letters_its_record_only(tmp_path: Path) -> None:
    """A timestamp of 2**62 ms is valid Avro (ingest checks framing only) but no
    timestamp column holds it: that record goes to the dead letters, the range goes on."""
    rng = random.Random(5)
    good = records(rng)[:3]
    bad_event = {**match_event(rng, False), "ts": 2**62}
    body = ocf(V1, [match_event(rng, False), bad_event], "null", sync_interval=300)
    headers = {"game": "g", "format": "ocf", "received_at_ms": "1700000000000"}
    bad = Record("events", 3, 103, b"g", body, headers, 0)
    span = OffsetRange("events", 3, 100, 103)
    result = transform.transform_range(span, [*good, bad], lookup, latest, LocalStore(tmp_path))
    assert [m.headers["source"] for m in result.dead_letters] == ["events/3/103"]
    assert result.events == sum(c for r in good for c in _counts(r.value))
    assert sum(t.rows for t in result.tasks) == result.events


SHOP = {
    "type": "record",
    "name": "purchase",
    "fields": [
        {"name": "item", "type": "string"},
        {"name": "currency", "type": "string", "default": "EUR"},  # polars refused these
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "price", "type": "double", "default": 0.5},
    ],
}


def test_string_defaults_stay_on_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defaults do not change how data written with that same schema decodes: the
    re-framed header drops them and the fast path takes such schemas (the README's own
    evolution rule leads to them)."""
    shop = schema(SHOP, 1, "purchase")
    header = columnar.reframe([(body := ocf(SHOP, [], "null"), walk(body)[0])], shop)
    assert b'"default"' not in header and b'"currency"' in header
    columnar_types, row_offsets = _watch(monkeypatch)
    rows = [{"item": f"i{i}", "currency": "USD", "note": None, "price": i / 4} for i in range(50)]
    headers = {"game": "g", "format": "ocf", "received_at_ms": "1700000000000"}
    batch = [Record("events", 0, 7, b"g", ocf(SHOP, rows, "deflate"), headers, 0)]
    span = OffsetRange("events", 0, 7, 7)
    tables = {}
    for fast in (True, False):
        store = LocalStore(tmp_path / str(fast))
        result = _transform(span, batch, lambda g, f: shop, lambda g, e: shop, store, fast=fast)
        (task,) = result.tasks
        tables[fast] = pq.read_table(io.BytesIO(store.get(task.key)))
    assert columnar_types == ["purchase"] and row_offsets == [7]  # the row run only
    assert tables[True].equals(tables[False])
    assert tables[True].column("currency").to_pylist() == ["USD"] * 50


def _watch(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[int]]:
    """(event types the columnar path decoded, offsets the row path decoded)."""
    columnar_types: list[str] = []
    row_offsets: list[int] = []
    to_arrow, decode = columnar.SchemaGroup.to_arrow, transform.decode_record

    def watched(self: columnar.SchemaGroup) -> Any:
        table = to_arrow(self)
        columnar_types.append(self.writer.event_type)
        return table

    def decoded(record: Record, *args: Any, **kwargs: Any) -> Any:
        row_offsets.append(record.offset)
        return decode(record, *args, **kwargs)

    monkeypatch.setattr(columnar.SchemaGroup, "to_arrow", watched)
    monkeypatch.setattr(transform, "decode_record", decoded)
    return columnar_types, row_offsets


def test_a_failing_group_takes_only_its_own_records_the_row_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spoiled match container fails the match group's decoder: that record is
    dead-lettered, the other records with match containers go the row way, and the
    records with logins only stay columnar."""
    columnar_types, row_offsets = _watch(monkeypatch)
    rng = random.Random(6)
    batch = []
    for offset in range(5):
        match = ocf(V1, [match_event(rng, False) for _ in range(3)], "deflate")
        if offset == 2:
            match = match[:-40] + b"\xff" * 24 + match[-16:]  # spoiled, framing intact
        body = ocf(OTHER, [{"who": "x", "n": offset}] * 4)
        if offset in (1, 2, 3):
            body += match
        headers = {"game": "g", "format": "ocf", "received_at_ms": "1700000000000"}
        batch.append(Record("events", 3, offset, b"g", body, headers, 0))
    span = OffsetRange("events", 3, 0, 4)
    result = transform.transform_range(span, batch, lookup, latest, LocalStore(tmp_path))
    assert [m.headers["source"] for m in result.dead_letters] == ["events/3/2"]
    assert columnar_types == ["login"] and row_offsets == [1, 2, 3]
    assert {t.event_type: t.rows for t in result.tasks} == {"login": 16, "match": 6}
    assert result.events == 22


def test_a_container_the_columnar_path_cannot_take_leaves_its_neighbours_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    columnar_types, row_offsets = _watch(monkeypatch)
    mixed = {"type": "record", "name": "odd", "fields": [{"name": "v", "type": ["int", "string"]}]}
    odd = schema(mixed, 1, "odd")
    SCHEMAS.append(odd)
    try:
        body = ocf(OTHER, [{"who": "a", "n": 1}] * 3) + ocf(mixed, [{"v": 1}, {"v": "b"}])
        headers = {"game": "g", "format": "ocf", "received_at_ms": "1700000000000"}
        batch = [Record("events", 3, 0, b"g", body, headers, 0)]
        store = LocalStore(tmp_path)
        result = transform.transform_range(OffsetRange("events", 3, 0, 0), batch, lookup,
                                           latest, store)  # fmt: skip
    finally:
        SCHEMAS.remove(odd)
    assert columnar_types == ["login"] and row_offsets == [0]
    tables = {t.event_type: pq.read_table(io.BytesIO(store.get(t.key))) for t in result.tasks}
    assert tables["odd"].column("v").to_pylist() == ["1", '"b"']
    assert tables["odd"].column("_event_id").to_pylist() == [
        transform.event_id(0, 3, 3), transform.event_id(0, 3, 4)
    ]  # fmt: skip
    assert tables["login"].column("_event_id").to_pylist() == [
        transform.event_id(0, 3, i) for i in range(3)
    ]
