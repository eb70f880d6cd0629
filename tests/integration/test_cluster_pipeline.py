"""The cluster configuration end to end: Kafka (Tansu) + Spark + S3 (moto) + PostgreSQL,
the same scenarios as the embedded default, through the public interface only."""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, Stage
from tests.e2e.test_crash import BATCH, Sender
from tests.e2e.test_pipeline import KILL, check_every_format
from tests.peers import Peers


def write_config(path: Path, peers: Peers, stages_apart: bool = False) -> Path:
    """examples/cluster.toml's shape, pointed at this session's peers, with topics and
    a bucket of its own (the broker and the S3 server live for the whole session)."""
    run = secrets.token_hex(4)
    path.write_text(
        f"""
[log]
kind = "kafka"
bootstrap_servers = "{peers.kafka_bootstrap}"
data_topic = "events-{run}"
copy_topic = "copy-{run}"
dead_letter_topic = "dead-{run}"
partitions = 4
copy_partitions = 4

[process]
engine = "spark"
spark_master = "local[2]"
trigger_interval_s = 0.5

[storage]
kind = "s3"
bucket = "playlog-{run}"
endpoint_url = "{peers.s3_endpoint}"
access_key_id = "testing"
secret_access_key = "testing"

[load]
max_wait_s = 0.2

[warehouse]
kind = "postgres"
dsn = "{peers.postgres_dsn}"

[monitor]
canary_interval_s = 0
"""
    )
    return path


@pytest.fixture
def cluster_up(tmp_path: Path, peers: Peers) -> Iterator[Server]:
    config = write_config(tmp_path / "cluster.toml", peers)
    server = Server(tmp_path / "data", config=config, env={"SPARK_LOCAL_IP": "127.0.0.1"})
    server.start()
    yield server
    if server.process is not None:
        server.stop(signal.SIGKILL)


def unique_game() -> str:
    return f"c{secrets.token_hex(4)}"


def test_cluster_every_format_lands_exactly_once(cluster_up: Server) -> None:
    check_every_format(cluster_up, unique_game())


def test_cluster_stage_processes_killed_midstream(tmp_path: Path, peers: Peers) -> None:
    """ingest, process and load as separate processes; the processor and the loader
    are killed with SIGKILL mid-stream and restarted: still exactly once."""
    config = write_config(tmp_path / "cluster.toml", peers)
    env = {"SPARK_LOCAL_IP": "127.0.0.1"}
    ingest = Server(tmp_path / "data", config=config, env=env, command="ingest")
    process = Stage(tmp_path / "data", "process", config, env)
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
        for victim, pause in ((process, 8.0), (load, 2.0), (process, 5.0), (load, 1.0)):
            time.sleep(pause)
            assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
            victim.spawn()
        time.sleep(2.0)
        sender.stop.set()
        sender.join()
        assert not sender.uncertain, "ingest was not killed: every answer is known"
        assert len(sender.accepted) > 10 * BATCH

        table = f"{game}.kill"
        assert ingest.wait_for_rows(table, len(sender.accepted), timeout_s=180) == len(
            sender.accepted
        ), f"process log:\n{process.log_tail()}\nload log:\n{load.log_tail()}"
        assert ingest.query(f"select seq from {table} group by seq having count(*) > 1") == []
        assert ingest.seqs(table) == sender.accepted
    finally:
        for stage in (load, process, ingest):
            if stage.process is not None:
                stage.stop(signal.SIGKILL)
