"""kill -9 at any moment, restart: every accepted event is in the warehouse once."""

from __future__ import annotations

import signal

import pytest

from tests.support.avro import ocf
from tests.support.events import BATCH, KILL, Sender, kill
from tests.support.server import Server

pytestmark = pytest.mark.e2e


def test_sigkill_loses_and_doubles_nothing(server: Server) -> None:
    key = server.game("g1")
    assert server.register("g1", "kill", KILL).status_code == 201
    sender = Sender(server, key)
    sender.start()
    # Kill after a varying amount of accepted traffic (not time: a busy machine would
    # otherwise send too little to mean anything).
    for batches in (6, 3, 4, 2):
        sender.wait_accepted(batches)
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        server.start()
    sender.wait_accepted(4)
    sender.stop.set()
    sender.join()
    assert len(sender.accepted) > 10 * BATCH, "the test sent too little to mean anything"

    server.wait_for_rows("g1.kill", len(sender.accepted), timeout_s=120)
    duplicates = server.query("select seq from g1.kill group by seq having count(*) > 1")
    assert duplicates == []
    loaded = server.seqs("g1.kill")
    assert sender.accepted <= loaded, f"lost {len(sender.accepted - loaded)} accepted events"
    assert loaded - sender.accepted <= sender.uncertain
    ids = server.query("select count(*) = count(distinct _event_id) from g1.kill")
    assert ids == [[True]]


def test_sigterm_stops_cleanly_and_resumes(server: Server) -> None:
    key = server.game("g1")
    assert server.register("g1", "kill", KILL).status_code == 201
    for first in range(0, 2000, BATCH):
        body = ocf(KILL, [kill(s) for s in range(first, first + BATCH)])
        assert server.send("g1", key, body, "application/avro").status_code == 202
    assert server.stop(signal.SIGTERM) == 0
    assert "stopped cleanly" in server.log_tail()
    server.start()
    assert server.wait_for_rows("g1.kill", 2000) == 2000
