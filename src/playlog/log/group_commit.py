"""Group commit: the items of concurrent callers written in one transaction, so that
one flush to disk (an fsync of SQLite's WAL) serves them all.

    appends = GroupCommit(write_all)   # write_all(items) -> one result per item, in order
    result = appends.submit(item)      # blocking: returns once write_all committed it

No thread of its own: the first caller that finds no commit running leads. It takes
every item queued so far (its own among them), calls ``write_all`` once, and hands
each caller its result; callers that arrived meanwhile wait, and one of them leads
the next group. A caller alone commits at once (no added latency); under load, a
group holds what arrived while the previous one was being flushed.

``write_all`` is all or nothing: when it raises, every caller of that group gets the
exception, and ``write_all`` must have left nothing of the group behind (a rolled
back transaction). A caller's ``submit`` never returns before its own group did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_GROUP = 64  # items per transaction: bounds the memory and lock time of one group


class _Pending(Generic[Item, Result]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        write_all: Callable[[Sequence[Item]], Sequence[Result]],
        max_group: int = MAX_GROUP,
    ) -> None:
        self._write_all = write_all
        self._max_group = max_group
        self._changed = threading.Condition()
        self._queue: list[_Pending[Item, Result]] = []
        self._leading = False  # a caller is committing a group now

    def submit(self, item: Item) -> Result:
        """``item`` committed with whatever else is waiting; its result (or the group's
        error, raised)."""
        pending: _Pending[Item, Result] = _Pending(item)
        with self._changed:
            self._queue.append(pending)
        while True:
            with self._changed:
                while self._leading and not pending.done:
                    self._changed.wait()
                if pending.done:
                    break
                # Nobody leads and ours waits: lead (more than one group if the queue
                # is longer than ``max_group`` ahead of ours).
                self._leading = True
                group = self._queue[: self._max_group]
                del self._queue[: self._max_group]
            self._commit(group)
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]  # set when done without error

    def _commit(self, group: list[_Pending[Item, Result]]) -> None:
        results: Sequence[Result] = ()
        error: BaseException | None = None
        try:
            results = self._write_all([p.item for p in group])
            if len(results) != len(group):
                raise AssertionError(f"{len(results)} results for {len(group)} items")
        except BaseException as exc:  # every caller of the group gets it, the leader too
            error = exc
        with self._changed:
            for index, member in enumerate(group):
                if error is None:
                    member.result = results[index]
                member.error = error
                member.done = True
            self._leading = False
            self._changed.notify_all()
