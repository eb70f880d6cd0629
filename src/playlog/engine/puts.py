"""An object store whose PUTs overlap: the Spark engine's executor side.

A range writes one file per table: with 70 event types, 70 PUTs. Against an S3 API
each is a round trip (moto on a loaded 2-core box: 15-60 ms), so one after another
they were most of a Spark task's time (docs/profiles/cluster.md). Here ``put`` hands
the PUT to a small thread pool and ``wait`` returns once every PUT is stored, raising
the first error: the engine calls it before a range's result leaves the task, so the
driver still publishes COPY tasks only for files that are durable. Keys are the
range's as before: a replay rewrites the same objects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from playlog.storage.base import ObjectStore

# S3 clients (boto3) are thread-safe and pool 10 connections by default.
DEFAULT_THREADS = 8


class ParallelPuts:
    def __init__(self, store: ObjectStore, threads: int = DEFAULT_THREADS) -> None:
        self._store = store
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()  # the transform writes a range's files in threads

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            if self._pool is None:  # started on first use: a pickled engine carries none
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="playlog-put")
            self._pending.append(self._pool.submit(self._store.put, key, data))

    def wait(self) -> None:
        """Until every PUT so far is done; raises the first one's error (after all
        of them finished: nothing keeps running behind a failed range)."""
        pending, self._pending = self._pending, []
        errors = [exc for f in pending if (exc := f.exception()) is not None]
        if errors:
            raise errors[0]

    def get(self, key: str) -> bytes:
        return self._store.get(key)

    def exists(self, key: str) -> bool:
        return self._store.exists(key)

    def delete(self, key: str) -> None:
        self._store.delete(key)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return self._store.list_keys(prefix)

    def uri(self, key: str) -> str:
        return self._store.uri(key)
