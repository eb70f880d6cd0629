"""`playlog up` (or one stage) as a real subprocess, driven only through its public
interface: the one server helper of every end-to-end, integration and chaos test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from playlog.cli.demo import free_port
from tests.support import processes
from tests.support.deadline import Deadline, scaled, wait_until
from tests.support.spark import SharedSpark
from tests.support.tls import TlsFiles

ADMIN_KEY = "pl_admin_e2e_secret"

# Seconds before PLAYLOG_TEST_SLOWDOWN. `playlog up` on the cluster setup starts a
# Spark JVM: ~5 s on a quiet 2-core machine, over 60 s on a busy one.
START_S = 180
STOP_S = 90
ROWS_S = 90

# How often the processor runs a partition with new data and how long the loader
# gathers COPY tasks, for every test stage without a config file of its own (the
# cluster configuration, tests/cluster.py, says the same): the defaults (1 s, 0.5 s)
# are right for throughput, but every send-then-wait-for-rows step of a test would
# pay them in full. A test's own ``env`` still wins.
PACE_ENV = {"PLAYLOG_PROCESS__TRIGGER_INTERVAL_S": "0.1", "PLAYLOG_LOAD__MAX_WAIT_S": "0.05"}


class Stage:
    """`playlog <command>` as a child process over a data dir that outlives restarts."""

    def __init__(
        self,
        data_dir: Path,
        command: str,
        config: Path | None = None,
        env: dict[str, str] | None = None,
        spark: SharedSpark | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.command = command
        self.config = config
        self.spark = spark  # the session's Spark JVM, used instead of one of its own
        spark_env = spark.env() if spark else {}
        pace = PACE_ENV if config is None else {}  # the environment beats a config file
        self.env = {
            **os.environ,
            "PLAYLOG_ADMIN_KEY": ADMIN_KEY,
            **pace,
            **(env or {}),
            **spark_env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.sessions: list[int] = []  # of every spawn(), for kill()
        self.log_path = data_dir.parent / f"{data_dir.name}-{command}.log"

    def args(self) -> list[str]:
        config = ["--config", str(self.config)] if self.config else []
        return [
            sys.executable,
            "-m",
            "playlog",
            self.command,
            "--data-dir",
            str(self.data_dir),
            *config,
        ]

    def spawn(self) -> None:
        if self.spark is not None:
            self.spark.reset()  # the context of a process killed before this spawn
        # A session of its own, registered: kill() reaches the Spark JVM and its Python
        # workers too, and the session-end check sees anything left behind.
        with open(self.log_path, "ab") as log:
            self.process = processes.spawn(
                f"playlog {self.command}",
                self.args(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        self.sessions.append(self.process.pid)

    def log_tail(self) -> str:
        return self.log_path.read_text()[-4000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process itself (as `kill` would), wait for it to exit."""
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=scaled(STOP_S))
        self.process = None
        return code

    def kill(self) -> None:
        """Kill everything every spawn() of this stage started, children included."""
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=scaled(30))
            self.process = None
        for session in self.sessions:
            processes.release(session, grace=2)
        self.sessions.clear()


class Server(Stage):
    """`playlog up` (or `playlog ingest`): a stage with the HTTP API."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        config: Path | None = None,
        command: str = "up",
        spark: SharedSpark | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        super().__init__(data_dir, command, config, env, spark)
        self.port = free_port()
        self.tls = tls  # HTTPS with this certificate, verified against its CA
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify = tls.client_context() if tls else True
        self.admin = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=30,
            verify=self.verify,
        )

    def args(self) -> list[str]:
        tls = ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)] if self.tls else []
        return [*super().args(), "--port", str(self.port), *tls]

    def start(self) -> None:
        """Spawn and wait until healthy; if it does not get there, kill what it started
        (the JVM included) before raising."""
        self.spawn()
        process = self.process
        assert process is not None

        def healthy() -> bool:
            try:
                answer = httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify)
                return answer.status_code == 200
            except httpx.HTTPError:
                return False

        def exited() -> str | None:
            code = process.poll()
            return None if code is None else f"exited with code {code}"

        try:
            wait_until(
                healthy,
                START_S,
                f"playlog {self.command} did not start",
                abort=exited,
                details=self.log_tail,
            )
        except BaseException:
            self.kill()
            raise

    def game(self, name: str) -> str:
        response = self.admin.post("/v1/games", json={"game": name})
        assert response.status_code == 201, response.text
        return str(response.json()["api_key"])

    def register(self, game: str, event_type: str, schema: Any) -> httpx.Response:
        import json

        return self.admin.post(f"/v1/games/{game}/schemas/{event_type}", content=json.dumps(schema))

    def send(
        self, game: str, key: str, body: bytes, content_type: str, **headers: str
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}/v1/games/{game}/events",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": content_type, **headers},
            timeout=30,
            verify=self.verify,
        )

    def query(self, sql: str) -> list[list[Any]]:
        response = self.admin.post("/v1/query", json={"sql": sql})
        assert response.status_code == 200, response.text
        return list(response.json()["rows"])

    def seqs(self, table: str, page: int = 5000) -> set[int]:
        """Every `seq` of `table`, in pages (a query answers at most 10,000 rows)."""
        top = int(self.query(f"select coalesce(max(seq), -1) from {table}")[0][0])
        found: set[int] = set()
        for low in range(0, top + 1, page):
            rows = self.query(f"select seq from {table} where seq >= {low} and seq < {low + page}")
            found.update(r[0] for r in rows)
        return found

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from {table}")[0][0])

    def metric(self, name: str) -> float | None:
        """A gauge of this server's /metrics (None if it has none: another stage's)."""
        for line in self.admin.get("/metrics").text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        return None

    def drained(self) -> bool:
        """Nothing in flight: every record processed and every COPY task done (when
        this server runs those stages; true otherwise)."""
        lag = self.metric("playlog_process_lag_records")
        in_flight = self.metric("playlog_load_in_flight_tasks")
        return not lag and not in_flight

    def wait_for_rows(self, table: str, expected: int, timeout_s: float = ROWS_S) -> int:
        """Wait (``timeout_s`` scaled by PLAYLOG_TEST_SLOWDOWN) until `table` has
        `expected` rows and the pipeline has nothing in flight; returns the final count
        (which may exceed `expected`: the caller asserts exactly)."""

        def count() -> int:
            try:
                return self.count(table)
            except AssertionError:  # the table does not exist yet
                return 0

        limit = Deadline(timeout_s)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: count() >= expected, timeout_s, f"{expected} rows in {table}")
        # Anything extra (a duplicate) is loaded by the time nothing is in flight.
        with contextlib.suppress(AssertionError):
            wait_until(self.drained, max(limit.remaining(), 5.0), "pipeline drained")
        return count()
