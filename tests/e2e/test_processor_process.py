"""`playlog up` with `process.own_process` runs its processor in a child process
(src/playlog/runtime_child.py): one command still, which takes the child along when it
dies, dies with the child, and shows the child's metrics as its own."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.avro import ocf
from tests.support.deadline import scaled, wait_until
from tests.support.events import BATCH, KILL, kill
from tests.support.server import STOP_S, Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {"PLAYLOG_PROCESS__OWN_PROCESS": "true", "PLAYLOG_MONITOR__HEARTBEAT_INTERVAL_S": "1"}
    server = Server(tmp_path / "data", env=env)
    try:
        server.start()
        yield server
    finally:
        server.kill()


def children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found = [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]
    return sorted(set(found))


def processor_of(server: Server) -> int:
    """The pid of the processor's process (its stage spawns it: maybe after /healthz)."""
    assert server.process is not None
    pid = server.process.pid
    wait_until(lambda: children(pid), scaled(30), "playlog up started no processor")
    found = children(pid)
    assert len(found) == 1, f"playlog up should have one child, the processor: {found}"
    cmdline = Path(f"/proc/{found[0]}/cmdline").read_bytes()
    assert b"playlog.runtime_child_main" in cmdline
    return found[0]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


def send_and_load(server: Server, events: int) -> None:
    key = server.game("g1")
    assert server.register("g1", "kill", KILL).status_code == 201
    for first in range(0, events, BATCH):
        body = ocf(KILL, [kill(s) for s in range(first, first + BATCH)])
        assert server.send("g1", key, body, "application/avro").status_code == 202
    assert server.wait_for_rows("g1.kill", events) == events


def test_sigkill_of_playlog_up_leaves_no_processor_behind(server: Server) -> None:
    child = processor_of(server)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: not alive(child), scaled(STOP_S), "the processor outlived playlog up")


def test_the_processor_dying_stops_playlog_up_with_exit_1(server: Server) -> None:
    send_and_load(server, 2 * BATCH)
    child = processor_of(server)
    os.kill(child, signal.SIGKILL)
    assert server.process is not None
    assert server.process.wait(timeout=scaled(STOP_S)) == 1
    server.process = None
    log = server.log_tail()
    failed = "stage process failed; stopping every stage: the processor's process"
    assert f"{failed} (pid {child}) was killed by SIGKILL" in log
    assert "stopped after stage process failed" in log
    server.start()  # and a restart resumes: nothing lost, nothing twice
    assert server.count("g1.kill") == 2 * BATCH


def test_sigterm_stops_the_processor_cleanly_too(server: Server) -> None:
    child = processor_of(server)
    wait_until(lambda: "lease of group" in server.log_tail(), scaled(60), "no processor")
    assert server.stop(signal.SIGTERM) == 0
    assert not alive(child)
    log = server.log_tail()
    assert "processor stopped" in log
    assert "stopped cleanly" in log
    assert "level=ERROR" not in log


def test_the_processors_metrics_are_on_playlog_ups_metrics(server: Server) -> None:
    send_and_load(server, 2 * BATCH)
    families = list(text_string_to_metric_families(server.admin.get("/metrics").text))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), "a family twice in one scrape"
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families
        for s in family.samples
    }
    assert values[("playlog_process_events_total", ())] >= 2 * BATCH  # and the canary's
    assert values[("playlog_process_batches_total", ())] >= 1
    assert values[("playlog_load_rows_total", (("table", "g1.kill"),))] == 2 * BATCH
    heartbeats = {dict(labels)["stage"] for name, labels in values if "heartbeat" in name}
    assert {"ingest", "process", "load"} <= heartbeats

    def process_heartbeat_shown() -> bool:  # the status page's stages, from the snapshot
        stages = server.admin.get("/v1/status").json()["stages"]
        return stages.get("process") is not None and stages["process"] < 30

    wait_until(process_heartbeat_shown, scaled(30), "no heartbeat of the processor in status")
