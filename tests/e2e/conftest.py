"""`playlog up` as a real subprocess, driven only through its public interface."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import SPARK_ENV, fresh_database, write_config
from tests.support.server import Server
from tests.support.spark import SharedSpark


@pytest.fixture(scope="module")
def spark_driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedSpark]:
    """One Spark driver JVM for the module's cluster `playlog up`s (tests/support/spark.py)."""
    log = tmp_path_factory.mktemp("spark") / "driver.log"
    spark = SharedSpark(SPARK_ENV, log)
    try:
        yield spark
    finally:
        spark.close()


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """`playlog up` on the embedded default, and on the cluster configuration (Kafka,
    Spark, S3, PostgreSQL): every end-to-end test runs on both."""
    with contextlib.ExitStack() as cleanup:
        if request.param == "embedded":
            server = Server(tmp_path / "data")
        else:
            peers = request.getfixturevalue("peers")
            dsn = cleanup.enter_context(fresh_database(peers.postgres_dsn))
            config = write_config(tmp_path / "cluster.toml", peers, dsn)
            spark = request.getfixturevalue("spark_driver")
            server = Server(tmp_path / "data", config=config, env=SPARK_ENV, spark=spark)
            cleanup.callback(spark.reset)
        cleanup.callback(server.kill)  # every path: the JVM and workers too
        server.start()
        yield server
