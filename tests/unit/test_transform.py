"""The batch transform: one offset range of the data topic -> one Parquet file per table.

Runs on the real embedded adapters (catalog, registry, DuckDB, local store) and feeds
``transform_range`` data-topic records built exactly as ingest writes them.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.avro import ocf as ocf_container
from tests.support.avro import zigzag
from tests.support.processing import TransformEnv, opened

from playlog.avro import ocf, single_object
from playlog.avro.schema import EventSchema
from playlog.contracts import (
    FORMAT_OCF,
    FORMAT_SINGLE_OBJECT,
    CopyTask,
    OffsetRange,
    task_id_for,
)
from playlog.errors import TransientError
from playlog.log.base import Record
from playlog.process.transform import event_id, file_key, transform_range
from playlog.settings import MAX_EVENTS_PER_RECORD, MAX_PARTITIONS
from playlog.wiring import Services

TOPIC = "playlog.events"
PARTITION = 2
GAME = "g1"
TS = {"type": "long", "logicalType": "timestamp-millis"}
LOGIN_V1 = {
    "type": "record",
    "name": "login",
    "fields": [
        {"name": "Player", "type": "string"},
        {"name": "level", "type": "int"},
        {"name": "ts", "type": TS},
    ],
}
LOGIN_V2 = {
    "type": "record",
    "name": "login",
    "fields": [*LOGIN_V1["fields"], {"name": "region", "type": "string", "default": "eu"}],
}
KILL = {
    "type": "record",
    "name": "kill",
    "fields": [
        {"name": "weapon", "type": ["null", "string"], "default": None},
        {"name": "distance", "type": "double"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
    ],
}
# 2025-11-26T10:00:00Z and a minute later
T0 = 1_764_151_200_000
T1 = T0 + 60_000
DAY = "2025-11-26"


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def soe(schema: EventSchema, datum: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema.parsed, datum)
    return single_object.frame(schema.fingerprint, out.getvalue())


def record(offset: int, value: bytes, fmt: str, received_ms: int = T0) -> Record:
    headers = {
        "game": GAME,
        "format": fmt,
        "received_at_ms": str(received_ms),
        "request_id": f"req-{offset}",
        "count": "1",
    }
    return Record(TOPIC, PARTITION, offset, GAME.encode(), value, headers, received_ms + 5)


class Env(TransformEnv):
    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.login_v1, _ = self.registry.register(GAME, "login", json.dumps(LOGIN_V1))
        self.login_v2, _ = self.registry.register(GAME, "login", json.dumps(LOGIN_V2))
        self.kill, _ = self.registry.register(GAME, "kill", json.dumps(KILL))

    def parquet_files(self) -> list[Path]:
        return sorted(Path(self.services.settings.storage_root).rglob("*.parquet"))

    def read(self, task: CopyTask) -> pa.Table:
        return pq.read_table(io.BytesIO(self.store.get(task.key)))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from opened(tmp_path, Env)


# --- event ids and keys --------------------------------------------------------


def test_event_id_is_unique_and_ordered_at_the_limits() -> None:
    offsets = [0, 1, 2, (1 << 36) - 2, (1 << 36) - 1]
    partitions = [0, 1, MAX_PARTITIONS - 2, MAX_PARTITIONS - 1]
    indexes = [0, 1, MAX_EVENTS_PER_RECORD - 2, MAX_EVENTS_PER_RECORD - 1]
    triples = list(itertools.product(offsets, partitions, indexes))  # lexicographic order
    ids = [event_id(*t) for t in triples]
    assert len(set(ids)) == len(triples)
    assert ids == sorted(ids)  # ordered like (offset, partition, index)
    assert min(ids) == 0
    assert max(ids) == (1 << 63) - 1  # every bit of a signed BIGINT, never more
    pa.array(ids, type=pa.int64())  # fits the _event_id column


def test_event_id_neighbours_never_collide() -> None:
    last_index = MAX_EVENTS_PER_RECORD - 1
    assert event_id(5, 0, last_index) + 1 == event_id(5, 1, 0)
    assert event_id(5, MAX_PARTITIONS - 1, last_index) + 1 == event_id(6, 0, 0)
    assert event_id(5, 3, 7) != event_id(3, 5, 7) != event_id(7, 3, 5)


def test_file_key_is_deterministic_and_names_the_range() -> None:
    span = OffsetRange(TOPIC, 3, 100, 199)
    key = file_key(span, "g1", "login", DAY)
    assert key == "g1/login/dt=2025-11-26/playlog.events-3-100-199.parquet"
    assert file_key(OffsetRange(TOPIC, 3, 100, 199), "g1", "login", DAY) == key
    others = {
        file_key(OffsetRange(TOPIC, 4, 100, 199), "g1", "login", DAY),
        file_key(OffsetRange(TOPIC, 3, 100, 198), "g1", "login", DAY),
        file_key(OffsetRange(TOPIC, 3, 101, 199), "g1", "login", DAY),
        file_key(span, "g1", "kill", DAY),
        file_key(span, "g2", "login", DAY),
    }
    assert key not in others and len(others) == 5


# --- a range of OCF and single-object records ------------------------------------


def mixed_records(env: Env) -> list[Record]:
    """Offset 10: OCF [login v1 x2, kill, login v2]; offset 11: single-object
    [kill, login v2]."""
    ocf_body = (
        ocf_container(
            LOGIN_V1,
            [
                {"Player": "ann", "level": 1, "ts": utc(T0)},
                {"Player": "bo", "level": 2, "ts": utc(T0 + 1)},
            ],
        )
        + ocf_container(KILL, [{"weapon": "axe", "distance": 1.5, "tags": ["a", "b"]}], "deflate")
        + ocf_container(LOGIN_V2, [{"Player": "cy", "level": 3, "ts": utc(T0 + 2), "region": "us"}])
    )
    soe_body = soe(env.kill, {"weapon": None, "distance": 2.25, "tags": []}) + soe(
        env.login_v2, {"Player": "di", "level": 4, "ts": utc(T0 + 3), "region": "ap"}
    )
    return [record(10, ocf_body, FORMAT_OCF, T0), record(11, soe_body, FORMAT_SINGLE_OBJECT, T1)]


def test_range_becomes_one_file_per_table_with_exact_columns(env: Env) -> None:
    span = OffsetRange(TOPIC, PARTITION, 10, 11)
    result = env.transform(span, mixed_records(env))

    assert result.events == 6
    assert result.dead_letters == []
    assert [t.table for t in result.tasks] == ["g1.kill", "g1.login"]
    assert [
        p.relative_to(env.services.settings.storage_root).as_posix() for p in env.parquet_files()
    ] == [
        f"g1/kill/dt={DAY}/playlog.events-2-10-11.parquet",
        f"g1/login/dt={DAY}/playlog.events-2-10-11.parquet",
    ]

    kill_task, login_task = result.tasks
    login = env.read(login_task)
    assert login.schema.remove_metadata() == pa.schema(
        [
            ("player", pa.string()),
            ("level", pa.int32()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("region", pa.string()),
            ("_event_id", pa.int64()),
            ("_received_at", pa.timestamp("us", tz="UTC")),
            ("_schema_hash", pa.string()),
        ]
    )
    v1, v2 = env.login_v1.fingerprint, env.login_v2.fingerprint
    assert login.to_pydict() == {
        "player": ["ann", "bo", "cy", "di"],
        "level": [1, 2, 3, 4],
        "ts": [utc(T0), utc(T0 + 1), utc(T0 + 2), utc(T0 + 3)],
        # v1 events resolved to the latest version: the added field takes its default
        "region": ["eu", "eu", "us", "ap"],
        "_event_id": [
            event_id(10, PARTITION, 0),
            event_id(10, PARTITION, 1),
            event_id(10, PARTITION, 3),
            event_id(11, PARTITION, 1),
        ],
        "_received_at": [utc(T0), utc(T0), utc(T0), utc(T1)],
        # ... but keep the hash they were written with
        "_schema_hash": [v1, v1, v2, v2],
    }

    kill = env.read(kill_task)
    assert kill.column_names == [
        "weapon",
        "distance",
        "tags",
        "_event_id",
        "_received_at",
        "_schema_hash",
    ]
    assert kill.schema.field("tags").type == pa.string()  # arrays are JSON text
    rows = kill.to_pylist()
    assert [json.loads(r.pop("tags")) for r in rows] == [["a", "b"], []]
    assert rows == [
        {
            "weapon": "axe",
            "distance": 1.5,
            "_event_id": event_id(10, PARTITION, 2),
            "_received_at": utc(T0),
            "_schema_hash": env.kill.fingerprint,
        },
        {
            "weapon": None,
            "distance": 2.25,
            "_event_id": event_id(11, PARTITION, 0),
            "_received_at": utc(T1),
            "_schema_hash": env.kill.fingerprint,
        },
    ]

    key = f"g1/login/dt={DAY}/playlog.events-2-10-11.parquet"
    assert login_task == CopyTask(
        task_id=task_id_for(key),
        game="g1",
        event_type="login",
        key=key,
        uri=env.store.uri(key),
        columns=("player", "level", "ts", "region", "_event_id", "_received_at", "_schema_hash"),
        rows=4,
        bytes=len(env.store.get(key)),
        received_min_ms=T0,
        received_max_ms=T1,
        source_topic=TOPIC,
        source_partition=PARTITION,
        source_first=10,
        source_last=11,
    )
    assert kill_task.rows == 2 and kill_task.columns == tuple(kill.column_names)


def test_same_range_twice_gives_identical_files_and_tasks(env: Env) -> None:
    span = OffsetRange(TOPIC, PARTITION, 10, 11)
    first = env.transform(span, mixed_records(env))
    first_bytes = {t.key: env.store.get(t.key) for t in first.tasks}
    second = env.transform(span, mixed_records(env))
    assert second.tasks == first.tasks  # same task ids, keys, sizes, columns
    assert {t.key: env.store.get(t.key) for t in second.tasks} == first_bytes
    assert len(env.parquet_files()) == 2  # replaced, never a second copy


# --- dead letters -------------------------------------------------------------------


def _corrupt_block(body: bytes) -> bytes:
    """Keep the framing valid (ingest accepts it) but spoil the block's bytes."""
    container = ocf.walk(body)[0]
    _, pos = ocf.read_long(body, container.header_end)
    size, pos = ocf.read_long(body, pos)
    return body[:pos] + b"\xff" * size + body[pos + size :]


def _miscounted_block(body: bytes, count: int) -> bytes:
    """Keep the framing valid but make the block claim ``count`` records."""
    container = ocf.walk(body)[0]
    _, pos = ocf.read_long(body, container.header_end)
    return body[: container.header_end] + zigzag(count) + body[pos:]


def _bad_values(env: Env) -> dict[str, tuple[bytes, str]]:
    kill = {"weapon": "bow", "distance": 9.0, "tags": ["x"]}
    # Flat login v1 takes the columnar (polars) path: it must never crash the range.
    login = ocf_container(LOGIN_V1, [{"Player": "bo", "level": 2, "ts": utc(T0)}])
    unregistered = {**KILL, "name": "kill2"}
    return {
        "unknown fingerprint": (
            single_object.frame("0123456789abcdef", b"\x00"),
            FORMAT_SINGLE_OBJECT,
        ),
        "unregistered OCF schema": (ocf_container(unregistered, [kill]), FORMAT_OCF),
        "not avro": (b"this is not an object container", FORMAT_OCF),
        "truncated datum": (soe(env.kill, kill)[:-3], FORMAT_SINGLE_OBJECT),
        "corrupt block": (_corrupt_block(ocf_container(KILL, [kill] * 3)), FORMAT_OCF),
        "corrupt deflate block": (
            _corrupt_block(ocf_container(KILL, [kill] * 3, "deflate")),
            FORMAT_OCF,
        ),
        "columnar: more records claimed than held": (_miscounted_block(login, 2), FORMAT_OCF),
        "columnar: far more records claimed": (_miscounted_block(login, 100_000), FORMAT_OCF),
        "columnar: corrupt block": (_corrupt_block(login), FORMAT_OCF),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown fingerprint",
        "unregistered OCF schema",
        "not avro",
        "truncated datum",
        "corrupt block",
        "corrupt deflate block",
        "columnar: more records claimed than held",
        "columnar: far more records claimed",
        "columnar: corrupt block",
    ],
)
def test_undecodable_record_is_dead_lettered_and_the_rest_still_loads(env: Env, case: str) -> None:
    value, fmt = _bad_values(env)[case]
    good = ocf_container(LOGIN_V2, [{"Player": "ann", "level": 1, "ts": utc(T0), "region": "x"}])
    bad = record(21, value, fmt)
    records = [record(20, good, FORMAT_OCF), bad, record(22, good, FORMAT_OCF)]

    result = env.transform(OffsetRange(TOPIC, PARTITION, 20, 22), records)

    assert len(result.dead_letters) == 1
    letter = result.dead_letters[0]
    assert letter.key == bad.key and letter.value == bad.value
    added = ("error", "source", "stage", "category", "failed_at_ms", "schema_hash", "event_type")
    assert {k: v for k, v in letter.headers.items() if k not in added} == bad.headers
    assert letter.headers["stage"] == "process"
    assert letter.headers["source"] == f"{TOPIC}/{PARTITION}/21"
    assert letter.headers["error"]  # the reason, for whoever reads the dead-letter topic
    if case in ("unknown fingerprint", "unregistered OCF schema"):
        assert letter.headers["error"].startswith("UnknownSchema: ")
    assert result.events == 2
    (task,) = result.tasks
    assert (task.table, task.rows, task.source_first, task.source_last) == ("g1.login", 2, 20, 22)
    assert env.read(task).column("_event_id").to_pylist() == [
        event_id(20, PARTITION, 0),
        event_id(22, PARTITION, 0),
    ]


def test_a_range_of_only_dead_letters_writes_no_file(env: Env) -> None:
    result = env.transform(
        OffsetRange(TOPIC, PARTITION, 0, 0), [record(0, b"garbage", FORMAT_SINGLE_OBJECT)]
    )
    assert (result.events, result.tasks, len(result.dead_letters)) == (0, [], 1)
    assert env.parquet_files() == []


def test_a_transient_registry_failure_is_raised_not_dead_lettered(env: Env) -> None:
    """The catalog being briefly down says nothing about the record: dead-lettering
    it would lose events that a retry would load."""

    def down(game: str, fingerprint: str) -> EventSchema:
        raise TransientError("catalog unavailable: database is locked")

    records = mixed_records(env)
    with pytest.raises(TransientError):
        transform_range(
            OffsetRange(TOPIC, PARTITION, 10, 11), records, down, env.registry.latest, env.store
        )
    assert env.parquet_files() == []


@pytest.mark.parametrize("claimed", [4, 7, 100_000])
def test_a_block_claiming_more_records_among_columnar_ones_is_dead_lettered_alone(
    env: Env, claimed: int
) -> None:
    """Re-framed with the range's other containers of its schema, an overstated block
    makes the native decoder fail (OSError, Rust panics): the range must still load."""
    good = ocf_container(LOGIN_V1, [{"Player": "ann", "level": 1, "ts": utc(T0)}] * 3)
    records = [
        record(30, good, FORMAT_OCF),
        record(31, _miscounted_block(good, claimed), FORMAT_OCF),
        record(32, good, FORMAT_OCF),
    ]

    result = env.transform(OffsetRange(TOPIC, PARTITION, 30, 32), records)

    assert [letter.headers["source"] for letter in result.dead_letters] == [
        f"{TOPIC}/{PARTITION}/31"
    ]
    (task,) = result.tasks
    assert (task.rows, result.events) == (6, 6)
