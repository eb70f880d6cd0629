"""The cluster configuration with each stage in its own process: Kafka (Tansu) + Spark
+ S3 (moto) + PostgreSQL. (The tests of tests/e2e run on this configuration too, with
every stage in one `playlog up`.)"""

from __future__ import annotations

import secrets
import signal
from pathlib import Path

from tests.cluster import SPARK_ENV, fresh_database, write_config
from tests.peers import Peers
from tests.support.deadline import wait_until
from tests.support.events import BATCH, KILL, Sender
from tests.support.server import Server, Stage
from tests.support.spark import SharedSpark


def unique_game() -> str:
    return f"c{secrets.token_hex(4)}"


def test_cluster_stage_processes_killed_midstream(
    tmp_path: Path, peers: Peers, spark_driver: SharedSpark
) -> None:
    """ingest, process and load as separate processes; the processor and the loader
    are killed with SIGKILL mid-stream and restarted: still exactly once."""
    with fresh_database(peers.postgres_dsn) as dsn:
        config = write_config(tmp_path / "c.toml", peers, dsn)
        run_stages_killed_midstream(tmp_path, config, spark_driver)


def run_stages_killed_midstream(tmp_path: Path, config: Path, spark: SharedSpark) -> None:
    env = SPARK_ENV
    ingest = Server(tmp_path / "data", config=config, env=env, command="ingest")
    # The processor uses the session's Spark JVM: a restart then costs a SparkContext,
    # not a JVM (the kill still ends the process mid-batch; spawn() stops its context).
    process = Stage(tmp_path / "data", "process", config, env, spark)
    load = Stage(tmp_path / "data", "load", config, env)
    ingest.start()
    process.spawn()
    load.spawn()
    try:
        game = unique_game()
        key = ingest.game(game)
        assert ingest.register(game, "kill", KILL).status_code == 201
        sender = Sender(ingest, key, game)
        sender.start()
        table = f"{game}.kill"

        def loaded() -> int:
            try:
                return ingest.count(table)
            except AssertionError:  # no table yet
                return 0

        # Kill each stage once it has shown progress since the last kill (rows grew),
        # so every kill hits a working pipeline however slowly Spark starts.
        for victim in (process, load, process, load):
            before = loaded()
            wait_until(
                lambda before=before: loaded() > before,  # type: ignore[misc]
                180,
                "rows loaded since the last kill",
                details=lambda: f"process log:\n{process.log_tail()}\nload log:\n{load.log_tail()}",
            )
            assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
            victim.spawn()
        sender.wait_accepted(8)
        sender.stop.set()
        sender.join()
        assert not sender.uncertain, "ingest was not killed: every answer is known"
        assert len(sender.accepted) > 10 * BATCH

        assert ingest.wait_for_rows(table, len(sender.accepted), timeout_s=180) == len(
            sender.accepted
        ), f"process log:\n{process.log_tail()}\nload log:\n{load.log_tail()}"
        assert ingest.query(f"select seq from {table} group by seq having count(*) > 1") == []
        assert ingest.seqs(table) == sender.accepted
    finally:
        for stage in (load, process, ingest):
            if stage.process is not None:
                stage.stop(signal.SIGKILL)
