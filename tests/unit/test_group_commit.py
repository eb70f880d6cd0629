"""Group commit: concurrent callers share one write, each gets its own result, and a
failed write fails every caller of its group and no other."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from playlog.errors import LogUnavailable
from playlog.log.group_commit import GroupCommit


class Gate:
    """A write_all that records its groups and can be held shut."""

    def __init__(self, fail_if: Callable[[Sequence[int]], bool] = lambda _: False) -> None:
        self.groups: list[list[int]] = []
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()
        self._fail_if = fail_if

    def write_all(self, items: Sequence[int]) -> list[int]:
        self.entered.set()
        assert self.open.wait(10)
        if self._fail_if(items):
            raise LogUnavailable(f"write of {list(items)} failed")
        self.groups.append(list(items))
        return [item * 10 for item in items]


def run(commits: GroupCommit[int, int], item: int, out: dict[int, object]) -> threading.Thread:
    def call() -> None:
        try:
            out[item] = commits.submit(item)
        except LogUnavailable as exc:
            out[item] = exc

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def queued(commits: GroupCommit[int, int], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(commits._queue) < count:
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.001)


def held_then_released(
    gate: Gate, commits: GroupCommit[int, int], first: int, rest: list[int]
) -> dict[int, object]:
    """``first`` writes alone and is held in its write while ``rest`` queue behind it;
    then the gate opens. Each caller's result (or error)."""
    out: dict[int, object] = {}
    gate.open.clear()
    leader = run(commits, first, out)
    assert gate.entered.wait(10)
    others = [run(commits, item, out) for item in rest]
    queued(commits, len(rest))
    gate.open.set()
    for thread in [leader, *others]:
        thread.join(10)
    return out


def test_a_caller_alone_is_written_at_once() -> None:
    gate = Gate()
    commits = GroupCommit(gate.write_all)
    assert commits.submit(7) == 70
    assert commits.submit(8) == 80
    assert gate.groups == [[7], [8]]


def test_callers_arriving_during_a_write_share_the_next_one() -> None:
    gate = Gate()
    commits = GroupCommit(gate.write_all)
    out = held_then_released(gate, commits, 1, list(range(2, 7)))
    assert out == {item: item * 10 for item in range(1, 7)}  # each its own result
    assert gate.groups[0] == [1]
    assert sorted(gate.groups[1]) == [2, 3, 4, 5, 6]  # five callers, one write


def test_a_failed_write_fails_every_caller_of_its_group_and_no_other() -> None:
    gate = Gate(fail_if=lambda items: 3 in items)
    commits = GroupCommit(gate.write_all)
    out = held_then_released(gate, commits, 1, [2, 3, 4])
    assert out[1] == 10
    errors = [out[item] for item in (2, 3, 4)]
    assert all(isinstance(e, LogUnavailable) for e in errors)
    assert errors[0] is errors[1] is errors[2]
    assert gate.groups == [[1]]
    assert commits.submit(5) == 50  # the next group is written as usual


def test_groups_are_bounded_and_every_caller_is_answered() -> None:
    gate = Gate()
    commits = GroupCommit(gate.write_all, max_group=3)
    out = held_then_released(gate, commits, 0, list(range(1, 11)))
    assert out == {item: item * 10 for item in range(11)}
    assert all(len(group) <= 3 for group in gate.groups)
    assert sorted(i for group in gate.groups for i in group) == list(range(11))


def test_a_wrong_number_of_results_is_an_error_for_every_caller() -> None:
    commits: GroupCommit[int, int] = GroupCommit(lambda items: [])
    with pytest.raises(AssertionError, match="0 results for 1 items"):
        commits.submit(1)
