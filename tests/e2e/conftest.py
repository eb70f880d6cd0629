"""`playlog up` as a real subprocess, driven only through its public interface."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import SPARK_ENV, fresh_database, write_config
from tests.support.server import Server

SETUPS = ["embedded", pytest.param("cluster", marks=pytest.mark.integration)]


@contextlib.contextmanager
def running_server(
    setup: str, request: pytest.FixtureRequest, tmp: Path, *, shared_jvm: bool
) -> Iterator[Server]:
    with contextlib.ExitStack() as cleanup:
        if setup == "embedded":
            server = Server(tmp / "data")
        else:
            peers = request.getfixturevalue("peers")
            dsn = cleanup.enter_context(fresh_database(peers.postgres_dsn))
            config = write_config(tmp / "cluster.toml", peers, dsn)
            spark = request.getfixturevalue("spark_driver") if shared_jvm else None
            server = Server(tmp / "data", config=config, env=SPARK_ENV, spark=spark)
            if spark is not None:
                cleanup.callback(spark.reset)  # a killed driver's context, after kill()
        cleanup.callback(server.kill)  # every path: the JVM and workers too
        server.start()
        yield server


@pytest.fixture(params=SETUPS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """`playlog up` on the embedded default, and on the cluster configuration (Kafka,
    Spark, S3, PostgreSQL): every end-to-end test runs on both. A fresh one per test,
    for tests that stop, kill or restart it."""
    with running_server(request.param, request, tmp_path, shared_jvm=True) as server:
        yield server


@pytest.fixture(scope="module", params=SETUPS)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One `playlog up` per module and setup, for tests that leave it running and look
    only at games of their own (``fresh_game()``): starting the cluster setup and its
    first Spark batch dominated these tests. It has a JVM of its own, since a test of
    the module may use the session's (`server`) meanwhile and one JVM serves one
    driver at a time."""
    tmp = tmp_path_factory.mktemp(f"shared-{request.param}")
    with running_server(request.param, request, tmp, shared_jvm=False) as server:
        yield server
