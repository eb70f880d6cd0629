"""The records stages hand each other (``playlog.contracts``)."""

from __future__ import annotations

from playlog.contracts import CopyTask, OffsetRange, task_id_for


def test_a_task_of_a_file_takes_its_id_from_the_key_and_its_source_from_the_range() -> None:
    key = "g1/login/dt=2026-12-01/playlog.events-3-7-16-0a1b.parquet"
    task = CopyTask.of_file(
        key, "file:///objects/" + key, "g1", "login",
        OffsetRange("playlog.events", 3, 7, 16, "0a1b"),
        columns=["score", "_event_id"], rows=10, size=512,
        received_us=(1_764_547_200_123_999, 1_764_547_201_000_001),
        replay_of="playlog.events/3/41",
    )  # fmt: skip
    assert task == CopyTask(
        task_id=task_id_for(key),
        game="g1",
        event_type="login",
        key=key,
        uri="file:///objects/" + key,
        columns=("score", "_event_id"),
        rows=10,
        bytes=512,
        received_min_ms=1_764_547_200_123,  # Parquet's microseconds, floored
        received_max_ms=1_764_547_201_000,
        source_topic="playlog.events",
        source_partition=3,
        source_first=7,
        source_last=16,
        replay_of="playlog.events/3/41",
    )
    assert CopyTask.from_json(task.to_json()) == task
