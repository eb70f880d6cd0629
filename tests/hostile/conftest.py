"""One `playlog up` (embedded) per test module, with the hostile game registered.

Reuses the end-to-end ``Server``; a module's tests share it, so each test leaves it
as it found it: alive, ready, and loading valid events exactly."""

from __future__ import annotations

import itertools
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.hostile.bodies import GAME, OCF, SCHEMAS, valid_ocf
from tests.support.server import Server


@dataclass
class Target:
    server: Server
    key: str
    sent: int = 0  # valid events sent so far (the play table must hold exactly these)
    seqs: Iterator[int] = field(default_factory=itertools.count)

    def send(self, content_type: str, body: bytes, encoding: str = "") -> httpx.Response:
        headers = {"Content-Encoding": encoding} if encoding else {}
        return self.server.send(GAME, self.key, body, content_type, **headers)

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.server.url}/metrics", timeout=10).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        pattern = (
            rf"^{name}(?:\{{{re.escape(wanted)}\}})? ([0-9.e+]+)$"
            if wanted
            else (rf"^{name} ([0-9.e+]+)$")
        )
        found = re.search(pattern, text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def assert_healthy(self) -> None:
        """Alive, ready, and valid events sent now load exactly."""
        assert self.server.process is not None and self.server.process.poll() is None, (
            self.server.log_tail()
        )
        assert httpx.get(f"{self.server.url}/readyz", timeout=10).status_code == 200
        first, n = next(self.seqs) * 1000, 10
        response = self.send(OCF, valid_ocf(first, n))
        assert response.status_code == 202, response.text
        self.sent += n
        assert self.server.wait_for_rows(f"{GAME}.play", self.sent) == self.sent


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    server = Server(tmp_path_factory.mktemp("hostile") / "data")
    server.start()
    try:
        key = server.game(GAME)
        for event_type, schema in SCHEMAS.items():
            assert server.register(GAME, event_type, schema).status_code in (200, 201)
        yield Target(server, key)
    finally:
        if server.process is not None:
            server.stop(signal.SIGKILL)
