"""`playlog up` as a real subprocess, driven only through its public interface."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playlog.cli.demo import free_port
from tests.cluster import SPARK_ENV, fresh_database, write_config

ADMIN_KEY = "pl_admin_e2e_secret"


class Stage:
    """`playlog <command>` as a child process over a data dir that outlives restarts."""

    def __init__(
        self,
        data_dir: Path,
        command: str,
        config: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.command = command
        self.config = config
        self.env = {**os.environ, "PLAYLOG_ADMIN_KEY": ADMIN_KEY, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
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
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args(), stdout=log, stderr=subprocess.STDOUT, env=self.env
            )

    def log_tail(self) -> str:
        return self.log_path.read_text()[-4000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=90)
        self.process = None
        return code


class Server(Stage):
    """`playlog up` (or `playlog ingest`): a stage with the HTTP API."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        config: Path | None = None,
        command: str = "up",
    ) -> None:
        super().__init__(data_dir, command, config, env)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )

    def args(self) -> list[str]:
        return [*super().args(), "--port", str(self.port)]

    def start(self) -> None:
        self.spawn()
        assert self.process is not None
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"playlog up did not start:\n{self.log_tail()}")
            time.sleep(0.05)

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

    def wait_for_rows(self, table: str, expected: int, timeout_s: float = 60) -> int:
        """Wait until `table` has `expected` rows; returns the final count (which may
        exceed `expected`: the caller asserts exactly)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                found = self.count(table)
            except AssertionError:
                found = 0
            if found >= expected or time.monotonic() > deadline:
                time.sleep(0.5)  # anything extra (a duplicate) would show up now
                return self.count(table)
            time.sleep(0.1)


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
            server = Server(tmp_path / "data", config=config, env=SPARK_ENV)
        server.start()
        try:
            yield server
        finally:
            if server.process is not None:
                server.stop(signal.SIGKILL)
