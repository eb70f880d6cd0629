"""A load's batch files fetched at once, before its COPYs read them one by one.

A transaction loads up to ``load.max_tasks_per_txn`` files, mostly one per table.
Against an S3 API each GET is a round trip (41 ms on moto on a busy 2-core box), so
read one after another they were most of a 64-file transaction's 5 s
(docs/profiles/cluster.md). Here every GET starts when the load knows its files; a
COPY then waits only for its own. A GET's error is raised where the file is read, as
without prefetching: the loader still tells a missing file from an unreadable one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from playlog.storage.base import ObjectStore

# GETs in flight per process (boto3 pools 10 connections per client by default).
_THREADS = 8
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="playlog-get")
        return _pool


class Prefetched:
    """``get`` of the store, for ``keys`` already under way."""

    def __init__(self, store: ObjectStore, keys: Iterable[str]) -> None:
        self._store = store
        pool = _executor()
        self._pending: dict[str, Future[bytes]] = {
            key: pool.submit(store.get, key) for key in dict.fromkeys(keys)
        }

    def get(self, key: str) -> bytes:
        future = self._pending.pop(key, None)
        return self._store.get(key) if future is None else future.result()
