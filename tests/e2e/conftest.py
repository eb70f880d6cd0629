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
    setup: str, request: pytest.FixtureRequest | None, tmp: Path, *, shared_jvm: bool
) -> Iterator[Server]:
    with contextlib.ExitStack() as cleanup:
        if setup == "embedded":
            server = Server(tmp / "data")
        else:
            assert request is not None
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


@pytest.fixture(scope="session")
def embedded_shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One embedded `playlog up` per session (per xdist worker): see ``shared_server``."""
    tmp = tmp_path_factory.mktemp("shared-embedded")
    with running_server("embedded", None, tmp, shared_jvm=False) as server:
        yield server


@pytest.fixture(scope="session")
def cluster_shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One cluster `playlog up` per session (per xdist worker): see ``shared_server``.
    It has a JVM of its own, since a test may use the session's (`server`) meanwhile
    and one JVM serves one driver at a time."""
    tmp = tmp_path_factory.mktemp("shared-cluster")
    with running_server("cluster", request, tmp, shared_jvm=False) as server:
        yield server


@pytest.fixture(scope="module", params=SETUPS)
def shared_server(request: pytest.FixtureRequest) -> Server:
    """A `playlog up` that lives for the whole session (per xdist worker), one per
    setup, for tests that leave it running and look only at games of their own
    (``fresh_game()``): starting the cluster setup and its first Spark batch (Python
    workers importing playlog, connecting to the broker and S3) dominated these
    tests when each module, or each test, paid for its own. Two fixtures of session
    scope behind one of module scope: a session-scoped parametrized fixture would be
    torn down and started again each time a worker turns from one setup to the other."""
    return request.getfixturevalue(f"{request.param}_shared_server")  # type: ignore[no-any-return]
