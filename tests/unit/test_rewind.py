"""A log that lost its tail (a power cut under sync="normal", a restored copy) reuses
offsets for new records: they must get new file keys and task ids, else the loader's
ledger skips them as already loaded (issue 9, finding 2: 5 new events -> 0 rows)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.support.processing import Env, data_message, logins

from playlog.contracts import CopyTask
from playlog.engine.inprocess import InProcessEngine
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
