"""OffsetTracker: commit each partition only up to its lowest offset not yet done."""

from __future__ import annotations

import threading

from playlog.load.offsets import OffsetTracker


def tracker_with(partition: int, offsets: range) -> OffsetTracker:
    tracker = OffsetTracker()
    for offset in offsets:
        tracker.add(partition, offset)
    return tracker


def test_nothing_to_commit_before_anything_was_added() -> None:
    assert OffsetTracker().to_commit() == {}
    assert OffsetTracker().in_flight() == 0


def test_commits_only_up_to_the_lowest_offset_not_done() -> None:
    tracker = tracker_with(0, range(5))
    assert tracker.in_flight() == 5
    assert tracker.to_commit() == {0: 0}  # nothing done: the start position

    tracker.done(0, 0)
    tracker.done(0, 1)
    assert tracker.to_commit() == {0: 2}
    assert tracker.in_flight() == 3


def test_out_of_order_completion_waits_for_the_gap() -> None:
    tracker = tracker_with(0, range(10, 15))
    assert tracker.to_commit() == {0: 10}
    for offset in (14, 12, 13):
        tracker.done(0, offset)
        assert tracker.to_commit() == {}  # 10 is not done: nothing after it counts
    tracker.done(0, 11)
    assert tracker.to_commit() == {}
    tracker.done(0, 10)
    assert tracker.to_commit() == {0: 15}  # one past the highest: the next to read
    assert tracker.in_flight() == 0


def test_partitions_are_independent() -> None:
    tracker = OffsetTracker()
    for partition in range(3):
        for offset in range(4):
            tracker.add(partition, offset)
    tracker.to_commit()
    tracker.done(0, 0)
    tracker.done(1, 1)  # partition 1 still waits for 0
    for offset in range(4):
        tracker.done(2, offset)
    assert tracker.to_commit() == {0: 1, 2: 4}
    tracker.done(1, 0)
    assert tracker.to_commit() == {1: 2}


def test_nothing_is_recommitted_when_nothing_advanced() -> None:
    tracker = tracker_with(0, range(3))
    tracker.done(0, 0)
    assert tracker.to_commit() == {0: 1}
    assert tracker.to_commit() == {}
    tracker.done(0, 2)  # behind the gap at 1: the position does not move
    assert tracker.to_commit() == {}
    tracker.done(0, 1)
    assert tracker.to_commit() == {0: 3}
    assert tracker.to_commit() == {}


def test_new_records_after_everything_was_done_hold_the_position() -> None:
    tracker = tracker_with(0, range(2))
    tracker.done(0, 0)
    tracker.done(0, 1)
    assert tracker.to_commit() == {0: 2}
    tracker.add(0, 2)
    tracker.add(0, 3)
    assert tracker.to_commit() == {}  # still at 2: the new ones are not done
    tracker.done(0, 3)
    assert tracker.to_commit() == {}
    tracker.done(0, 2)
    assert tracker.to_commit() == {0: 4}


def test_done_for_unknown_offsets_is_harmless() -> None:
    tracker = tracker_with(0, range(2))
    tracker.done(0, 7)
    tracker.done(5, 0)  # a partition never seen
    assert tracker.in_flight() == 2
    assert tracker.to_commit() == {0: 0}


def test_forget_drops_revoked_partitions() -> None:
    tracker = OffsetTracker()
    for partition in (0, 1):
        for offset in range(3):
            tracker.add(partition, offset)
    tracker.done(0, 0)
    tracker.done(1, 0)
    assert tracker.to_commit() == {0: 1, 1: 1}

    tracker.forget({0})  # partition 1 was revoked
    assert tracker.in_flight() == 2  # only partition 0's pending ones count
    tracker.done(1, 1)  # a worker finishing a task of the revoked partition
    tracker.done(0, 1)
    assert tracker.to_commit() == {0: 2}  # never a commit for partition 1


def test_a_partition_assigned_again_starts_afresh() -> None:
    tracker = tracker_with(1, range(5, 8))
    for offset in range(5, 8):
        tracker.done(1, offset)
    assert tracker.to_commit() == {1: 8}
    tracker.forget(set())
    # Another member committed meanwhile; ours resumes from what the group committed.
    tracker.add(1, 3)
    assert tracker.to_commit() == {1: 3}  # lower than before, but it is the truth now
    tracker.done(1, 3)
    assert tracker.to_commit() == {1: 4}


def test_forget_keeps_owned_partitions_untouched() -> None:
    tracker = tracker_with(0, range(3))
    tracker.done(0, 1)
    assert tracker.to_commit() == {0: 0}
    tracker.forget({0, 1})
    assert tracker.in_flight() == 2
    assert tracker.to_commit() == {}
    tracker.done(0, 0)
    assert tracker.to_commit() == {0: 2}


def test_threads_marking_done_while_committing() -> None:
    tracker = OffsetTracker()
    for partition in range(4):
        for offset in range(500):
            tracker.add(partition, offset)
    commits: list[dict[int, int]] = []

    def finish(partition: int) -> None:
        for offset in reversed(range(500)):
            tracker.done(partition, offset)

    threads = [threading.Thread(target=finish, args=(p,)) for p in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        commits.append(tracker.to_commit())
    for thread in threads:
        thread.join()
    commits.append(tracker.to_commit())

    final: dict[int, int] = {}
    for commit in commits:
        for partition, offset in commit.items():
            assert offset > final.get(partition, -1)  # only ever forward
            final[partition] = offset
    assert final == {p: 500 for p in range(4)}
    assert tracker.in_flight() == 0
