"""The Spark engine's executor-side store: a range's file PUTs overlap, and a range's
result leaves the task only once every one of its files is stored."""

from __future__ import annotations

import threading
import time

import pytest
from tests.support.fakes import MemoryStore

from playlog.contracts import OffsetRange, RangeResult
from playlog.engine import spark
from playlog.engine.puts import ParallelPuts
from playlog.errors import StoreUnavailable
from playlog.settings import Settings


class SlowStore(MemoryStore):
    """An object store whose PUT takes a round trip; counts PUTs in flight."""

    def __init__(self, delay_s: float = 0.05, failing: str = "") -> None:
        super().__init__()
        self.delay_s = delay_s
        self.failing = failing
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            if key == self.failing:
                raise StoreUnavailable(f"s3: put {key}: connection reset")
            with self._lock:
                self.objects[key] = data
        finally:
            with self._lock:
                self.in_flight -= 1


def test_puts_overlap_and_all_are_stored_when_wait_returns() -> None:
    store = SlowStore()
    puts = ParallelPuts(store, threads=8)
    started = time.monotonic()
    for i in range(16):
        puts.put(f"t{i}.parquet", bytes([i]))
    puts.wait()
    elapsed = time.monotonic() - started
    assert store.objects == {f"t{i}.parquet": bytes([i]) for i in range(16)}
    assert store.most_in_flight > 1
    assert elapsed < 16 * store.delay_s / 2  # not one round trip after another
    assert puts.uri("a/b.parquet") == "s3://bkt/a/b.parquet"


def test_a_failed_put_fails_the_wait_with_its_error() -> None:
    store = SlowStore(failing="t3.parquet")
    puts = ParallelPuts(store, threads=4)
    for i in range(8):
        puts.put(f"t{i}.parquet", b"x")
    with pytest.raises(StoreUnavailable, match=r"t3\.parquet"):
        puts.wait()
    # The others were still waited for: nothing is left running behind the error.
    assert store.in_flight == 0
    # The next range starts clean: the error is not raised again.
    puts.put("u.parquet", b"y")
    puts.wait()
    assert store.objects["u.parquet"] == b"y"


def test_reads_go_straight_to_the_store() -> None:
    store = SlowStore(delay_s=0)
    puts = ParallelPuts(store)
    puts.put("k", b"v")
    puts.wait()
    assert puts.get("k") == b"v" and puts.exists("k") and list(puts.list_keys()) == ["k"]
    puts.delete("k")
    assert not store.exists("k")


def _fake_transform(span: OffsetRange, records: object, *rest: object) -> RangeResult:
    store = rest[2]
    assert isinstance(store, ParallelPuts)
    for table in range(4):
        store.put(f"{span.partition}-{span.first}-t{table}.parquet", b"rows")
    return RangeResult([], [], 1)


class NoLog:
    def read(self, *args: object) -> list[object]:
        return []


@pytest.mark.parametrize("failing", ["", "0-0-t2.parquet"])
def test_a_range_result_leaves_the_task_only_with_every_file_stored(
    monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store = SlowStore(delay_s=0.02, failing=failing)
    monkeypatch.setattr(spark, "_adapters", lambda settings: (NoLog(), ParallelPuts(store)))
    monkeypatch.setattr(spark, "transform_range", _fake_transform)
    spans = [OffsetRange("events", p, 0, 9) for p in (0, 1)]
    results = spark._run_ranges(Settings(), [], iter(spans))
    if failing:  # the first range fails: no result, nothing published for it
        with pytest.raises(StoreUnavailable):
            next(results)
    else:
        assert len(list(results)) == 2
        assert len(store.objects) == 8
    assert store.in_flight == 0
