"""The Spark engine: executors read their offset ranges and write the files in parallel.

The driver (``Processor``) plans ranges; this engine turns each range into one Spark
task. Inside the task, the Python worker reads its range straight from the log
(confluent-kafka: no Spark Kafka connector is needed), runs the same
``transform_range`` as the in-process engine and writes to the object store; only
the small results (COPY tasks, dead letters) travel back to the driver, which alone
publishes them and commits offsets. A range's file PUTs overlap (``ParallelPuts``); its
result leaves the task only once all of them are stored.

Executors do not talk to the catalog: the driver ships a snapshot of the registered
schemas, taken *after* the ranges were planned, so every schema a record in a range
can carry (ingest registers before it appends) is in the snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence

from playlog.avro.limits import Limits
from playlog.avro.schema import EventSchema
from playlog.contracts import OffsetRange, RangeResult
from playlog.engine.puts import ParallelPuts
from playlog.log.base import Log
from playlog.process.transform import transform_range
from playlog.registry.registry import Registry, SchemaIndex
from playlog.settings import Settings

log = logging.getLogger("playlog.engine.spark")


class SparkEngine:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        from pyspark.sql import SparkSession

        self._settings = settings
        self._registry = registry
        # Workers must run this interpreter (it has playlog and its dependencies).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = SparkSession.builder.appName("playlog-process")
        # Under spark-submit the JVM is up already (it set PYSPARK_GATEWAY_PORT) and
        # brings its own --master: process.spark_master must not override it.
        if settings.process.spark_master and "PYSPARK_GATEWAY_PORT" not in os.environ:
            builder = (
                builder.master(settings.process.spark_master)
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
            )
        self._spark = builder.getOrCreate()
        self._spark.sparkContext.setLogLevel("WARN")
        log.info("spark engine on %s", self._spark.sparkContext.master)

    def execute(self, ranges: Sequence[OffsetRange]) -> list[RangeResult]:
        if not ranges:
            return []
        self._registry.reload(force=True)
        schemas = self._registry.catalog.schemas()
        settings = self._settings
        rdd = self._spark.sparkContext.parallelize(list(ranges), len(ranges))
        results: list[RangeResult] = rdd.mapPartitions(
            lambda spans: _run_ranges(settings, schemas, spans)
        ).collect()
        return results

    def close(self) -> None:
        self._spark.stop()


# --- executor side ------------------------------------------------------------------

# A Python worker is reused across tasks: keep its log and store connections.
_worker_adapters: dict[str, tuple[Log, ParallelPuts]] = {}


def _adapters(settings: Settings) -> tuple[Log, ParallelPuts]:
    from playlog.log.factory import open_log
    from playlog.storage.factory import open_store

    key = settings.model_dump_json()
    if key not in _worker_adapters:
        _worker_adapters[key] = (open_log(settings), ParallelPuts(open_store(settings)))
    return _worker_adapters[key]


def _run_ranges(
    settings: Settings, schemas: Sequence[EventSchema], spans: Iterable[OffsetRange]
) -> Iterator[RangeResult]:
    log_, store = _adapters(settings)
    snapshot = SchemaIndex.build(schemas)
    limits = Limits.of(settings.server)  # the server's: what ingest accepted is processed
    for span in spans:
        records = log_.read(span.topic, span.partition, span.first, span.last + 1)
        try:
            result = transform_range(span, records, snapshot.lookup, snapshot.latest, store, limits)
        except BaseException:
            _settle(store)  # the range fails as it is; no PUT runs on into the next task
            raise
        store.wait()  # raises the first failed PUT: the range fails, the driver retries
        yield result  # every file of the range is stored: its COPY tasks may go out


def _settle(store: ParallelPuts) -> None:
    """Wait for the PUTs of a range that failed anyway: their errors matter no more."""
    with contextlib.suppress(Exception):
        store.wait()
