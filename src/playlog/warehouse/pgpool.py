"""A small pool of psycopg connections shared by threads (PostgreSQL and Redshift).

Each call borrows one connection, so the loader's workers, the registry and health
checks never share a session. A connection goes back to the pool only when it is open,
idle (no transaction left open) and the error it saw, if any, was not an outage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Generic, Protocol, TypeVar

from psycopg import pq as libpq

from playlog.errors import PlaylogError, WarehouseConflict, WarehouseUnavailable

log = logging.getLogger("playlog.warehouse")
T = TypeVar("T")


class _Info(Protocol):
    @property
    def transaction_status(self) -> libpq.TransactionStatus: ...


class PooledConnection(Protocol):
    @property
    def closed(self) -> bool: ...
    @property
    def broken(self) -> bool: ...
    @property
    def info(self) -> _Info: ...
    def close(self) -> None: ...


P = TypeVar("P", bound=PooledConnection)


class ConnectionPool(Generic[P]):
    def __init__(
        self,
        connect: Callable[[], P],
        prepare: Callable[[P], Any],
        vendor: str,
        max_idle: int = 8,
    ) -> None:
        self._connect = connect
        self._prepare = prepare  # run on each new connection (session setup, ledger)
        self._vendor = vendor
        self._max_idle = max_idle
        self._idle: list[P] = []
        self._lock = threading.Lock()
        self._closed = False

    def fresh(self) -> P:
        """A new, prepared connection that is not pooled (the caller closes it)."""
        conn = self._connect()
        try:
            self._prepare(conn)
        except BaseException:
            with suppress(Exception):
                conn.close()
            raise
        return conn

    def run(self, work: Callable[[P], T]) -> T:
        """``work`` (which raises playlog errors) on a pooled connection. A server
        restart kills every idle connection: then drop them all and run once more on
        a fresh one, which is safe because each piece of work is one transaction (and
        loads check the ledger)."""
        for attempt in (1, 2):
            conn, reused = self._acquire()
            keep = False
            try:
                result = work(conn)
                keep = True
                return result
            except WarehouseUnavailable as exc:
                keep = isinstance(exc, WarehouseConflict)
                if keep or not (reused and conn.broken and attempt == 1):
                    raise
                log.info("%s connection lost, reconnecting", self._vendor)
                with self._lock:
                    stale, self._idle = self._idle, []
                for old in stale:
                    with suppress(Exception):
                        old.close()
            except PlaylogError:
                keep = True
                raise
            finally:
                self._release(conn, keep)
        raise AssertionError("unreachable")

    def _acquire(self) -> tuple[P, bool]:
        """A connection and whether it was used before (it may have died since)."""
        with self._lock:
            if self._closed:
                raise WarehouseUnavailable(f"{self._vendor}: the warehouse was closed")
            if self._idle:
                return self._idle.pop(), True
        return self.fresh(), False

    def _release(self, conn: P, keep: bool) -> None:
        reusable = (
            keep
            and not conn.closed
            and not conn.broken
            and conn.info.transaction_status == libpq.TransactionStatus.IDLE
        )
        with self._lock:
            if reusable and not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        with suppress(Exception):
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                conn.close()
