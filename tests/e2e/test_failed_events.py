"""Failed events through the real pipeline (`playlog up`, embedded): every dead letter
once in playlog.failed_events with its reason and payload; after the fix, `playlog
replay` loads it once and marks it; kill -9 between the steps doubles nothing."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from playlog.cli.failed import replay_message
from playlog.contracts import CopyTask
from playlog.log.embedded import EmbeddedLog
from playlog.settings import Settings
from tests.support.avro import ocf
from tests.support.deadline import scaled, wait_until
from tests.support.events import SCORE, score
from tests.support.server import ADMIN_KEY, Server

pytestmark = pytest.mark.e2e

ROW = "select source, stage, game, event_type, reason, payload, replayed_at"
FAILED = "from playlog.failed_events"


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Server]:
    """Embedded only: the test changes a DuckDB column by hand."""
    made = Server(tmp_path / "data")
    try:
        made.start()
        yield made
    finally:
        made.kill()


def playlog(server: Server, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLOG_")}
    config = ["--config", str(server.config)] if server.config else []
    done = subprocess.run(
        [sys.executable, "-m", "playlog", *args, "--data-dir", str(server.data_dir), *config],
        capture_output=True,
        text=True,
        env={**env, "PLAYLOG_ADMIN_KEY": ADMIN_KEY},
        timeout=scaled(60),
    )
    assert done.returncode == 0, f"playlog {args}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout


def failed_rows(server: Server, expected: int) -> list[list[Any]]:
    """The failed events once ``expected`` exist and nothing is in flight."""
    wait_until(lambda: server.count("playlog.failed_events") >= expected, 90, "failed events")
    wait_until(server.drained, 60, "pipeline drained")
    return server.query(f"{ROW} {FAILED} order by source")


def alter_points(server: Server, sql_type: str) -> None:
    """Change the column by hand while `playlog up` is stopped (DuckDB has one writer)."""
    assert server.stop(signal.SIGTERM) == 0
    path = Settings.read(data_dir=server.data_dir).duckdb_path
    with duckdb.connect(str(path)) as db:
        db.execute(f"ALTER TABLE g1.score ALTER points TYPE {sql_type}")
    server.start()


def test_a_value_the_column_refuses_fails_once_and_replays_once_after_the_fix(
    embedded: Server,
) -> None:
    server = embedded
    key = server.game("g1")
    assert server.register("g1", "score", SCORE).status_code == 201
    alter_points(server, "TINYINT")  # 1000 no longer fits
    body = ocf(SCORE, [score("ann", 1000), score("bo", 7)])
    assert server.send("g1", key, body, "application/avro").status_code == 202

    [row] = failed_rows(server, 1)
    source, stage, game, event_type, reason, payload, replayed_at = row
    task = CopyTask.from_json(base64.b64decode(payload))  # the COPY task that failed
    assert (source, stage, game, event_type, replayed_at) == (task.key, "load", "g1", "score", None)
    assert (task.table, task.rows) == ("g1.score", 2)
    assert "Conversion Error" in reason and "1000" in reason
    assert server.metric('playlog_failed_events_total{reason="warehouse_error",stage="load"}') == 1
    [group] = json.loads(playlog(server, "failed", "--game", "g1", "--json"))
    assert (group["reason"], group["events"], group["replayed"]) == (reason, 1, 0)

    # kill -9, restart: the dead-letter topic is read again from its committed offset.
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    server.start()
    assert failed_rows(server, 1) == [row]

    alter_points(server, "INTEGER")  # the fix
    assert "replayed 1 failed events (1 from load)" in playlog(server, "replay", "--game", "g1")
    assert server.wait_for_rows("g1.score", 2) == 2
    assert server.query(f"select count(replayed_at) {FAILED}") == [[1]]
    assert playlog(server, "replay").startswith("replayed 0 failed events")

    # A replay that died after appending, before it could tell: the ledger skips it.
    append_replay_again(server, row)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    server.start()
    assert server.wait_for_rows("g1.score", 2) == 2
    assert server.query("select player, points from g1.score order by player") == [
        ["ann", 1000],
        ["bo", 7],
    ]
    assert server.count("playlog.failed_events") == 1


def append_replay_again(server: Server, row: list[Any]) -> None:
    settings = Settings.read(data_dir=server.data_dir)
    source, stage, game, _, _, payload, _ = row
    topic, message = replay_message(
        [source, stage, game, "2026-12-02T00:00:00+00:00", payload],
        settings.log.data_topic,
        settings.log.copy_topic,
    )
    log = EmbeddedLog(settings.log_path)
    try:
        log.append(topic, [message])
    finally:
        log.close()


def dead_letters(server: Server) -> list[Any]:
    settings = Settings.read(data_dir=server.data_dir)
    log = EmbeddedLog(settings.log_path)
    try:
        return log.read(settings.log.dead_letter_topic, 0, 0, 1_000)
    finally:
        log.close()


def test_an_event_no_column_can_hold_stays_failed_once_however_often_replayed(
    server: Server,
) -> None:
    key = server.game("g1")
    assert server.register("g1", "score", SCORE).status_code == 201
    body = ocf(SCORE, [score("ann", 1, ts=2**62)])  # Avro allows it; no timestamp holds it
    assert server.send("g1", key, body, "application/avro").status_code == 202

    [row] = failed_rows(server, 1)
    source, stage, game, _, reason, payload, replayed_at = row
    assert (stage, game, replayed_at) == ("process", "g1", None)
    data_topic = Settings.read(server.config, data_dir=server.data_dir).log.data_topic
    # where it was: with the log's incarnation where it has one (embedded)
    assert re.fullmatch(rf"{re.escape(data_topic)}/\d+/\d+(@[0-9a-z]+)?", source)
    assert base64.b64decode(payload) == body  # the raw request body, as accepted
    assert reason
    for _ in range(2):
        assert "replayed 1 failed events (1 from process)" in playlog(server, "replay")
        wait_until(server.drained, 60, "the replay processed")
    assert server.query(f"{ROW} {FAILED}") == [row]  # failed again: still one, unmarked
    if server.config is None:  # embedded: the dead-letter topic is a file we can read
        assert len(dead_letters(server)) == 3  # the original and two replays: one row
    assert server.query("select count(*) from g1.score") == [[0]]
