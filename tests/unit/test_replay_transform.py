"""A record ``playlog replay`` sends again is transformed as if at its original position:
the events the original would have had, in a file (and task id) of its own that every
replay of it shares, so the ledger loads a failed event replayed twice once."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.support.avro import fp, ocf
from tests.support.processing import TransformEnv, opened

from playlog.contracts import FORMAT_OCF, REPLAY_OF, OffsetRange, RangeResult
from playlog.errors import CorruptRecord
from playlog.log.base import Record, dead_letter, failure_category
from playlog.process.replay import about, original_position
from playlog.process.transform import event_id

SCORE = {"type": "record", "name": "score", "fields": [{"name": "points", "type": "int"}]}
T0 = 1_764_151_200_000
ORIGINAL = "playlog.events/1/41"


def record(offset: int, value: bytes, **headers: str) -> Record:
    base = {"game": "g1", "format": FORMAT_OCF, "received_at_ms": str(T0), **headers}
    return Record("playlog.events", 0, offset, b"g1", value, base, T0)


class Env(TransformEnv):
    def register(self) -> None:
        self.registry.register("g1", "score", json.dumps(SCORE))

    def run(self, first: int, last: int, records: list[Record]) -> RangeResult:
        return self.transform(OffsetRange("playlog.events", 0, first, last), records)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from opened(tmp_path, Env)


BODY = ocf(SCORE, [{"points": 1}, {"points": 2}])


def test_a_record_with_a_schema_missing_at_process_time_is_dead_lettered_with_what_it_is(
    env: Env,
) -> None:
    result = env.run(5, 5, [record(5, BODY)])
    (letter,) = result.dead_letters
    assert result.tasks == [] and letter.value == BODY
    assert letter.headers["error"].startswith("UnknownSchema: ")
    assert (letter.headers["stage"], letter.headers["category"]) == ("process", "unknown_schema")
    assert (letter.headers["source"], letter.headers["schema_hash"]) == (
        "playlog.events/0/5",
        fp(SCORE),
    )
    assert letter.headers["event_type"] == ""  # the registry does not know it (yet)


def test_after_the_fix_a_replay_loads_at_the_original_position_in_a_file_of_its_own(
    env: Env,
) -> None:
    env.register()
    fresh = record(9, BODY)
    replayed = record(70, BODY, **{REPLAY_OF: ORIGINAL})
    result = env.run(9, 70, [fresh, replayed])
    assert result.events == 4 and result.dead_letters == []
    ordinary, replay = sorted(result.tasks, key=lambda t: t.replay_of)
    assert ordinary.key.endswith("/playlog.events-0-9-70.parquet") and ordinary.replay_of == ""
    assert replay.key.endswith("/playlog.events-1-41-41-replay.parquet")
    assert (replay.replay_of, replay.rows, replay.source_partition) == (ORIGINAL, 2, 1)
    table = pq.read_table(io.BytesIO(env.services.store.get(replay.key)))
    assert table.column("_event_id").to_pylist() == [event_id(41, 1, 0), event_id(41, 1, 1)]
    # A second replay of the same failed event: the same file and task id.
    again = env.run(80, 80, [record(80, BODY, **{REPLAY_OF: ORIGINAL})])
    assert again.tasks == [replay]


def test_a_replay_that_fails_again_is_the_same_failed_event(env: Env) -> None:
    result = env.run(70, 70, [record(70, BODY, **{REPLAY_OF: ORIGINAL})])
    (letter,) = result.dead_letters
    assert letter.headers["source"] == ORIGINAL and result.tasks == []


def test_a_replay_naming_no_position_is_dead_lettered_not_crashed(env: Env) -> None:
    result = env.run(70, 70, [record(70, BODY, **{REPLAY_OF: "nonsense"})])
    (letter,) = result.dead_letters
    assert letter.headers["category"] == "corrupt_record"
    with pytest.raises(CorruptRecord):
        original_position("a/b/c")
    with pytest.raises(CorruptRecord):
        original_position("a/1/2x@0a1b")


def test_a_replay_of_a_source_in_an_incarnation_has_keys_of_that_incarnation(
    env: Env,
) -> None:
    env.register()
    result = env.run(70, 70, [record(70, BODY, **{REPLAY_OF: f"{ORIGINAL}@0a1b2c3d"})])
    (task,) = result.tasks
    assert task.key.endswith("/playlog.events-1-41-41-replay-0a1b2c3d.parquet")
    assert task.replay_of == f"{ORIGINAL}@0a1b2c3d"
    older = env.run(71, 71, [record(71, BODY, **{REPLAY_OF: ORIGINAL})])
    assert older.tasks[0].key.endswith("/playlog.events-1-41-41-replay.parquet")


def test_about_never_raises_and_tells_what_it_can() -> None:
    assert about(record(1, b"not avro")) == {}
    assert about(record(1, BODY)) == {"schema_hash": fp(SCORE), "event_type": ""}


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (CorruptRecord("x"), "corrupt_record"),
        (EOFError(), "undecodable"),
        (IndexError(), "undecodable"),
        (OverflowError(), "unconvertible"),
        (ValueError(), "unconvertible"),
        (RuntimeError(), "other"),
    ],
)
def test_failure_categories_are_bounded(exc: Exception, category: str) -> None:
    assert failure_category(exc) == category
    assert dead_letter(record(1, b""), exc, "load").headers["category"] == category
