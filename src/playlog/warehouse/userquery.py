"""Limits of a user query (``POST /v1/query``): time, rows, bytes.

An analyst's query shares the warehouse (and, on DuckDB, the process) with the
loader, so it may neither run forever nor build a result the server cannot hold:
a timer cancels it through the driver, and rows are fetched in chunks while their
size is counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from playlog.errors import ResultTooLarge
from playlog.warehouse.base import QueryLimits

_CHUNK_ROWS = 1000


class Cursor(Protocol):
    def fetchmany(self, size: int = ..., /) -> list[Any]: ...


class Deadline:
    """Calls ``cancel`` once ``seconds`` have passed inside :meth:`armed`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False

    @contextmanager
    def armed(self, cancel: Callable[[], None]) -> Iterator[None]:
        def fire() -> None:
            self.expired = True
            cancel()

        timer = threading.Timer(self.seconds, fire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def take_rows(cursor: Cursor, limits: QueryLimits) -> tuple[list[Any], bool]:
    """Up to ``limits.max_rows`` rows and whether more existed; raises ResultTooLarge
    as soon as the rows fetched so far weigh more than ``limits.max_bytes``."""
    rows: list[Any] = []
    size = 0
    while len(rows) <= limits.max_rows:
        chunk = cursor.fetchmany(min(_CHUNK_ROWS, limits.max_rows + 1 - len(rows)))
        if not chunk:
            break
        size += sum(_weight(value) for row in chunk for value in row)
        if size > limits.max_bytes:
            raise ResultTooLarge(
                f"the result is larger than {limits.max_bytes} bytes (query.max_result_bytes)"
                "; select fewer or narrower columns, or fewer rows",
                limit=limits.max_bytes,
            )
        rows.extend(chunk)
    return rows[: limits.max_rows], len(rows) > limits.max_rows


def _weight(value: Any) -> int:
    """About what the value costs in the JSON answer."""
    if isinstance(value, str | bytes | bytearray | memoryview):
        return len(value) + 2
    return 8
