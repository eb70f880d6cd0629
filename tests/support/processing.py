"""The processor's test rig: the real embedded log, local store, catalog and DuckDB
behind one ``Env``, data-topic messages of OCF logins, and engines and logs that record
or fail on purpose."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq

from playlog.contracts import FORMAT_OCF, CopyTask, OffsetRange, RangeResult
from playlog.engine.inprocess import InProcessEngine
from playlog.errors import LogUnavailable
from playlog.log.base import Log, Message, Record
from playlog.log.embedded import partition_for
from playlog.process.processor import Processor
from playlog.process.transform import transform_range
from playlog.settings import Settings
from playlog.wiring import Services
from tests.support.avro import ocf
from tests.support.deadline import wait_until

WAIT_S = 60.0  # generous: a busy machine

GAME = "g1"
LOGIN = {
    "type": "record",
    "name": "login",
    "fields": [
        {"name": "player", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}
KILL = {"type": "record", "name": "kill", "fields": [{"name": "distance", "type": "double"}]}
T0 = 1_764_151_200_000


def container(schema: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    return ocf(schema, rows)


def logins(n: int, start: int = 0) -> bytes:
    ts = dt.datetime.fromtimestamp(T0 / 1000, dt.UTC)
    return container(LOGIN, [{"player": f"p{start + i}", "ts": ts} for i in range(n)])


def data_message(value: bytes, count: int) -> Message:
    headers = {
        "game": GAME,
        "format": FORMAT_OCF,
        "received_at_ms": str(T0),
        "request_id": "r",
        "count": str(count),
    }
    return Message(GAME.encode(), value, headers)


class TransformEnv:
    """``transform_range`` over records a test builds, on the real embedded catalog,
    registry and local store of one data directory, with the game added."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = services.store
        self.registry = services.registry
        services.catalog.add_game(GAME)

    def transform(self, span: OffsetRange, records: list[Record]) -> RangeResult:
        return transform_range(
            span,
            records,
            lambda game, fp: self.registry.lookup(game, fp, fresh=True),
            self.registry.latest,
            self.store,
        )


E = TypeVar("E", bound=TransformEnv)


def opened(tmp_path: Path, env: Callable[[Services], E]) -> Iterator[E]:
    """The body of an ``env`` fixture: ``yield from opened(tmp_path, Env)`` gives the
    test an ``Env`` on services it closes afterwards."""
    services = Services.open(Settings.read(data_dir=tmp_path))
    try:
        yield env(services)
    finally:
        services.close()


class RecordingEngine:
    """The in-process engine, remembering every range it ran and what it produced."""

    def __init__(self, inner: InProcessEngine) -> None:
        self.inner = inner
        self.calls: list[list[OffsetRange]] = []
        self.results: list[list[RangeResult]] = []

    def execute(self, ranges: Sequence[OffsetRange]) -> list[RangeResult]:
        self.calls.append(list(ranges))
        results = self.inner.execute(ranges)
        self.results.append(results)
        return results

    def close(self) -> None:
        self.inner.close()


class FlakyLog:
    """The real log, but the first ``commit`` (or append to ``topic``) raises."""

    def __init__(self, inner: Log, fail: str, copy_topic: str) -> None:
        self.inner = inner
        self.fail = fail
        self.copy_topic = copy_topic
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _maybe_fail(self, what: str) -> None:
        if self.fail == what and self.failures == 0:
            self.failures += 1
            raise LogUnavailable(f"injected: {what} failed")

    def append(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        if topic == self.copy_topic:
            self._maybe_fail("copy append")
        return self.inner.append(topic, messages)

    def commit(self, group: str, topic: str, offsets: Mapping[int, int]) -> None:
        self._maybe_fail("commit")
        self.inner.commit(group, topic, offsets)


class Env:
    def __init__(self, tmp_path: Path, **process: Any) -> None:
        settings = Settings.read(
            data_dir=tmp_path,
            log={"partitions": 2, "copy_partitions": 4},
            process={"trigger_interval_s": 0, **process},
        )
        self.settings = settings
        self.services = Services.open(settings)
        self.log = self.services.log
        self.store = self.services.store
        self.registry = self.services.registry
        self.services.catalog.add_game(GAME)
        self.registry.register(GAME, "login", json.dumps(LOGIN))
        self.registry.register(GAME, "kill", json.dumps(KILL))
        self.topic = settings.log.data_topic
        self.partition = partition_for(GAME.encode(), settings.log.partitions)
        self.group = settings.process.group

    def processor(self, log_: Any = None) -> tuple[Processor, RecordingEngine]:
        log_ = log_ or self.log
        engine = RecordingEngine(InProcessEngine(log_, self.registry, self.store))
        return Processor(self.settings, log_, self.store, engine, self.services.catalog), engine

    def span(self, first: int, last: int) -> OffsetRange:
        """A range of the game's partition, in the log's incarnation."""
        return OffsetRange(self.topic, self.partition, first, last, self.log.incarnation())

    def send(self, *values: tuple[bytes, int]) -> None:
        self.log.append(self.topic, [data_message(v, n) for v, n in values])

    def committed(self) -> dict[int, int]:
        return self.log.committed(self.group, self.topic)

    def records(self, topic: str) -> list[Record]:
        ends = self.log.end_offsets(topic)
        return [r for p, end in sorted(ends.items()) for r in self.log.read(topic, p, 0, end)]

    def copy_tasks(self) -> list[tuple[Record, CopyTask]]:
        return [
            (r, CopyTask.from_json(r.value)) for r in self.records(self.settings.log.copy_topic)
        ]

    def parquet_files(self) -> list[str]:
        root = Path(self.settings.storage_root)
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))


def loaded_event_ids(env: Env) -> list[int]:
    """What the loader's ledger would load: each distinct task once."""
    tasks = {t.task_id: t for _, t in env.copy_tasks()}
    ids: list[int] = []
    for task in tasks.values():
        table = pq.read_table(io.BytesIO(env.store.get(task.key)))
        ids.extend(table["_event_id"].to_pylist())
    return ids


def exactly_once(env: Env, events: int) -> None:
    ids = loaded_event_ids(env)
    assert len(ids) == events
    assert len(set(ids)) == events


def processor(env: Env, engine: Any = None) -> Processor:
    engine = engine or InProcessEngine(env.log, env.registry, env.store)
    return Processor(env.settings, env.log, env.store, engine, env.services.catalog)


def wait_for(condition: Any, what: str) -> None:
    wait_until(condition, WAIT_S, what)


def run_in_thread(proc: Processor, stop: threading.Event) -> tuple[threading.Thread, list[Any]]:
    errors: list[Any] = []

    def target() -> None:
        try:
            proc.run(stop)
        except BaseException as exc:  # the refused one: remembered, not lost
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors
