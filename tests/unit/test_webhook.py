"""monitor.webhook_url: one JSON POST per state change, to a real local receiver; a
webhook that is down or slow changes nothing else."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from playlog.cli.demo import free_port
from playlog.monitor import metrics
from playlog.monitor.snapshot import Snapshot
from playlog.monitor.webhook import Webhook


class Receiver(ThreadingHTTPServer):
    def __init__(self, status: int = 204) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == "application/json"
                receiver.received.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class Script:
    """Snapshots handed out one per check, in order."""

    def __init__(self, *snapshots: Snapshot) -> None:
        self.snapshots = list(snapshots)

    def __call__(self) -> Snapshot:
        return self.snapshots.pop(0)


def events(received: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["event"], m["subject"]) for m in received]


def test_each_change_posts_once_and_a_steady_state_posts_nothing(receiver: Receiver) -> None:
    healthy = Snapshot(at=1.0, canary_ok=True, loader_state="consuming", freshness_s={"g.e": 5})
    broken = Snapshot(
        at=2.0,
        canary_ok=False,
        loader_state="failing",
        loader_reason="permission denied for table e",
        freshness_s={"g.e": 700},
    )
    hook = Webhook(receiver.url, freshness_slo_s=600, take=Script(healthy, broken, broken, healthy))

    assert hook.check() == []  # healthy from the start: nothing to say
    hook.check()
    hook.check()  # still broken: said already
    hook.check()

    assert events(receiver.received) == [
        ("canary_failing", "canary"),
        ("loader_failing", "loader"),
        ("freshness_over_slo", "g.e"),
        ("canary_recovered", "canary"),
        ("loader_recovered", "loader"),
        ("freshness_recovered", "g.e"),
    ]
    failing = receiver.received[1]
    assert failing["state"] == "failing" and failing["previous"] == "ok"
    assert failing["detail"] == "permission denied for table e"
    assert failing["source"] == "playlog" and failing["at"].startswith("1970-01-01T00:00:02")


def test_the_webhook_reads_the_process_metrics(receiver: Receiver) -> None:
    hook = Webhook(receiver.url, freshness_slo_s=600)
    metrics.set_canary(None)
    hook.check()
    metrics.set_canary(1.5)
    hook.check()
    # (only the canary's: other tests of this process leave loader and table state)
    assert [e for e in events(receiver.received) if e[1] == "canary"] == [
        ("canary_failing", "canary"),
        ("canary_recovered", "canary"),
    ]


@pytest.mark.parametrize("url", ["closed", "http://[::1", "error"])
def test_a_failing_webhook_is_logged_and_never_raises(
    url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 500
    target = {"closed": f"http://127.0.0.1:{free_port()}/", "error": receiver.url}.get(url, url)
    hook = Webhook(target, 600, take=Script(Snapshot(at=1.0, canary_ok=False)))
    started = time.monotonic()
    assert events(hook.check()) == [("canary_failing", "canary")]
    assert time.monotonic() - started < 5
    assert "canary_failing not delivered" in caplog.text


def test_the_webhook_stage_survives_a_bug_in_a_check(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Snapshot:
        raise RuntimeError("a bug")

    hook = Webhook("http://127.0.0.1:1/", 600, take=broken)
    stop = threading.Event()
    runner = threading.Thread(target=hook.run, args=(stop, 0.01))
    runner.start()
    time.sleep(0.1)
    stop.set()
    runner.join(5)
    assert not runner.is_alive()
    assert "webhook check failed" in caplog.text
