"""The chaos rig: `playlog up` (embedded or cluster) plus the handles a fault needs —
the process, and on the cluster setup PostgreSQL and S3 behind proxies the test cuts."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.cluster import SPARK_ENV, fresh_database, write_config
from tests.e2e.conftest import Server
from tests.proxy import TcpProxy

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
    setup: str  # "embedded" or "cluster"
    server: ChaosServer
    warehouse: TcpProxy | None = None
    store: TcpProxy | None = None


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


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    env = {"PLAYLOG_PROCESS__LEASE_TTL_S": str(LEASE_TTL_S)}
    with contextlib.ExitStack() as cleanup:
        if request.param == "embedded":
            rig = Rig("embedded", ChaosServer(tmp_path / "data", env=env))
        else:
            peers = request.getfixturevalue("peers")
            dsn, warehouse = proxied_dsn(
                cleanup.enter_context(fresh_database(peers.postgres_dsn)), cleanup
            )
            s3, store = proxied_url(peers.s3_endpoint, cleanup)
            config = write_config(
                tmp_path / "cluster.toml", dataclasses.replace(peers, s3_endpoint=s3), dsn
            )
            server = ChaosServer(tmp_path / "data", config=config, env={**SPARK_ENV, **env})
            rig = Rig("cluster", server, warehouse, store)
        rig.server.start()
        try:
            yield rig
        finally:
            process = rig.server.process
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)  # a failure may leave it stopped
                rig.server.stop(signal.SIGKILL)
