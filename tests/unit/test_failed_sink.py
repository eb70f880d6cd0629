"""The dead-letter topic into ``playlog.failed_events``: once per source, whatever the
redeliveries, the duplicates a stage appends, or an outage in between."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from tests.support.deadline import wait_until
from tests.support.fakes import FakeWarehouse

from playlog.errors import WarehouseError
from playlog.load.failed import FailedEventSink, failed_event
from playlog.log.base import Record, dead_letter
from playlog.log.embedded import EmbeddedLog
from playlog.settings import Settings


def record(offset: int) -> Record:
    headers = {"game": "g1", "format": "ocf", "received_at_ms": "1"}
    return Record("playlog.events", 0, offset, b"g1", f"body {offset}".encode(), headers, 1)


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings.read(data_dir=tmp_path)
        self.log = EmbeddedLog(tmp_path / "log.db")
        self.topic = self.settings.log.dead_letter_topic
        self.log.ensure_topic(self.topic, 1)
        self.warehouse = FakeWarehouse()

    def dead(self, offset: int, exc: Exception, stage: str = "process") -> None:
        self.log.append(self.topic, [dead_letter(record(offset), exc, stage)])

    def run_until(self, recorded: int) -> None:
        """Run a sink until ``recorded`` rows exist and its offsets are at the end."""
        stop = threading.Event()
        sink = FailedEventSink(self.settings, self.log, self.warehouse)
        thread = threading.Thread(target=sink.run, args=(stop,))
        thread.start()
        try:
            group = f"{self.settings.load.group}-failed"
            end = self.log.end_offsets(self.topic)
            wait_until(lambda: self.log.committed(group, self.topic) == end, 20, "committed")
            assert len(self.warehouse.failed) == recorded
        finally:
            stop.set()
            thread.join()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.log.close()


def counted(stage: str, reason: str) -> float:
    labels = {"stage": stage, "reason": reason}
    return REGISTRY.get_sample_value("playlog_failed_events_total", labels) or 0.0


def test_every_dead_letter_lands_once_with_reason_and_payload(rig: Rig) -> None:
    before = counted("process", "unconvertible")
    rig.dead(7, ValueError("timestamp out of range"))
    rig.dead(7, ValueError("the same record, appended again after a crash"))
    rig.dead(8, WarehouseError("Conversion Error"), stage="load")
    rig.run_until(recorded=2)
    row = rig.warehouse.failed["playlog.events/0/7"]
    assert (row.stage, row.game, row.payload) == ("process", "g1", b"body 7")
    assert row.reason == "ValueError: timestamp out of range"  # the first one kept
    assert rig.warehouse.failed["playlog.events/0/8"].stage == "load"
    assert counted("process", "unconvertible") - before == 1


def test_a_restart_that_redelivers_records_doubles_nothing(rig: Rig) -> None:
    rig.dead(1, ValueError("bad"))
    rig.run_until(recorded=1)
    group = f"{rig.settings.load.group}-failed"
    rig.log.commit(group, rig.topic, {0: 0})  # as if it crashed before committing
    rig.dead(2, ValueError("worse"))
    rig.run_until(recorded=2)


def test_an_outage_delays_recording_and_loses_nothing(rig: Rig) -> None:
    rig.dead(1, ValueError("bad"))
    rig.warehouse.down_for(1.0)
    rig.run_until(recorded=1)


def test_a_payload_the_warehouse_refuses_is_left_out_and_said_so(rig: Rig) -> None:
    rig.warehouse.max_payload = 6  # "body 1" fits, "body 12" does not
    rig.dead(1, ValueError("bad"))
    rig.dead(12, ValueError("bad too"))
    rig.run_until(recorded=2)
    assert rig.warehouse.failed["playlog.events/0/1"].payload == b"body 1"
    refused = rig.warehouse.failed["playlog.events/0/12"]
    assert refused.payload == b""
    assert refused.reason == (
        "ValueError: bad too (payload of 7 bytes not stored: value too long for type varbyte(6))"
    )


def test_a_row_the_warehouse_refuses_even_stripped_is_recorded_minimal_and_unblocks(
    rig: Rig,
) -> None:
    # Redshift's text columns are VARCHAR(512): a record with many schema hashes did
    # not fit, payload or not, and the sink retried it forever, blocking the rest.
    rig.warehouse.max_text = 64
    hashes = ",".join(f"{n:016x}" for n in range(40))
    letter = dead_letter(record(5), ValueError("bad"), "process", schema_hash=hashes)
    rig.log.append(rig.topic, [letter])
    rig.dead(6, ValueError("next"))
    rig.run_until(recorded=2)
    row = rig.warehouse.failed["playlog.events/0/5"]
    assert (row.stage, row.game, row.schema_hash, row.payload) == ("process", "", "", b"")
    assert row.reason == "unrecordable: ValueError: bad (text longer than 64 characters)"
    assert rig.warehouse.failed["playlog.events/0/6"].payload == b"body 6"


def test_a_dead_letter_without_headers_still_becomes_a_row() -> None:
    bare = Record("playlog.dead", 0, 3, b"", b"raw", {}, 1_000)
    event = failed_event(bare)
    assert (event.source, event.stage, event.failed_at_ms, event.payload) == (
        "playlog.dead/0/3",
        "unknown",
        1_000,
        b"raw",
    )
