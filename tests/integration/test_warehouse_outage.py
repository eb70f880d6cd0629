"""The warehouse down for a while (the cluster setup, PostgreSQL behind a proxy we
cut): ingestion keeps accepting, the loader pauses and says so, then catches up with
nothing lost and nothing doubled."""

from __future__ import annotations

import signal
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.cluster import SPARK_ENV, fresh_database, write_config
from tests.peers import Peers
from tests.proxy import TcpProxy
from tests.support.deadline import wait_until
from tests.support.events import KILL, Sender
from tests.support.server import Server
from tests.support.spark import SharedSpark


def loader_state(server: Server) -> str:
    for line in server.admin.get("/metrics").text.splitlines():
        if line.startswith("playlog_loader_state{") and line.endswith(" 1.0"):
            return line.split('"')[1]
    return "unknown"


def loaded(server: Server) -> int:
    try:
        return server.count("g1.kill")
    except AssertionError:  # no table yet
        return 0


def test_warehouse_outage_pauses_the_loader_and_loses_nothing(
    tmp_path: Path, peers: Peers, spark_driver: SharedSpark
) -> None:
    with fresh_database(peers.postgres_dsn) as dsn:
        params = conninfo_to_dict(dsn)
        proxy = TcpProxy(str(params.get("host", "127.0.0.1")), int(str(params.get("port", 5432))))
        proxied = make_conninfo("", **{**params, "host": "127.0.0.1", "port": str(proxy.port)})
        config = write_config(tmp_path / "cluster.toml", peers, proxied)
        server = Server(tmp_path / "data", config=config, env=SPARK_ENV, spark=spark_driver)
        server.start()
        try:
            key = server.game("g1")
            assert server.register("g1", "kill", KILL).status_code == 201
            sender = Sender(server, key)
            sender.start()
            sender.wait_accepted(8)  # traffic flowing (was: 3 s of it) before the cut
            proxy.cut()
            wait_until(lambda: loader_state(server) == "failing", 60, "loader failing")
            # Still ready: a load balancer must keep sending events to this node.
            ready = server.admin.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["warehouse"] != "ok"
            # Still down: events keep being accepted.
            sender.wait_accepted(3, seconds=60)
            assert loader_state(server) == "failing"
            proxy.restore()
            wait_until(lambda: loader_state(server) == "consuming", 120, "loader consuming")
            sender.wait_accepted(4)
            sender.stop.set()
            sender.join()
            assert sender.refused == 0 and not sender.uncertain

            rows = server.wait_for_rows("g1.kill", len(sender.accepted), timeout_s=120)
            assert rows == len(sender.accepted)
            assert server.query("select seq from g1.kill group by seq having count(*) > 1") == []
            assert server.seqs("g1.kill") == sender.accepted
            assert loader_state(server) == "consuming"
        finally:
            if server.process is not None:
                server.stop(signal.SIGKILL)
            server.kill()  # its Python workers too
            spark_driver.reset()  # the context the killed server left in the JVM
            proxy.close()
