"""A log that lost its tail (a power cut under sync="normal", a restored copy) reuses
offsets for new records: they must get new file keys and task ids, else the loader's
ledger skips them as already loaded (issue 9, finding 2: 5 new events -> 0 rows)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.support.processing import Env, data_message, logins

from playlog.contracts import REPLAY_OF, CopyTask, task_id_for
from playlog.engine.inprocess import InProcessEngine
from playlog.log.base import Message
from playlog.process.processor import Processor
from playlog.wiring import Services


def published(env: Env, services: Services) -> dict[str, int]:
    topic = env.settings.log.copy_topic
    ends = services.log.end_offsets(topic)
    tasks = [
        CopyTask.from_json(r.value)
        for p, end in ends.items()
        for r in services.log.read(topic, p, 0, end)
    ]
    return {t.task_id: t.rows for t in tasks}


@pytest.mark.parametrize("new_records", [1, 3])
def test_events_after_a_rewound_log_all_load(tmp_path: Path, new_records: int) -> None:
    env = Env(tmp_path)
    env.send((logins(2), 2), (logins(1, 2), 1))
    first, _ = env.processor()
    assert first.run_once(force=True) == 3
    log_path = env.settings.log_path
    aside = tmp_path / "aside.db"
    with sqlite3.connect(log_path) as live, sqlite3.connect(aside) as copy:
        live.backup(copy)  # what a power cut may leave: an earlier consistent state

    env.send((logins(4, 3), 4))  # accepted, processed, loaded...
    assert first.run_once(force=True) == 4
    loaded = published(env, env.services)  # what the ledger holds now
    first._lease.release()
    env.services.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{log_path}{suffix}").unlink(missing_ok=True)
    aside.rename(log_path)  # ...then the power cut rolls the log back

    services = Services.open(env.settings)
    try:
        # New events reuse the lost offsets; they may arrive before the processor runs.
        batches = [data_message(logins(5, 100 + 5 * i), 5) for i in range(new_records)]
        services.log.append(env.topic, batches)
        engine = InProcessEngine(services.log, services.registry, services.store)
        restarted = Processor(env.settings, services.log, services.store, engine, services.catalog)
        while restarted.run_once(force=True):
            pass
        after = published(env, services)
        fresh = {task: rows for task, rows in after.items() if task not in loaded}
        assert sum(fresh.values()) == 5 * new_records  # every new event loads
    finally:
        services.close()


def test_a_dead_letter_is_named_in_its_incarnation_and_its_replay_keeps_apart(
    tmp_path: Path,
) -> None:
    # After a rewind a new record at the same offset is another failed event: the
    # incarnation is part of its source, and of its replay's file key (and task id).
    env = Env(tmp_path)
    env.send((b"not avro", 1), (logins(1), 1))
    proc, _ = env.processor()
    proc.run_once(force=True)
    incarnation = env.log.incarnation()
    [dead] = env.records(env.settings.log.dead_letter_topic)
    source = f"{env.topic}/{env.partition}/0@{incarnation}"
    assert dead.headers["source"] == source

    env.log.append(env.topic, [replay_of(logins(2, 10), source)])
    proc.run_once(force=True)
    replayed = [t for _, t in env.copy_tasks() if t.replay_of]
    assert [t.replay_of for t in replayed] == [source]
    assert replayed[0].key.endswith(f"-{env.partition}-0-0-replay-{incarnation}.parquet")
    assert replayed[0].task_id == task_id_for(replayed[0].key)


def replay_of(value: bytes, source: str) -> Message:
    message = data_message(value, 1)
    return Message(message.key, message.value, {**message.headers, REPLAY_OF: source})
