"""A dead letter's id is its source position: a replay does not double it for a reader
that keeps one record per ``source`` (issue 9, finding 10)."""

from __future__ import annotations

from playlog.errors import CorruptRecord
from playlog.log.base import Record, dead_letter


def record(offset: int, partition: int = 0, topic: str = "playlog.events") -> Record:
    return Record(topic, partition, offset, b"g1", b"value", {"game": "g1"}, 0)


def test_a_replayed_dead_letter_has_the_same_id_whatever_the_error() -> None:
    first = dead_letter(record(7), CorruptRecord("bad block"), "process")
    replayed = dead_letter(record(7), ValueError("decoded differently this time"), "process")
    assert first.headers["source"] == replayed.headers["source"] == "playlog.events/0/7"
    assert (first.key, first.value) == (replayed.key, replayed.value) == (b"g1", b"value")


def test_every_source_position_has_its_own_id() -> None:
    ids = {
        dead_letter(record(o, p, t), ValueError(), "load").headers["source"]
        for t in ("playlog.events", "playlog.copy")
        for p in range(3)
        for o in range(100)
    }
    assert len(ids) == 600
