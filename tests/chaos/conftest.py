"""The chaos rig: `playlog up` (embedded or cluster) plus the handles a fault needs —
the process, and on the cluster setup PostgreSQL and S3 behind proxies the test cuts."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.cluster import SPARK_ENV, fresh_database, write_config
from tests.proxy import TcpProxy
from tests.support.server import Server, Stage

# Starting the cluster setup (Spark) on 2 busy cores took over a minute once.
START_S = 240.0 * float(os.environ.get("PLAYLOG_TEST_SLOWDOWN", "1"))
# Short enough that a SIGSTOP of a few seconds outlives the processor's lease.
LEASE_TTL_S = 3.0


class ChaosServer(Server):
    """`Server` with a start deadline for a machine shared with other test runs."""

    def start(self) -> None:
        self.spawn()
        assert self.process is not None
        deadline = time.monotonic() + START_S
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"playlog up did not start:\n{self.log_tail()}")
            time.sleep(0.1)


@dataclass
class Rig:
    setup: str  # "embedded", "cluster" (`playlog up`) or "stages" (one process per stage)
    server: ChaosServer  # `playlog up`, or `playlog ingest` on "stages"
    others: list[Stage] = field(default_factory=list)  # `playlog process`, `playlog load`
    warehouse: TcpProxy | None = None
    store: TcpProxy | None = None

    @property
    def stages(self) -> list[Stage]:
        return [self.server, *self.others]

    def stage(self, command: str) -> Stage:
        return next((s for s in self.others if s.command == command), self.server)


def proxied_dsn(dsn: str, cleanup: contextlib.ExitStack) -> tuple[str, TcpProxy]:
    params = conninfo_to_dict(dsn)
    proxy = TcpProxy(str(params.get("host", "127.0.0.1")), int(str(params.get("port", 5432))))
    cleanup.callback(proxy.close)
    return make_conninfo(dsn, host="127.0.0.1", port=str(proxy.port)), proxy


def proxied_url(url: str, cleanup: contextlib.ExitStack) -> tuple[str, TcpProxy]:
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 80)
    cleanup.callback(proxy.close)
    return f"{parts.scheme}://127.0.0.1:{proxy.port}", proxy


def cluster_rig(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cleanup: contextlib.ExitStack,
    env: dict[str, str],
) -> Rig:
    peers = request.getfixturevalue("peers")
    database = cleanup.enter_context(fresh_database(peers.postgres_dsn))
    dsn, warehouse = proxied_dsn(database, cleanup)
    s3, store = proxied_url(peers.s3_endpoint, cleanup)
    proxied_peers = dataclasses.replace(peers, s3_endpoint=s3)
    config = write_config(tmp_path / "cluster.toml", proxied_peers, dsn)
    env = {**SPARK_ENV, **env}
    if request.param == "cluster":
        # The session's Spark JVM: a restart costs a SparkContext, not a JVM start
        # (stopped by spawn(), so a killed driver's jobs end before the next starts).
        spark = request.getfixturevalue("spark_driver")
        server = ChaosServer(tmp_path / "data", env, config, spark=spark)
        return Rig("cluster", server, [], warehouse, store)
    # Stages share nothing but the log, the store and the catalog: a data dir each.
    server = ChaosServer(tmp_path / "ingest", env, config, command="ingest")
    others = [Stage(tmp_path / name, name, config, env) for name in ("process", "load")]
    return Rig("stages", server, others, warehouse, store)


def kill_all(rig: Rig) -> None:
    for stage in rig.stages:
        if stage.process is not None:
            with contextlib.suppress(ProcessLookupError):
                stage.process.send_signal(signal.SIGCONT)  # a failure may leave it stopped
            stage.stop(signal.SIGKILL)


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("cluster", marks=pytest.mark.integration),
        # Separate ingest/process/load processes: the long form only (`make chaos`),
        # to keep `make test` within its time; the kill tests of test_cluster_pipeline
        # cover the stages alone there.
        pytest.param(
            "stages",
            marks=[
                pytest.mark.integration,
                pytest.mark.skipif(
                    "PLAYLOG_CHAOS_ROUNDS" not in os.environ, reason="long form: make chaos"
                ),
            ],
        ),
    ]
)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    env = {"PLAYLOG_PROCESS__LEASE_TTL_S": str(LEASE_TTL_S)}
    with contextlib.ExitStack() as cleanup:
        if request.param == "embedded":
            rig = Rig("embedded", ChaosServer(tmp_path / "data", env=env))
        else:
            rig = cluster_rig(request, tmp_path, cleanup, env)
        try:
            for stage in rig.others:
                stage.spawn()
            rig.server.start()
            yield rig
        finally:
            kill_all(rig)
